"""Audit log: chained lines, rotation that keeps the chain, restart, fail closed, HMAC'd
context, and nothing secret in the file."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from keymgr.audit import (
    GENESIS,
    SEALED,
    AuditCorrupt,
    AuditEvent,
    AuditLog,
    AuditUnavailable,
    FileSink,
    derive_audit_key,
    verify,
)
from keymgr.audit.record import canonical, line_hash, rfc3339_ms

AUDIT_KEY = derive_audit_key(b"\x11" * 32)


def event(n: int = 0, **overrides: object) -> AuditEvent:
    fields: dict[str, object] = {
        "principal": "spiffe://kms.test/agent/vm-7",
        "operation": "GenerateDataKey",
        "result": "OK",
        "latency_ms": 0.25 + n,
        "key_id": f"key-{n % 3}",
        "key_version": 2,
        "request_id": f"req-{n}",
        "context": {"volume": f"vol-{n % 2}"},
    }
    fields.update(overrides)
    return AuditEvent(**fields)  # type: ignore[arg-type]


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def open_log(path: Path, **kwargs: object) -> AuditLog:
    return AuditLog([FileSink(path, **kwargs)], "node1", lambda: AUDIT_KEY)  # type: ignore[arg-type]


def test_lines_are_chained_canonical_json(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = open_log(path)
    for n in range(200):
        log.log(event(n))
    log.close()
    raw_lines = path.read_bytes().splitlines()
    lines = records(path)
    assert [r["seq"] for r in lines] == list(range(1, 201))
    assert lines[0]["prev"] == GENESIS
    for before, after in itertools.pairwise(lines):
        assert after["prev"] == before["hash"]
    for raw, record in zip(raw_lines, lines, strict=True):
        assert canonical(record) == raw  # the line is itself canonical JSON
        body = {k: v for k, v in record.items() if k != "hash"}
        assert record["hash"] == hashlib.sha256(canonical(body)).hexdigest() == line_hash(record)
    first = lines[0]
    assert first["node"] == "node1" and first["operation"] == "GenerateDataKey"
    assert first["key_id"] == "key-0" and first["key_version"] == 2
    assert first["request_id"] == "req-0" and first["result"] == "OK"
    assert first["latency_ms"] == 0.25 and first["detail"] == ""
    assert verify([path]).ok


def test_unknown_fields_are_null_and_time_is_rfc3339_utc_ms(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = AuditLog([FileSink(path)], "node1", lambda: None, clock=lambda: 1700000000.0071)
    log.log(
        AuditEvent(
            principal="",
            operation="Unseal",
            result="PERMISSION_DENIED",
            latency_ms=1,
            detail="no\nnewlines   here" + "x" * 500,
        )
    )
    (line,) = records(path)
    assert line["time"] == "2023-11-14T22:13:20.007Z"
    assert line["key_id"] is None and line["key_version"] is None
    assert line["request_id"] is None and line["context"] == {}
    detail = str(line["detail"])
    assert detail.startswith("no newlines here") and len(detail) == 200
    assert rfc3339_ms(0.999) == "1970-01-01T00:00:00.999Z"


def test_context_values_are_hmacd_never_written(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    secret_values = ["vol-0", "vol-1", "tenant-acme-db-17"]
    log = open_log(path)
    for n in range(4):
        log.log(event(n, context={"volume": f"vol-{n % 2}", "tenant": secret_values[2]}))
    log.close()
    text = path.read_text()
    for value in secret_values:
        assert value not in text
    lines = records(path)
    contexts = [r["context"] for r in lines]
    assert all(set(c) == {"volume", "tenant"} for c in contexts)  # type: ignore[arg-type]
    expected = hmac.new(AUDIT_KEY, b"vol-0", hashlib.sha256).hexdigest()
    assert contexts[0]["volume"] == contexts[2]["volume"] == expected  # type: ignore[index]
    assert contexts[1]["volume"] != contexts[0]["volume"]  # type: ignore[index]
    assert len({c["tenant"] for c in contexts}) == 1  # type: ignore[index]


def test_sealed_node_writes_placeholder_not_values(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    key: list[bytes | None] = [None]
    log = AuditLog([FileSink(path)], "node1", lambda: key[0])
    log.log(event(0, context={"volume": "vol-secret"}))
    key[0] = AUDIT_KEY  # unsealed: values are HMAC'd from now on
    log.log(event(1, context={"volume": "vol-secret"}))
    first, second = records(path)
    assert first["context"] == {"volume": SEALED}
    assert second["context"] == {
        "volume": hmac.new(AUDIT_KEY, b"vol-secret", hashlib.sha256).hexdigest()
    }
    assert "vol-secret" not in path.read_text()


def test_audit_key_is_hkdf_of_root_key() -> None:
    root = bytes(range(32))
    key = derive_audit_key(root)
    assert len(key) == 32 and key == derive_audit_key(bytearray(root))
    assert key != derive_audit_key(bytes(32)) and root not in key


def test_rotation_keeps_the_chain_across_files(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = open_log(path, max_bytes=4096, keep=3)
    for n in range(60):
        log.log(event(n))
    log.close()
    files = [
        path.with_name("audit.log.3"),
        path.with_name("audit.log.2"),
        path.with_name("audit.log.1"),
        path,
    ]
    assert all(f.exists() for f in files) and not path.with_name("audit.log.4").exists()
    assert all(f.stat().st_size <= 4096 for f in files)
    chained = [r for f in files for r in records(f)]
    assert [r["seq"] for r in chained] == list(range(chained[0]["seq"], 61))  # type: ignore[arg-type]
    for before, after in itertools.pairwise(chained):
        assert after["prev"] == before["hash"]
    # the first line of each newer file continues from the last line of the older one
    for older, newer in itertools.pairwise(files):
        assert records(newer)[0]["prev"] == records(older)[-1]["hash"]
    report = verify(reversed(files))  # any order: rotated names are sorted
    assert report.ok and report.last_seq == 60
    assert report.notes and "starts at seq" in report.notes[0]  # oldest files dropped


def test_restart_resumes_seq_and_prev(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = open_log(path)
    for n in range(5):
        log.log(event(n))
    log.close()
    log = open_log(path)
    assert log.seq == 5
    log.log(event(5))
    log.close()
    lines = records(path)
    assert [r["seq"] for r in lines] == [1, 2, 3, 4, 5, 6]
    assert lines[5]["prev"] == lines[4]["hash"]
    assert verify([path]).ok


def test_restart_right_after_rotation_resumes_from_rotated_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = open_log(path)
    for n in range(3):
        log.log(event(n))
    log.close()
    os.replace(path, path.with_name("audit.log.1"))
    path.touch()  # crashed after rotating, before the first line of the new file
    log = open_log(path)
    log.log(event(3))
    log.close()
    (line,) = records(path)
    assert line["seq"] == 4
    assert line["prev"] == records(path.with_name("audit.log.1"))[-1]["hash"]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda raw: raw[: raw.rindex(b"{")] + b'{"seq": 4, "broken\n', "corrupt"),
        (lambda raw: raw.replace(b'"OK"', b'"NO"'), "does not match its hash"),
    ],
    ids=["bad-json", "edited"],
)
def test_restart_refuses_a_damaged_last_line(tmp_path: Path, damage: object, reason: str) -> None:
    path = tmp_path / "audit.log"
    log = open_log(path)
    for n in range(3):
        log.log(event(n))
    log.close()
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    with pytest.raises(AuditCorrupt) as raised:
        open_log(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: line 3: ") and reason in message
    assert "\n" not in message


def test_a_line_torn_by_a_crash_is_set_aside_and_the_chain_goes_on(tmp_path: Path) -> None:
    """kill -9 inside a line's write leaves it without its newline: that call was never
    answered, so the node keeps the torn bytes aside and continues from the last whole line."""
    path = tmp_path / "audit.log"
    log = open_log(path)
    for n in range(3):
        log.log(event(n))
    log.close()
    raw = path.read_bytes()
    path.write_bytes(raw[:-20])  # the third line, cut inside its write
    log = open_log(path)
    log.log(event(9))
    log.close()
    lines = records(path)
    assert [r["seq"] for r in lines] == [1, 2, 3]  # the torn seq is written again
    assert lines[2]["prev"] == lines[1]["hash"]
    assert verify([path]).ok
    torn = path.with_name("audit.log.torn")
    assert torn.read_bytes() == raw[raw.rindex(b"\n", 0, len(raw) - 1) + 1 : -20] + b"\n"
    assert stat.S_IMODE(torn.stat().st_mode) == 0o600


def test_file_is_private_and_directory_created(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "sub" / "audit.log"
    log = open_log(path)
    log.log(event())
    log.close()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    loose = tmp_path / "loose.log"
    loose.touch(mode=0o644)
    os.chmod(loose, 0o644)
    log = open_log(loose)
    log.log(event())
    log.close()
    assert loose.stat().st_mode & 0o777 == 0o600


def test_disk_full_fails_closed() -> None:
    log = open_log(Path("/dev/full"))  # every write: ENOSPC
    assert log.healthy and log.failures == 0
    with pytest.raises(AuditUnavailable, match="No space left on device"):
        log.log(event())
    assert not log.healthy and log.failures == 1
    with pytest.raises(AuditUnavailable):
        log.log(event())
    assert log.failures == 2 and log.seq == 0  # nothing written, the chain did not advance
    assert log.last_error is not None and "/dev/full" in log.last_error


def test_unwritable_path_fails_closed(tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_text("x")
    log = open_log(tmp_path / "not-a-dir" / "audit.log")
    with pytest.raises(AuditUnavailable, match="Not a directory"):
        log.log(event())
    assert not log.healthy


def test_failed_write_recovers_and_chain_stays_contiguous(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    sink = FileSink(path)
    log = AuditLog([sink], "node1", lambda: AUDIT_KEY)
    log.log(event(0))
    assert sink._fd is not None
    os.close(sink._fd)  # the file descriptor goes bad under the sink
    with pytest.raises(AuditUnavailable, match="Bad file descriptor"):
        log.log(event(1))
    assert not log.healthy
    sink._fd = None  # an operator fixed it; the sink reopens on the next write
    log.log(event(2))
    assert log.healthy and log.failures == 1
    log.close()
    assert [r["seq"] for r in records(path)] == [1, 2]
    assert verify([path]).ok


def test_partial_write_is_cut_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "audit.log"
    log = open_log(path)
    log.log(event(0))
    real_write = os.write
    calls = {"n": 0}

    def half_then_enospc(fd: int, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data)[:10])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_enospc)
    with pytest.raises(AuditUnavailable):
        log.log(event(1))
    monkeypatch.setattr(os, "write", real_write)
    log.log(event(2))
    log.close()
    assert [r["seq"] for r in records(path)] == [1, 2]


def test_closed_log_refuses(tmp_path: Path) -> None:
    log = open_log(tmp_path / "audit.log")
    log.close()
    with pytest.raises(AuditUnavailable, match="closed"):
        log.log(event())


def test_concurrent_writers_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = open_log(path, max_bytes=256 * 1024)
    threads = [
        threading.Thread(target=lambda: [log.log(event(n)) for n in range(250)]) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    files = sorted(tmp_path.glob("audit.log*"))
    report = verify(files)
    assert report.ok and report.last_seq == 2000 and report.lines == 2000


def test_only_one_chained_sink(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at most one"):
        AuditLog([FileSink(tmp_path / "a"), FileSink(tmp_path / "b")], "n", lambda: None)


@pytest.mark.parametrize("fsync", [False, True])
def test_throughput(tmp_path: Path, fsync: bool) -> None:
    """Reported, and bounded loosely so a regression of 10x shows up."""
    log = open_log(tmp_path / "audit.log", fsync=fsync)
    count = 300 if fsync else 5000
    start = time.perf_counter()
    for n in range(count):
        log.log(event(n))
    elapsed = time.perf_counter() - start
    log.close()
    per_event_us = elapsed / count * 1e6
    print(f"fsync={fsync}: {count / elapsed:,.0f} events/s, {per_event_us:.1f} us/event")
    assert per_event_us < (20_000 if fsync else 200)
