"""SoftHSM2 tokens for dev clusters and tests: one config + token dir per "HSM".

SoftHSM reads `SOFTHSM2_CONF` when the module is initialized, so each simulated HSM is
a directory with its own config; a node points at it through `seal.module_env`. Tokens
are made with `softhsm2-util` (Debian `softhsm2`), the way an operator would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SOFTHSM_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
SO_PIN = "12345678"
TOOL_TIMEOUT_S = 30.0


def softhsm_available() -> str:
    """ "" if SoftHSM2 and its tools are installed, else what is missing."""
    if not SOFTHSM_MODULE.exists():
        return f"{SOFTHSM_MODULE} not found (apt-get install softhsm2)"
    if shutil.which("softhsm2-util") is None:
        return "softhsm2-util not found (apt-get install softhsm2)"
    return ""


@dataclass(frozen=True)
class SoftHsm:
    """One simulated HSM: `<root>/softhsm2.conf` and `<root>/tokens/`."""

    root: Path

    @property
    def conf(self) -> Path:
        return self.root / "softhsm2.conf"

    @property
    def token_root(self) -> Path:
        return self.root / "tokens"

    @property
    def env(self) -> dict[str, str]:
        """The environment that makes the module use this HSM."""
        return {"SOFTHSM2_CONF": str(self.conf)}

    def create(self) -> SoftHsm:
        self.token_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.conf.write_text(
            f"directories.tokendir = {self.token_root}\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = false\n"
        )
        return self

    def _tool(self, *args: str) -> str:
        result = subprocess.run(
            ["softhsm2-util", *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_S,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"softhsm2-util {args[0]} failed: {result.stderr.strip()}")
        return result.stdout

    def init_token(self, label: str, pin: str) -> None:
        self._tool("--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", pin)

    def token_dir(self, label: str) -> Path:
        """The directory that holds the token's objects (found by its label)."""
        for candidate in self.token_root.iterdir():
            token_file = candidate / "token.object"
            if token_file.is_file() and label.encode() in token_file.read_bytes():
                return candidate
        raise FileNotFoundError(f"no token {label!r} under {self.token_root}")

    def pkcs11_tool(self, *args: str, pin: str, token: str) -> subprocess.CompletedProcess[str]:
        """Runs OpenSC's `pkcs11-tool` against a token of this HSM (an independent check)."""
        return subprocess.run(
            [
                "pkcs11-tool",
                "--module",
                str(SOFTHSM_MODULE),
                "--token-label",
                token,
                "--login",
                "--pin",
                pin,
                *args,
            ],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_S,
            check=False,
        )
