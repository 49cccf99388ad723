"""A batch call's audit line: every item's key, version and outcome, compact and in
order, chained and verified like any line; lines without it are unchanged."""

from __future__ import annotations

import json
from pathlib import Path

from keymgr.audit import AuditEvent, AuditLog, FileSink, derive_audit_key, verify
from keymgr.audit.record import canonical, parse_line
from keymgr.server.audit_target import AuditTarget, audit_target, note_batch

KEY_A, KEY_B = "a" * 32, "b" * 32


def batch_of(entries: list[tuple[str | None, int | None, str]]) -> list[str]:
    target = AuditTarget()
    token = audit_target.set(target)
    try:
        note_batch(entries)
    finally:
        audit_target.reset(token)
    return target.batch


def test_runs_of_equal_items_merge_in_order() -> None:
    assert batch_of(
        [
            (KEY_A, 1, "OK"),
            (KEY_A, 1, "OK"),
            (KEY_B, 3, "OK"),
            (KEY_A, 1, "OK"),
            (None, None, "NOT_FOUND"),
            (None, None, "NOT_FOUND"),
            (KEY_B, None, "PERMISSION_DENIED"),
        ]
    ) == [
        f"{KEY_A}:1:OK*2",
        f"{KEY_B}:3:OK",
        f"{KEY_A}:1:OK",
        "-:-:NOT_FOUND*2",
        f"{KEY_B}:-:PERMISSION_DENIED",
    ]


def test_a_thousand_distinct_neighbours_stay_bounded() -> None:
    entries = [((KEY_A, KEY_B)[i % 2], 4_294_967_295, "FAILED_PRECONDITION") for i in range(1000)]
    batch = batch_of(entries)  # type: ignore[arg-type]
    assert len(batch) == 1000
    assert len(json.dumps(batch)) < 1000 * 80
    assert batch_of([(KEY_A, 1, "OK")] * 1000) == [f"{KEY_A}:1:OK*1000"]


def test_batch_line_is_chained_canonical_and_verifies(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = AuditLog([FileSink(path)], "node1", lambda: derive_audit_key(b"\x11" * 32))
    log.log(
        AuditEvent(
            principal="p",
            operation="Decrypt",
            result="OK",
            latency_ms=1.0,
            key_id=KEY_A,
            key_version=1,
        )
    )
    items = [f"{KEY_A}:1:OK*2", "-:-:INVALID_ARGUMENT"]
    log.log(
        AuditEvent(
            principal="p", operation="BatchDecrypt", result="OK", latency_ms=2.0, batch=items
        )
    )
    log.close()
    single, batch = path.read_text().splitlines()
    assert "batch" not in json.loads(single)
    record = parse_line(batch.encode())
    assert record["batch"] == items
    assert batch.encode() == canonical(record)  # the hash sits where sorted order puts it
    assert verify([path]).ok


def test_parse_line_refuses_a_batch_of_the_wrong_type() -> None:
    path_line = {
        "seq": 1,
        "time": "t",
        "node": "n",
        "principal": "p",
        "operation": "o",
        "key_id": None,
        "key_version": None,
        "request_id": None,
        "result": "OK",
        "latency_ms": 1,
        "context": {},
        "detail": "",
        "prev": "0" * 64,
        "hash": "0" * 64,
    }
    parse_line(json.dumps(path_line).encode())
    for bad in ({"x": 1}, [1, 2], "a:1:OK"):
        try:
            parse_line(json.dumps({**path_line, "batch": bad}).encode())
        except ValueError as exc:
            assert "batch" in str(exc)
        else:
            raise AssertionError(f"batch {bad!r} was accepted")
