"""verify: every kind of tampering is reported with its file, line number and kind."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from keymgr.audit import AuditEvent, AuditLog, FileSink, Problem, verify
from keymgr.audit.record import canonical, line_hash

Lines = list[bytes]


def produce(path: Path, count: int, **sink_options: int) -> None:
    log = AuditLog([FileSink(path, **sink_options)], "node1", lambda: b"k" * 32)  # type: ignore[arg-type]
    for n in range(count):
        log.log(
            AuditEvent(
                principal=f"user-{n}",
                operation="Decrypt",
                result="OK",
                latency_ms=n,
                key_id="key-1",
                key_version=1,
                request_id=f"r{n}",
                context={"volume": f"v{n}"},
            )
        )
    log.close()


def edited(raw: bytes, rehash: bool = False, **changes: object) -> bytes:
    record = json.loads(raw)
    record.update(changes)
    if rehash:
        record["hash"] = line_hash(record)
    return canonical(record) + b"\n"


def kinds(problems: tuple[Problem, ...]) -> list[tuple[int, str]]:
    return [(p.line, p.kind) for p in problems]


@pytest.fixture
def produced(tmp_path: Path) -> tuple[Path, Lines]:
    path = tmp_path / "audit.log"
    produce(path, 12)
    return path, path.read_bytes().splitlines(keepends=True)


def test_intact_file(produced: tuple[Path, Lines]) -> None:
    path, _ = produced
    report = verify([path])
    assert report.ok and report.lines == 12
    assert (report.first_seq, report.last_seq) == (1, 12) and report.notes == ()


def test_edit_delete_reorder_insert_in_one_file(produced: tuple[Path, Lines]) -> None:
    path, lines = produced
    seq = {n: lines[n - 1] for n in range(1, 13)}  # original line n holds seq n
    forged = edited(seq[10], rehash=True, principal="mallory")  # a second seq 10
    tampered = [
        seq[1],
        edited(seq[2], principal="mallory"),
        seq[3],
        seq[4],  # 2 edited
        seq[6],  # 5 deleted
        seq[8],
        seq[7],  # 7 and 8 swapped
        seq[9],
        seq[10],
        forged,  # inserted after 10
        seq[11],
        seq[12],
    ]
    path.write_bytes(b"".join(tampered))
    report = verify([path])
    assert not report.ok
    assert kinds(report.problems) == [
        (2, "edited"),
        (5, "deleted"),
        (7, "reordered"),
        (10, "inserted"),
    ], [str(p) for p in report.problems]
    by_line = {p.line: p for p in report.problems}
    assert "does not match its hash" in by_line[2].message
    assert "1 line missing before this line (seq 5)" in by_line[5].message
    assert "seq 7 comes after seq 8 (line 6)" in by_line[7].message
    assert str(by_line[5]) == f"{path}:5: deleted: {by_line[5].message}"


Tamper = Callable[[Lines], Lines]

CASES: list[tuple[str, Tamper, list[tuple[int, str]], str]] = [
    (
        "edit",
        lambda ls: [*ls[:3], edited(ls[3], result="PERMISSION_DENIED"), *ls[4:]],
        [(4, "edited")],
        "does not match its hash",
    ),
    (
        "edit and re-hash",
        lambda ls: [*ls[:3], edited(ls[3], True, key_id="k9"), *ls[4:]],
        [(4, "edited")],
        "re-hashed after an edit",
    ),
    (
        "edit the hash field",
        lambda ls: [*ls[:3], edited(ls[3], hash="0" * 64), *ls[4:]],
        [(4, "edited")],
        "does not match its hash",
    ),
    (
        "edit seq",
        lambda ls: [*ls[:3], edited(ls[3], seq=40), *ls[4:]],
        [(4, "edited")],
        "does not match its hash",
    ),
    ("delete one", lambda ls: [*ls[:3], *ls[4:]], [(4, "deleted")], "(seq 4)"),
    ("delete three", lambda ls: [*ls[:3], *ls[6:]], [(4, "deleted")], "3 lines missing"),
    ("delete first", lambda ls: ls[1:], [], ""),  # looks like a rotated-away start: a note
    (
        "insert forged dup seq",
        lambda ls: [*ls[:4], edited(ls[3], True, principal="x"), *ls[4:]],
        [(5, "inserted")],
        "seq 4 is not part of the chain",
    ),
    (
        "insert forged new seq",
        lambda ls: [*ls[:4], edited(ls[3], True, seq=99), *ls[4:]],
        [(5, "inserted")],
        "seq 99 is not part of the chain",
    ),
    ("insert copy", lambda ls: [*ls[:7], ls[1], *ls[7:]], [(8, "inserted")], "copy of line 2"),
    (
        "insert unhashed",
        lambda ls: [*ls[:4], edited(ls[3], principal="x"), *ls[4:]],
        [(5, "inserted")],
        "seq 4 is taken",
    ),
    (
        "insert garbage",
        lambda ls: [*ls[:4], b"hello\n", *ls[4:]],
        [(5, "corrupt")],
        "truncated or corrupt JSON",
    ),
    (
        "swap",
        lambda ls: [*ls[:3], ls[4], ls[3], *ls[5:]],
        [(5, "reordered")],
        "seq 4 comes after seq 5 (line 4)",
    ),
    (
        "move to end",
        lambda ls: [ls[0], *ls[2:], ls[1]],
        [(12, "reordered")],
        "seq 2 comes after seq 12",
    ),
    (
        "move forward",
        lambda ls: [*ls[:2], ls[9], *ls[2:9], *ls[10:]],
        [(4, "reordered")],
        "seq 3 comes after seq 10",
    ),
    ("truncated last line", lambda ls: [*ls[:11], ls[11][:40]], [(12, "corrupt")], "incomplete"),
    (
        "truncated middle line",
        lambda ls: [*ls[:5], ls[5][:40] + b"\n", *ls[6:]],
        [(6, "corrupt")],
        "truncated or corrupt JSON",
    ),
    (
        "missing field",
        lambda ls: [*ls[:5], ls[5].replace(b'"detail":"",', b""), *ls[6:]],
        [(6, "corrupt")],
        "missing field(s) detail",
    ),
    ("blank line", lambda ls: [*ls[:5], b"\n", *ls[5:]], [(6, "corrupt")], "empty line"),
]


@pytest.mark.parametrize(
    ("tamper", "expected", "message"),
    [(t, e, m) for _, t, e, m in CASES],
    ids=[c[0] for c in CASES],
)
def test_each_tampering_is_reported_at_its_line(
    produced: tuple[Path, Lines], tamper: Tamper, expected: list[tuple[int, str]], message: str
) -> None:
    path, lines = produced
    path.write_bytes(b"".join(tamper(lines)))
    report = verify([path])
    assert kinds(report.problems) == expected, [str(p) for p in report.problems]
    if expected:
        assert message in report.problems[0].message, str(report.problems[0])
    else:
        assert report.notes == ("chain starts at seq 2 (older files not given or rotated away)",)


def test_first_line_must_follow_genesis(produced: tuple[Path, Lines]) -> None:
    path, lines = produced
    path.write_bytes(b"".join([edited(lines[0], True, prev="1" * 64), *lines[1:]]))
    assert kinds(verify([path]).problems) == [(1, "edited")]
    path.write_bytes(edited(lines[0], True, prev="1" * 64))  # alone: only genesis tells
    (problem,) = verify([path]).problems
    assert (problem.line, problem.kind) == (1, "edited") and "genesis" in problem.message


def test_across_rotated_files(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    produce(path, 40, max_bytes=3000, keep=20)
    files = sorted(tmp_path.iterdir())
    assert len(files) > 3
    assert verify(files).ok and verify(files).last_seq == 40

    # the first line of the current file deleted: reported at the current file's line 1
    current = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(current[1:]))
    report = verify(files)
    assert [(p.path, p.line, p.kind) for p in report.problems] == [(path, 1, "deleted")]
    path.write_bytes(b"".join(current))

    # a whole rotated file missing from the middle
    middle = path.with_name("audit.log.2")
    gone = len(middle.read_bytes().splitlines())
    rest = [f for f in files if f != middle]
    report = verify(rest)
    (problem,) = report.problems
    assert (problem.path, problem.line, problem.kind) == (
        path.with_name("audit.log.1"),
        1,
        "deleted",
    )
    assert f"{gone} lines missing" in problem.message

    # lines moved from one file to another
    newest_rotated = path.with_name("audit.log.1")
    moved = newest_rotated.read_bytes().splitlines(keepends=True)
    newest_rotated.write_bytes(b"".join(moved[:-1]))
    path.write_bytes(b"".join([*current[:1], moved[-1], *current[1:]]))
    problems = verify(files).problems
    assert [(p.path.name, p.line, p.kind) for p in problems] == [("audit.log", 2, "reordered")], [
        str(p) for p in problems
    ]
