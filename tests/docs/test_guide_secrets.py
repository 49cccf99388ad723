"""docs/guide-secrets.md runs as written: its shell blocks against a dev cluster (with
the `secret` mount `keymgr dev up` enables) and a real `keymgr gateway`, the real `bao`
binary as the client; then its hvac example, with the variables the blocks exported."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.docs.harness import REPO, Harness, iter_keymgr_commands
from tests.docs.test_docs_commands import command_path

GUIDE = REPO / "docs" / "guide-secrets.md"
_PYTHON = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_guide_secrets_runs_as_written(harness: Harness) -> None:
    harness.run_doc(GUIDE)
    ran = {command_path(words) for _, words in iter_keymgr_commands(list(harness.ran))}
    for needed in [
        ("secrets", "token", "create"),
        ("secrets", "token", "revoke"),
        ("policy", "put"),
        ("roles", "set"),
    ]:
        assert needed in ran, f"no block runs `keymgr {' '.join(needed)}`"
    bao_lines = "\n".join(block.body for block in harness.ran)
    for command in (
        "kv put",
        "kv get",
        "kv patch",
        "kv delete",
        "kv undelete",
        "kv destroy",
        "kv metadata get",
        "kv list",
    ):
        assert f"bao {command}" in bao_lines, command
    blocks = _PYTHON.findall(GUIDE.read_text())
    assert len(blocks) == 1 and "hvac.Client" in blocks[0]
    ran_python = subprocess.run(
        [sys.executable, "-c", blocks[0]],
        cwd=harness.work,
        env=harness.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran_python.returncode == 0, ran_python.stderr
    assert "check-and-set parameter did not match" in ran_python.stdout
    assert "apps/db/main: permission denied" in ran_python.stdout
