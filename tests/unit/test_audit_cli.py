"""`keymgr audit verify|tail` as a user runs them: exit codes and output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keymgr.audit import AuditEvent, AuditLog, FileSink

ROOT = Path(__file__).resolve().parents[2]


def keymgr(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "keymgr", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )


def produce(path: Path, count: int, **options: int) -> AuditLog:
    log = AuditLog([FileSink(path, **options)], "node1", lambda: b"k" * 32)  # type: ignore[arg-type]
    for n in range(count):
        add(log, n)
    return log


def add(log: AuditLog, n: int) -> None:
    log.log(
        AuditEvent(
            principal=f"spiffe://kms.test/agent/vm-{n}",
            operation="Decrypt",
            result="OK" if n % 2 else "PERMISSION_DENIED",
            latency_ms=1.25,
            key_id="key-1",
            key_version=n,
            request_id=f"r{n}",
            context={"volume": "secret-volume"},
        )
    )


def test_verify_intact_files(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    produce(path, 30, max_bytes=4000, keep=10).close()
    files = sorted(str(p) for p in tmp_path.iterdir())
    assert len(files) > 2
    result = keymgr("audit", "verify", *files)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("30 lines, chain intact (seq 1..30 in ")
    assert result.stderr == ""
    as_json = json.loads(keymgr("audit", "verify", "--json", *files).stdout)
    assert as_json["ok"] is True and as_json["last_seq"] == 30 and as_json["problems"] == []


def test_verify_reports_each_problem_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    produce(path, 8).close()
    lines = path.read_bytes().splitlines(keepends=True)
    tampered = [
        *lines[:2],
        lines[2].replace(b"vm-2", b"vm-X"),
        lines[4],
        lines[3],
        *lines[6:],
    ]  # edit line 3, swap 4/5, delete seq 6
    path.write_bytes(b"".join(tampered))
    result = keymgr("audit", "verify", str(path))
    assert result.returncode == 2
    out = result.stdout.splitlines()
    assert [line.split(": ")[0:2] for line in out] == [
        [f"{path}:3", "edited"],
        [f"{path}:5", "reordered"],
        [f"{path}:6", "deleted"],
    ]
    assert result.stderr.strip() == "keymgr: 3 problem(s) in 7 lines"
    as_json = json.loads(keymgr("audit", "verify", "--json", str(path)).stdout)
    assert [(p["line"], p["kind"]) for p in as_json["problems"]] == [
        (3, "edited"),
        (5, "reordered"),
        (6, "deleted"),
    ]


def test_verify_usage_errors(tmp_path: Path) -> None:
    result = keymgr("audit", "verify", str(tmp_path / "absent.log"))
    assert result.returncode == 1
    assert result.stderr.strip() == f"keymgr: FILE: not found: {tmp_path / 'absent.log'}"
    assert keymgr("audit", "verify").returncode == 1
    assert keymgr("audit", "verify", str(tmp_path)).returncode == 1


def test_tail_table_and_json(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    produce(path, 12).close()
    result = keymgr("audit", "tail", str(path), "-n", "3")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["TIME", "PRINCIPAL", "OPERATION", "KEY", "RESULT", "LATENCY"]
    assert len(rows) == 3
    assert rows[0].split() == [
        rows[0].split()[0],
        "spiffe://kms.test/agent/vm-9",
        "Decrypt",
        "key-1",
        "v9",
        "OK",
        "1.2",
        "ms",
    ]
    assert "PERMISSION_DENIED" in rows[1] and "secret-volume" not in result.stdout
    raw = keymgr("audit", "tail", str(path), "-n", "2", "--json").stdout.splitlines()
    assert raw == path.read_text().splitlines()[-2:]
    assert len(keymgr("audit", "tail", str(path)).stdout.splitlines()) == 11  # default 10


def test_tail_shows_a_corrupt_line_without_failing(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    produce(path, 2).close()
    with open(path, "ab") as handle:
        handle.write(b'{"seq": 3, "bro\n')
    result = keymgr("audit", "tail", str(path))
    assert result.returncode == 0
    assert "<corrupt line: truncated or corrupt JSON" in result.stdout.splitlines()[-1]


def test_tail_follow_prints_new_lines_across_rotation(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = produce(path, 2, max_bytes=2000, keep=5)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "keymgr",
            "audit",
            "tail",
            str(path),
            "--follow",
            "--json",
            "-n",
            "1",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["seq"] == 2
        time.sleep(0.5)  # let it reach the end of the file
        for n in range(2, 12):  # rotates a few times on the way
            add(log, n)
            time.sleep(0.1)
        seen = [json.loads(proc.stdout.readline())["seq"] for _ in range(10)]
        assert seen == list(range(3, 13))
        assert path.with_name("audit.log.1").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.mark.parametrize("n", ["-1"])
def test_tail_bad_count(tmp_path: Path, n: str) -> None:
    path = tmp_path / "audit.log"
    produce(path, 1).close()
    result = keymgr("audit", "tail", str(path), "-n", n)
    assert result.returncode == 1 and result.stderr.strip() == "keymgr: -n: must be >= 0"
