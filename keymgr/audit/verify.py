"""Checks audit files: each line's hash, the `prev` chain and `seq` continuity.

Files are read oldest first (`audit.log.2, audit.log.1, audit.log`, whatever order they
were named in), as one chain. Each problem names a file, a line number and a kind:

- corrupt: not a complete audit line (truncated or damaged JSON, missing fields);
- edited: the line does not match its hash, or it was re-hashed after an edit (the
  next line's `prev` does not match it);
- deleted: lines are missing before this one (a seq gap no other line fills);
- inserted: a line the chain does not contain (a second line with a seq already
  taken, or a copy of another line);
- reordered: the line comes after a line with a higher seq.

An unkeyed hash chain cannot detect a rewritten tail (lines removed from or forged at
the end, hashes recomputed): compare with the SIEM's copy for that.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from keymgr.audit.files import chain_order
from keymgr.audit.record import GENESIS, line_hash, parse_line

__all__ = ["Problem", "ProblemKind", "VerifyReport", "verify"]

ProblemKind = Literal["corrupt", "edited", "deleted", "inserted", "reordered"]


@dataclass(frozen=True, slots=True)
class Problem:
    path: Path
    line: int  # 1-based line number in `path`
    kind: ProblemKind
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.message}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    files: tuple[Path, ...]
    lines: int
    problems: tuple[Problem, ...]
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(slots=True)
class _Entry:
    path: Path
    line: int
    seq: int
    prev: str
    hash: str
    hash_ok: bool
    damaged_before: int = 0  # unusable lines right before this one (corrupt or edited)


def _read(paths: Sequence[Path]) -> tuple[list[_Entry], list[Problem], int]:
    entries: list[_Entry] = []
    problems: list[Problem] = []
    total = 0
    for path in paths:
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                total += 1
                if not raw.endswith(b"\n"):
                    problems.append(
                        Problem(path, number, "corrupt", "last line is incomplete (no newline)")
                    )
                    continue
                try:
                    record = parse_line(raw)
                except ValueError as exc:
                    problems.append(Problem(path, number, "corrupt", str(exc)))
                    continue
                stored = str(record["hash"])
                seq = record["seq"]
                assert isinstance(seq, int)
                entries.append(
                    _Entry(
                        path, number, seq, str(record["prev"]), stored, line_hash(record) == stored
                    )
                )
    return entries, problems, total


def verify(paths: Iterable[Path]) -> VerifyReport:
    """Reads the files (oldest first, see `chain_order`) and reports every problem."""
    files = tuple(chain_order([Path(p) for p in paths]))
    entries, problems, total = _read(files)
    corrupt_at = {(pr.path, pr.line) for pr in problems}

    def at(e: _Entry) -> str:
        return f"line {e.line}" if len(files) == 1 else f"{e.path.name}:{e.line}"

    seqs: dict[int, list[_Entry]] = {}
    by_hash: dict[str, _Entry] = {}
    referenced: set[str] = set()
    for e in entries:
        seqs.setdefault(e.seq, []).append(e)
        if e.hash_ok:
            by_hash.setdefault(e.hash, e)
        referenced.add(e.prev)
    good_seqs = {e.seq for e in entries if e.hash_ok}

    # Lines the chain does not hold: damaged ones, copies, and lines nothing links to
    # although the chain goes on past them.
    chain: list[_Entry] = []
    seen: dict[str, _Entry] = {}
    damaged = 0
    for i, e in enumerate(entries):
        if i > 0:
            previous = entries[i - 1]
            same_file = previous.path == e.path
            damaged += sum(
                (e.path, n) in corrupt_at
                for n in range(previous.line + 1 if same_file else 1, e.line)
            )
        else:
            damaged += sum((e.path, n) in corrupt_at for n in range(1, e.line))
        if not e.hash_ok:
            if len(seqs[e.seq]) > 1 and e.seq in good_seqs:
                problems.append(
                    Problem(
                        e.path,
                        e.line,
                        "inserted",
                        f"seq {e.seq} is taken and the line does not match its hash",
                    )
                )
            else:
                problems.append(Problem(e.path, e.line, "edited", "line does not match its hash"))
            damaged += 1
            continue
        if e.hash in seen:
            problems.append(Problem(e.path, e.line, "inserted", f"copy of {at(seen[e.hash])}"))
            continue
        seen[e.hash] = e
        parent = by_hash.get(e.prev)
        links_back = (
            (parent is not None and parent.seq == e.seq - 1)
            or i == 0
            or (e.seq == 1 and e.prev == GENESIS)
        )
        last = i == len(entries) - 1
        if e.hash not in referenced and not last and (e.seq + 1 in seqs or not links_back):
            before = entries[i - 1].seq if i > 0 else None
            after = entries[i + 1].seq
            if len(seqs[e.seq]) == 1 and before in (None, e.seq - 1) and after == e.seq + 1:
                problems.append(
                    Problem(
                        e.path,
                        e.line,
                        "edited",
                        f"re-hashed after an edit: the next line's prev "
                        f"(seq {e.seq + 1}) does not match it",
                    )
                )
            else:
                problems.append(
                    Problem(
                        e.path,
                        e.line,
                        "inserted",
                        f"seq {e.seq} is not part of the chain (no line links to it)",
                    )
                )
            continue
        e.damaged_before, damaged = damaged, 0
        chain.append(e)

    notes: list[str] = []
    if chain:
        first = chain[0]
        if first.seq == 1 and first.prev != GENESIS:
            problems.append(
                Problem(first.path, first.line, "edited", "seq 1 must follow the genesis value")
            )
        elif first.seq != 1:
            notes.append(f"chain starts at seq {first.seq} (older files not given or rotated away)")
    for p, e in itertools.pairwise(chain):
        if e.seq == p.seq + 1:
            if e.prev != p.hash:
                problems.append(
                    Problem(e.path, e.line, "edited", f"prev does not match the hash of {at(p)}")
                )
        elif e.seq <= p.seq:
            problems.append(
                Problem(
                    e.path, e.line, "reordered", f"seq {e.seq} comes after seq {p.seq} ({at(p)})"
                )
            )
        else:
            missing = [s for s in range(p.seq + 1, e.seq) if s not in good_seqs]
            if len(missing) > e.damaged_before:
                span = (
                    f"seq {missing[0]}" if len(missing) == 1 else f"seq {missing[0]}..{missing[-1]}"
                )
                count = f"{len(missing)} line{'s' if len(missing) > 1 else ''}"
                problems.append(
                    Problem(e.path, e.line, "deleted", f"{count} missing before this line ({span})")
                )

    order = {path: index for index, path in enumerate(files)}
    problems.sort(key=lambda pr: (order[pr.path], pr.line))
    last_entry = chain[-1] if chain else None
    return VerifyReport(
        files=files,
        lines=total,
        problems=tuple(problems),
        first_seq=chain[0].seq if chain else None,
        last_seq=last_entry.seq if last_entry else None,
        last_hash=last_entry.hash if last_entry else None,
        notes=tuple(notes),
    )
