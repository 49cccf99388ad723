"""`keymgr audit verify|tail`: check an audit file's hash chain, read its last lines.

Works on files only (no cluster connection): an auditor runs it on a copy.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from keymgr.audit.files import last_lines, rotation_sets
from keymgr.audit.record import parse_line
from keymgr.audit.verify import VerifyReport, verify
from keymgr.cli.common import EXIT_FAILURE, EXIT_USAGE, CliError, print_json

HEADERS = ("TIME", "PRINCIPAL", "OPERATION", "KEY", "RESULT", "LATENCY")
FOLLOW_POLL_S = 0.25


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="verify and read audit files",
        description="Examples:\n  keymgr audit verify data/node1/audit/audit.log*\n"
        "  keymgr audit tail data/node1/audit/audit.log -n 20 --follow",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="audit_command", required=True)
    check = commands.add_parser(
        "verify",
        help="check hashes, the chain and seq continuity (exit 2 on any problem)",
        description="Give a file and its rotated siblings in any order; they are checked "
        "oldest first as one chain. Files of different rotation sets (a node's "
        "audit.log and its workers' audit-worker<N>.log) are separate chains, each "
        "checked on its own.",
    )
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--json", action="store_true", help="print JSON for scripts")
    check.set_defaults(func=run_verify)

    tail = commands.add_parser("tail", help="show the last lines as a table")
    tail.add_argument("file", metavar="FILE")
    tail.add_argument(
        "-n", "--lines", type=int, default=10, metavar="N", help="how many lines (default 10)"
    )
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    tail.add_argument("--json", action="store_true", help="print the raw JSON lines")
    tail.set_defaults(func=run_tail)


def _existing(paths: Sequence[str]) -> list[Path]:
    checked = []
    for name in paths:
        path = Path(name)
        if not path.exists():
            raise CliError(f"FILE: not found: {path}", code=EXIT_USAGE)
        if not path.is_file():
            raise CliError(f"FILE: not a regular file: {path}", code=EXIT_USAGE)
        checked.append(path)
    return checked


def run_verify(args: argparse.Namespace) -> int:
    """Each rotation set is one chain (a node writes one per serving process:
    `audit.log`, `audit-worker1.log`, ...); every chain must be intact."""
    reports = [verify(chain) for chain in rotation_sets(_existing(args.files))]
    if args.json:
        documents = [_report_json(r) for r in reports]
        if len(documents) == 1:
            print_json(documents[0])
        else:
            print_json({"ok": all(r.ok for r in reports), "chains": documents})
        return 0 if all(r.ok for r in reports) else EXIT_FAILURE
    problems = 0
    for report in reports:
        for problem in report.problems:
            print(problem)
        problems += len(report.problems)
        if report.ok:
            _print_intact(report)
    if problems:
        lines = sum(r.lines for r in reports)
        print(f"keymgr: {problems} problem(s) in {lines} lines", file=sys.stderr)
        return EXIT_FAILURE
    return 0


def _report_json(report: VerifyReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "files": [str(p) for p in report.files],
        "lines": report.lines,
        "first_seq": report.first_seq,
        "last_seq": report.last_seq,
        "last_hash": report.last_hash,
        "notes": list(report.notes),
        "problems": [
            {"file": str(p.path), "line": p.line, "kind": p.kind, "message": p.message}
            for p in report.problems
        ],
    }


def _print_intact(report: VerifyReport) -> None:
    files = len(report.files)
    span = f"seq {report.first_seq}..{report.last_seq}" if report.lines else "empty"
    print(
        f"{report.lines} lines, chain intact ({span} in {files} file"
        f"{'s' if files > 1 else ''}; last hash {report.last_hash or '-'})"
    )
    for note in report.notes:
        print(f"note: {note}")


def _cells(raw: bytes) -> list[str]:
    try:
        record = parse_line(raw)
    except ValueError as exc:
        return ["-", f"<corrupt line: {exc}>", "-", "-", "-", "-"]
    key = str(record["key_id"] or "-")
    if record["key_version"] is not None:
        key += f" v{record['key_version']}"
    latency = record["latency_ms"]
    assert isinstance(latency, int | float)
    return [
        str(record["time"]),
        str(record["principal"] or "-"),
        str(record["operation"]),
        key,
        str(record["result"]),
        f"{latency:.1f} ms",
    ]


class _Table:
    """Columns sized by the first batch; later rows (--follow) pad to the same widths."""

    def __init__(self, rows: list[list[str]]) -> None:
        self.widths = [max(len(r[i]) for r in [list(HEADERS), *rows]) for i in range(len(HEADERS))]

    def print(self, row: Sequence[str]) -> None:
        cells = (c.ljust(w) for c, w in zip(row, self.widths, strict=True))
        print("  ".join(cells).rstrip(), flush=True)


def run_tail(args: argparse.Namespace) -> int:
    if args.lines < 0:
        raise CliError("-n: must be >= 0", code=EXIT_USAGE)
    (path,) = _existing([args.file])
    lines, _ = last_lines(path, args.lines)
    table = _Table([_cells(raw) for raw in lines]) if not args.json else None
    if table is not None:
        table.print(HEADERS)
    for raw in lines:
        _emit(raw, table)
    if args.follow:
        _follow(path, table)
    return 0


def _emit(raw: bytes, table: _Table | None) -> None:
    if table is None:
        print(raw.decode("utf-8", errors="replace"), flush=True)
    else:
        table.print(_cells(raw))


def _follow(path: Path, table: _Table | None) -> None:
    """Prints lines as they are appended; follows the file across a rotation."""
    handle: BinaryIO = open(path, "rb")  # noqa: SIM115 (reopened on rotation)
    handle.seek(0, os.SEEK_END)
    pending = b""
    try:
        while True:
            chunk = handle.read()
            if chunk:
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for raw in complete:
                    _emit(raw, table)
                continue
            try:
                current = os.stat(path)
            except FileNotFoundError:
                time.sleep(FOLLOW_POLL_S)
                continue
            mine = os.fstat(handle.fileno())
            if current.st_ino != mine.st_ino or current.st_size < handle.tell():
                rest = handle.read()  # lines written just before the rotation
                for raw in (pending + rest).split(b"\n")[:-1]:
                    _emit(raw, table)
                handle.close()
                handle = open(path, "rb")  # noqa: SIM115 (closed below or on rotation)
                pending = b""
                continue
            time.sleep(FOLLOW_POLL_S)
    finally:
        handle.close()
