"""`keymgr config check`: OK line on stdout and exit 0, or the one-line error and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from keymgr import pki
from keymgr.cli.main import main

from .test_config import good


def write(directory: Path, data: object) -> Path:
    path = directory / "node.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_check_with_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pki.create_ca(tmp_path / "certs")
    pki.issue_node_cert(pki.load_ca(tmp_path / "certs"), "node1")
    pki.create_cluster_secret(tmp_path / "secrets/cluster-secret")
    (tmp_path / "logs").mkdir()
    path = write(tmp_path, good())
    assert main(["config", "check", str(path)]) == 0
    out = capsys.readouterr()
    assert out.out == (
        f"OK: {path}: node node1 (zone zone-a), api 127.0.0.1:7001, "
        "raft 127.0.0.1:7101, 2 peers, seal file\n"
    )
    assert out.err == ""
    assert not (tmp_path / "data").exists()  # nothing started


def test_missing_files_fail_unless_no_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, good())
    assert main(["config", "check", str(path)]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == f"keymgr: {path}: tls.cert: file not found: {tmp_path}/certs/node1.pem\n"
    assert main(["config", "check", "--no-files", str(path)]) == 0
    assert capsys.readouterr().out.endswith("seal file (referenced files not checked)\n")


def test_bad_field_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = good()
    data["raft"]["listen"] = "10.0.0.1:99999"
    path = write(tmp_path, data)
    assert main(["config", "check", "--no-files", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"keymgr: {path}: raft.listen: port must be 0..65535, got '99999' in '10.0.0.1:99999'\n"
    )


def test_usage_errors_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["config", "check"])
    assert raised.value.code == 1
    assert "file" in capsys.readouterr().err
