"""checkov over deploy/terraform, offline (--skip-download), must pass; every skip
names its check and says why next to it.

checkov lives in its own venv (.venv-checkov, made by scripts/install-checkov, which
scripts/test runs): it pins packages that would fight keymgr's. The test never skips:
without checkov it fails and says how to install it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from tests.deploy.conftest import REPO
from tests.deploy.terraform import TERRAFORM_DIR

CHECKOV = Path(os.environ.get("KEYMGR_CHECKOV", REPO / ".venv-checkov" / "bin" / "checkov"))
SKIP = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(.*)")


def run_checkov(directory: Path) -> dict[str, Any]:
    assert CHECKOV.is_file(), (
        f"checkov not found at {CHECKOV}: run scripts/install-checkov (scripts/test does)"
    )
    proc = subprocess.run(
        [
            str(CHECKOV),
            "--directory",
            str(directory),
            "--framework",
            "terraform",
            "--skip-download",
            "--output",
            "json",
            "--quiet",
            "--compact",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.stdout.strip(), f"checkov printed nothing: {proc.stderr[-2000:]}"
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [c for r in reports for c in r.get("results", {}).get("failed_checks", [])]
    summary = {
        k: sum(r.get("summary", {}).get(k, 0) for r in reports)
        for k in ("passed", "failed", "skipped", "parsing_errors")
    }
    return {"rc": proc.returncode, "failed": failed, "summary": summary}


def test_checkov_passes() -> None:
    result = run_checkov(TERRAFORM_DIR)
    failures = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in result["failed"]
    ]
    assert result["rc"] == 0 and not failures, "\n".join(failures)
    assert result["summary"]["parsing_errors"] == 0
    assert result["summary"]["passed"] > 100  # it really looked at the modules


def test_every_skip_is_justified() -> None:
    skips = 0
    for path in sorted(TERRAFORM_DIR.rglob("*.tf")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = SKIP.search(line)
            if match:
                skips += 1
                reason = match.group(2).lstrip(":").strip()
                assert len(reason) >= 20, f"{path}:{number}: checkov skip without a reason"
    assert skips > 0


def test_checkov_catches_an_unencrypted_volume(tmp_path: Path) -> None:
    """The run above is not vacuous: the same call fails on a weakened module."""
    module = tmp_path / "keymgr-aws"
    module.mkdir()
    source = TERRAFORM_DIR / "modules" / "keymgr-aws" / "main.tf"
    text = source.read_text()
    assert text.count("encrypted         = true") == 1
    (module / "main.tf").write_text(
        text.replace("encrypted         = true", "encrypted         = false")
    )
    result = run_checkov(module)
    assert result["rc"] != 0
    assert "CKV_AWS_3" in {c["check_id"] for c in result["failed"]}
