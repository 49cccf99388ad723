"""The one SoftHSM this test process may load (SoftHSM reads its config once per process).

Tests that need several "HSMs" use separate tokens in it; tests that need separate
HSMs run them in node processes.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from keymgr.ops.softhsm import SoftHsm

PIN = "1234"
_HSM: SoftHsm | None = None


def process_softhsm() -> SoftHsm:
    """Created on first use under a temp dir that is removed when the process exits."""
    global _HSM
    if _HSM is None:
        root = Path(tempfile.mkdtemp(prefix="keymgr-softhsm-"))
        atexit.register(shutil.rmtree, root, True)
        _HSM = SoftHsm(root).create()
    return _HSM
