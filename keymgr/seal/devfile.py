"""The `file` seal: a 32-byte key in a local file. FOR DEVELOPMENT ONLY.

!!! DO NOT USE IN PRODUCTION !!!
The key that protects the root key sits on the same disk as the wrapped root key, so
anyone who can read the node's files can unwrap the root key and every key in the
cluster. It exists so that dev clusters restart without operators; production nodes
use Shamir shares or an HSM (pkcs11).

The key file is created with mode 0600 and random bytes if it is absent. A file that
group or others may access, or that is not exactly 32 bytes, is refused. The root key
is wrapped with `barrier.wrap_key` (a per-message key derived from the file's key;
blobs of the v1 format, GCM directly under the file's key, still unwrap).
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from keymgr.crypto.aead import KEY_SIZE, Aead, BytesLike, check_key, wipe
from keymgr.crypto.barrier import unwrap_key, wrap_key
from keymgr.crypto.errors import DecryptionFailed
from keymgr.durable_files import fsync_dir

__all__ = ["FILE_SEAL_AAD", "SEAL_TYPE", "FileSeal"]

SEAL_TYPE = "file"
FILE_SEAL_AAD = b"keymgr/seal/file"


def _create_key_file(path: Path) -> None:
    """Creates the key file exclusively (another process may win the race: fine)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return
    key = bytearray(secrets.token_bytes(KEY_SIZE))
    try:
        if os.write(fd, key) != KEY_SIZE:
            raise OSError(f"short write to {path}")
        os.fsync(fd)
    except BaseException:
        path.unlink(missing_ok=True)  # never leave a torn key file behind
        raise
    finally:
        os.close(fd)
        wipe(key)
    fsync_dir(path.parent, ignore_errors=True)


def _read_key_file(path: Path) -> bytearray:
    """Reads the key after checking it is a private regular file of the right length."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise ValueError(f"file seal key {path}: cannot open ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"file seal key {path}: not a regular file")
        if info.st_mode & 0o077:
            raise ValueError(
                f"file seal key {path}: group or others have access "
                f"(mode {stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}`"
            )
        if info.st_size != KEY_SIZE:
            raise ValueError(
                f"file seal key {path}: must hold exactly {KEY_SIZE} bytes, has {info.st_size}"
            )
        key = bytearray(KEY_SIZE)
        read = os.readv(fd, [key])
        if read != KEY_SIZE:
            wipe(key)
            raise ValueError(f"file seal key {path}: short read")
        return key
    finally:
        os.close(fd)


class FileSeal:
    """Wraps the root key with AES-256-GCM under a key derived from a key file.
    DEVELOPMENT ONLY."""

    seal_type = SEAL_TYPE
    auto_unseal = True

    def __init__(self, key_file: Path) -> None:
        self.key_file = Path(key_file)
        _create_key_file(self.key_file)
        key = _read_key_file(self.key_file)
        try:
            # AESGCM keeps its own copy inside OpenSSL; ours is wiped right away.
            self._aead = Aead(key)
        finally:
            wipe(key)

    def __repr__(self) -> str:
        return f"FileSeal({str(self.key_file)!r})"

    def wrap_root_key(self, root_key: BytesLike) -> bytes:
        check_key(root_key, "root key")
        return wrap_key(self._aead, root_key, FILE_SEAL_AAD)

    def unwrap_root_key(self, blob: BytesLike) -> bytes:
        root = self.unwrap_root_key_secret(blob)
        try:
            return bytes(root)
        finally:
            wipe(root)

    def unwrap_root_key_secret(self, blob: BytesLike) -> bytearray:
        """`unwrap_root_key` into a bytearray the caller wipes after use."""
        root = unwrap_key(self._aead, blob, FILE_SEAL_AAD)
        if len(root) != KEY_SIZE:
            wipe(root)
            raise DecryptionFailed("sealed root key has the wrong length")
        return root
