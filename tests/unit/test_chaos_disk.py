"""Disk faults: the torn tail ends inside the journal's last record (pysyncobj's format),
the corrupt dump differs in the flipped bytes only, the filler fills what it is given."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
from pysyncobj.journal import FileJournal

from keymgr.ops import chaos_disk
from keymgr.raft import journal_records


def _journal(path: Path, entries: int) -> None:
    journal = FileJournal(str(path))
    for index in range(1, entries + 1):
        journal.add(b"command %d" % index, index, 1)
    journal._destroy()


def test_records_follow_the_pysyncobj_format(tmp_path: Path) -> None:
    path = tmp_path / "raft.journal"
    _journal(path, 5)
    records = chaos_disk.journal_records(path.read_bytes())
    assert len(records) == 5
    assert records[0][0] == chaos_disk.HEADER_SIZE
    assert all(a[1] == b[0] for a, b in itertools.pairwise(records))
    # 4-byte length, index and term (16), command, 4-byte length
    assert records[0][1] - records[0][0] == 4 + 16 + len(b"command 1") + 4


@pytest.mark.parametrize("seed", range(5))
def test_tear_cuts_inside_the_last_record(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "raft.journal"
    _journal(path, 3)
    start, end = chaos_disk.journal_records(path.read_bytes())[-1]
    detail = chaos_disk.tear_journal(path, random.Random(seed))
    assert start < path.stat().st_size < end
    assert "inside its last record" in detail


def test_tear_skips_an_empty_journal(tmp_path: Path) -> None:
    path = tmp_path / "raft.journal"
    _journal(path, 0)
    with pytest.raises(chaos_disk.DiskFaultSkipped, match="no record"):
        chaos_disk.tear_journal(path, random.Random(1))
    with pytest.raises(chaos_disk.DiskFaultSkipped, match="no journal"):
        chaos_disk.tear_journal(tmp_path / "missing", random.Random(1))


def test_corrupt_dump_flips_bytes(tmp_path: Path) -> None:
    path = tmp_path / "raft.dump"
    original = bytes(range(256)) * 4
    path.write_bytes(original)
    chaos_disk.corrupt_dump(path, random.Random(3), flips=3)
    changed = [
        i for i, (a, b) in enumerate(zip(original, path.read_bytes(), strict=True)) if a != b
    ]
    assert len(changed) == 3
    with pytest.raises(chaos_disk.DiskFaultSkipped, match="no dump"):
        chaos_disk.corrupt_dump(tmp_path / "none", random.Random(3))


def test_fill_stops_at_its_limit_and_empty_removes_it(tmp_path: Path) -> None:
    assert chaos_disk.fill(tmp_path, limit_bytes=3 << 20) == 3 << 20
    assert (tmp_path / chaos_disk.FILLER).stat().st_size == 3 << 20
    chaos_disk.empty(tmp_path)
    chaos_disk.empty(tmp_path)  # idempotent
    assert not (tmp_path / chaos_disk.FILLER).exists()


@pytest.mark.parametrize("seed", range(5))
def test_tear_cuts_the_checksummed_format_inside_its_last_record(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "raft.journal"
    records = [journal_records.encode_record(b"cmd %d" % i, i, 1) for i in range(1, 4)]
    path.write_bytes(journal_records.MAGIC + b"".join(records))
    assert len(chaos_disk.journal_records(path.read_bytes())) == 3
    chaos_disk.tear_journal(path, random.Random(seed))
    found = journal_records.scan(path.read_bytes())
    assert [e[1] for e in found.entries] == [1, 2]  # the last record is torn, no other
    assert found.damage is not None and found.damage.startswith("torn")
