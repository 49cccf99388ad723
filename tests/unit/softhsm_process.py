"""The one SoftHSM this test process may load (SoftHSM reads its config once per process).

Tests that need several "HSMs" use separate tokens in it; tests that need separate
HSMs run them in node processes.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from keymgr.ops.softhsm import SOFTHSM_MODULE, SoftHsm
from keymgr.seal.pkcs11 import PinSource, Pkcs11Seal
from tests.unmistakable_secrets import unmistakable

PIN = unmistakable("hsm-pin")  # scanned for in errors and repr
_HSM: SoftHsm | None = None


def process_softhsm() -> SoftHsm:
    """Created on first use under a temp dir that is removed when the process exits."""
    global _HSM
    if _HSM is None:
        root = Path(tempfile.mkdtemp(prefix="keymgr-softhsm-"))
        atexit.register(shutil.rmtree, root, True)
        _HSM = SoftHsm(root).create()
    return _HSM


def new_token() -> str:
    """A fresh token (random label) in this process's SoftHSM, with user PIN `PIN`."""
    label = f"u-{os.urandom(4).hex()}"
    process_softhsm().init_token(label, PIN)
    return label


def write_pin_file(directory: Path, pin: str = PIN) -> Path:
    """A 0600 PIN file, as the pkcs11 seal config requires."""
    path = directory / f"pin-{os.urandom(2).hex()}"
    path.write_text(pin + "\n")
    path.chmod(0o600)
    return path


def token_seal(token: str, pin: Path, **kwargs: object) -> Pkcs11Seal:
    """A pkcs11 seal on `token` of this process's SoftHSM (key label "kek")."""
    return Pkcs11Seal(
        module=SOFTHSM_MODULE,
        token_label=token,
        key_label="kek",
        pin=PinSource(file=pin),
        module_env=process_softhsm().env,
        **kwargs,
    )  # type: ignore[arg-type]
