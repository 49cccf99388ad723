"""The runnable Python example of docs/guide-sdk.md runs against the shared cluster
(batch calls with a per-item error, the data-key cache), as a user would run it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from keymgr.ops.devcluster import LocalCluster

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide-sdk.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_sdk_guide_example_runs(cluster: LocalCluster) -> None:
    blocks = _BLOCK.findall(GUIDE.read_text())  # `python skip-ci` blocks do not match
    assert len(blocks) == 1 and "batch_encrypt" in blocks[0] and "DataKeyCache" in blocks[0]
    creds = cluster.credentials
    env = {
        **os.environ,
        "KEYMGR_ADDR": ",".join(n.api for n in cluster.spec.nodes),
        "KEYMGR_CACERT": str(creds.ca),
        "KEYMGR_CLIENT_CERT": str(creds.cert),
        "KEYMGR_CLIENT_KEY": str(creds.key),
    }
    ran = subprocess.run(
        [sys.executable, "-c", blocks[0]], env=env, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr
