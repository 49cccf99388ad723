"""The seal interface and the file that holds this node's sealed root key.

The wrapped root key lives in the node's data dir, never in the replicated state: each
node may use a different seal (another HSM, another file key), so their blobs differ.
The file records the seal type in plaintext on purpose, so a node can say which seal
it needs before it can unwrap anything.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import NamedTuple, Protocol, runtime_checkable

from keymgr.durable_files import fsync_dir, replace_file

__all__ = ["FILE_NAME", "Seal", "SealedRootKeyStore", "StoredRoot"]

FILE_NAME = "sealed-root-key.json"
_FORMAT = 1


@runtime_checkable
class Seal(Protocol):
    """Wraps and unwraps the root key. Small on purpose, so an HSM fits behind it."""

    @property
    def seal_type(self) -> str:
        """The kind ("shamir", "file", "pkcs11"), stored next to the blob it made."""
        ...

    @property
    def auto_unseal(self) -> bool:
        """True if the node can unseal itself on restart, without operators."""
        ...

    def wrap_root_key(self, root_key: bytes) -> bytes:
        """An opaque blob from which only this seal recovers `root_key`."""
        ...

    def unwrap_root_key(self, blob: bytes) -> bytes:
        """Inverse of `wrap_root_key`; raises DecryptionFailed for any bad blob."""
        ...


def write_private_file(path: Path, data: bytes) -> None:
    """Atomically replaces `path` with `data` (0600): a crash leaves old or new, never torn."""
    replace_file(path, data, mode=0o600, ignore_dir_fsync_errors=True)


class StoredRoot(NamedTuple):
    seal_type: str
    wrapped: bytes
    generation: int  # the root key's rotation count, so a node knows which one it holds


class SealedRootKeyStore:
    """This node's root key as wrapped by its seal: `data_dir/sealed-root-key.json`."""

    def __init__(self, data_dir: Path) -> None:
        self._dir = Path(data_dir)
        self.path = self._dir / FILE_NAME

    def __repr__(self) -> str:
        return f"SealedRootKeyStore({str(self.path)!r})"

    def load(self) -> StoredRoot | None:
        """The stored blob, or None if nothing is stored; ValueError if corrupt."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            doc = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ValueError(f"{self.path}: not valid JSON") from None
        if not isinstance(doc, dict):
            raise ValueError(f"{self.path}: expected a JSON object")
        if doc.get("format") != _FORMAT:
            raise ValueError(f"{self.path}: unsupported format {doc.get('format')!r}")
        seal_type = doc.get("seal_type")
        if not isinstance(seal_type, str) or not seal_type:
            raise ValueError(f"{self.path}: field 'seal_type' must be a non-empty string")
        wrapped_text = doc.get("wrapped")
        if not isinstance(wrapped_text, str):
            raise ValueError(f"{self.path}: field 'wrapped' must be a base64 string")
        try:
            wrapped = base64.b64decode(wrapped_text, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{self.path}: field 'wrapped' is not valid base64") from None
        if not wrapped:
            raise ValueError(f"{self.path}: field 'wrapped' is empty")
        generation = doc.get("root_generation", 0)
        if isinstance(generation, bool) or not isinstance(generation, int) or generation < 0:
            raise ValueError(f"{self.path}: field 'root_generation' must be an int >= 0")
        return StoredRoot(seal_type, wrapped, generation)

    def save(self, seal_type: str, wrapped: bytes, *, generation: int = 0) -> None:
        """Durably replaces the stored blob (the caller wraps; never pass a plain key)."""
        if not isinstance(seal_type, str) or not seal_type:
            raise ValueError("seal_type must be a non-empty string")
        if not wrapped:
            raise ValueError("wrapped root key is empty")
        doc = {
            "seal_type": seal_type,
            "format": _FORMAT,
            "wrapped": base64.b64encode(wrapped).decode("ascii"),
            "root_generation": generation,
        }
        self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private_file(self.path, (json.dumps(doc, sort_keys=True) + "\n").encode())

    def clear(self) -> None:
        """Forgets the stored blob (e.g. before migrating to another seal)."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return
        fsync_dir(self._dir, ignore_errors=True)
