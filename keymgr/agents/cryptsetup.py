"""A thin wrapper over the `cryptsetup` binary that passes keys only on pipes.

Keys go to cryptsetup on stdin (`--key-file=-`) and, when a second key is needed
(luksAddKey), on an extra pipe named `/dev/fd/N` (`--new-keyfile`): never in argv, the
environment or a file. Errors are one line (cryptsetup's last stderr line), never a key.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FAST_KDF = ("--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000")
WRONG_KEY = 2  # cryptsetup's exit code for "no key available with this passphrase"
TIMEOUT_S = 120.0


class CryptsetupError(Exception):
    """cryptsetup failed; the message is one line and never holds key material."""

    def __init__(self, action: str, code: int, stderr: bytes) -> None:
        lines = [ln.strip() for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
        detail = lines[-1] if lines else "no message"
        super().__init__(f"cryptsetup {action} failed (exit {code}): {detail}")
        self.code = code


@dataclass(frozen=True)
class Cryptsetup:
    binary: str = "cryptsetup"
    fast_kdf: bool = False  # pbkdf2 with 1000 iterations: tests only

    def _kdf(self) -> tuple[str, ...]:
        return FAST_KDF if self.fast_kdf else ()

    def _run(
        self,
        action: str,
        args: Sequence[str],
        *,
        key: bytes | None = None,
        new_key: bytes | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]:
        argv = [self.binary, *args]
        pass_fds: tuple[int, ...] = ()
        read_fd = -1
        if new_key is not None:
            read_fd, write_fd = os.pipe()
            try:
                os.write(write_fd, new_key)  # 32 bytes: far below the pipe buffer
            finally:
                os.close(write_fd)
            pass_fds = (read_fd,)
            argv.insert(2, f"--new-keyfile=/dev/fd/{read_fd}")
        try:
            result = subprocess.run(
                argv,
                input=key if key is not None else b"",
                capture_output=True,
                pass_fds=pass_fds,
                timeout=TIMEOUT_S,
                check=False,
            )
        finally:
            if read_fd >= 0:
                os.close(read_fd)
        if check and result.returncode != 0:
            raise CryptsetupError(action, result.returncode, result.stderr)
        return result

    def format(self, device: Path, key: bytes, *, extra: Sequence[str] = ()) -> None:
        self._run(
            "luksFormat",
            [
                "luksFormat",
                "--type",
                "luks2",
                "--batch-mode",
                *self._kdf(),
                *extra,
                "--key-file=-",
                str(device),
            ],
            key=key,
        )

    def is_luks(self, device: Path) -> bool:
        return self._run("isLuks", ["isLuks", str(device)], check=False).returncode == 0

    def metadata(self, device: Path) -> dict[str, Any]:
        result = self._run("luksDump", ["luksDump", "--dump-json-metadata", str(device)])
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    def import_token(
        self, device: Path, token: dict[str, Any], *, token_id: int | None = None
    ) -> None:
        args = ["token", "import", "--json-file=-"]
        if token_id is not None:
            args += ["--token-id", str(token_id), "--token-replace"]
        self._run("token import", [*args, str(device)], key=json.dumps(token).encode())

    def remove_token(self, device: Path, token_id: int) -> None:
        self._run("token remove", ["token", "remove", "--token-id", str(token_id), str(device)])

    def test_key(self, device: Path, key: bytes) -> bool:
        """True if `key` opens a keyslot (no device-mapper needed)."""
        result = self._run(
            "open --test-passphrase",
            ["open", "--test-passphrase", "--key-file=-", str(device)],
            key=key,
            check=False,
        )
        if result.returncode not in (0, WRONG_KEY):
            raise CryptsetupError("open --test-passphrase", result.returncode, result.stderr)
        return result.returncode == 0

    def open(self, device: Path, name: str, key: bytes) -> None:
        self._run("open", ["open", "--type", "luks2", "--key-file=-", str(device), name], key=key)

    def add_key(self, device: Path, key: bytes, new_key: bytes) -> None:
        self._run(
            "luksAddKey",
            ["luksAddKey", "--batch-mode", *self._kdf(), "--key-file=-", str(device)],
            key=key,
            new_key=new_key,
        )

    def kill_slot(self, device: Path, slot: int, remaining_key: bytes) -> None:
        self._run(
            "luksKillSlot",
            ["luksKillSlot", "--batch-mode", "--key-file=-", str(device), str(slot)],
            key=remaining_key,
        )
