"""The checksummed journal: damage is found on open, the intact prefix kept, reported once."""

from __future__ import annotations

from pathlib import Path

import pytest
from pysyncobj.journal import FileJournal

from keymgr.raft import journal_records
from keymgr.raft.durable_journal import DurableJournal, JournalError


def entries(n: int) -> list[tuple[bytes, int, int]]:
    return [(b"cmd-%d" % i, i, 1 + i // 10) for i in range(1, n + 1)]


def write(path: Path, n: int) -> None:
    j = DurableJournal(str(path))
    for e in entries(n):
        j.add(*e)
    j.sync()
    j._destroy()


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "raft.journal"
    write(path, 30)
    j = DurableJournal(str(path))
    assert j.entries() == entries(30) and j.damage is None
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("cut", [1, 5, 9, 20])
def test_torn_tail_keeps_the_intact_prefix(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "raft.journal"
    write(path, 30)
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    j = DurableJournal(str(path))
    assert j.entries() == entries(29)
    assert j.damage is not None and "torn record 30" in j.damage
    # the file was cut back: appending continues cleanly and survives a reopen
    j.add(b"new", 30, 3)
    j.sync()
    j._destroy()
    again = DurableJournal(str(path))
    assert again.damage is None and again.entries()[-1] == (b"new", 30, 3)


def test_a_flipped_bit_stops_the_scan_at_that_record(tmp_path: Path) -> None:
    path = tmp_path / "raft.journal"
    write(path, 30)
    found = journal_records.scan(path.read_bytes())
    data = bytearray(path.read_bytes())
    data[found.offsets[12] + 12] ^= 0x01  # inside record 13's body
    path.write_bytes(bytes(data))
    j = DurableJournal(str(path))
    assert len(j) == 12 and j.damage is not None and "checksum" in j.damage


def test_a_corrupt_length_or_a_gap_in_indexes_is_damage() -> None:
    good = journal_records.MAGIC + b"".join(journal_records.encode_record(*e) for e in entries(3))
    huge = good + b"\xff\xff\xff\xff" + b"\x00" * 20
    assert journal_records.scan(huge).damage is not None
    assert len(journal_records.scan(huge).entries) == 3
    gap = journal_records.MAGIC + journal_records.encode_record(b"a", 1, 1)
    gap += journal_records.encode_record(b"b", 3, 1)
    scanned = journal_records.scan(gap)
    assert len(scanned.entries) == 1 and scanned.damage and "does not follow" in scanned.damage


def test_pysyncobj_journal_is_converted_once(tmp_path: Path) -> None:
    path = tmp_path / "raft.journal"
    legacy = FileJournal(str(path))
    for e in entries(12):
        legacy.add(*e)
    legacy._destroy()
    j = DurableJournal(str(path))
    assert j.entries() == entries(12) and j.damage is None
    assert path.read_bytes().startswith(journal_records.MAGIC)


def test_a_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "raft.journal"
    path.write_bytes(b"something else entirely")
    with pytest.raises(JournalError, match="not a keymgr Raft journal"):
        DurableJournal(str(path))


@pytest.mark.parametrize("kept", [0, 3])
def test_a_journal_cut_inside_its_header_is_damage_not_a_foreign_file(
    tmp_path: Path, kept: int
) -> None:
    path = tmp_path / "raft.journal"
    write(path, 5)
    path.write_bytes(path.read_bytes()[:kept])
    j = DurableJournal(str(path))
    assert len(j) == 0 and j.damage is not None and "header torn" in j.damage
    j.add(b"x", 1, 1)
    j.sync()
    j._destroy()
    assert DurableJournal(str(path)).entries() == [(b"x", 1, 1)]


def test_creating_a_journal_on_a_full_disk_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keymgr.raft.durable_journal as dj

    def full(fd: int, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dj, "write_all", full)
    path = tmp_path / "raft.journal"
    with pytest.raises(OSError):
        DurableJournal(str(path))
    assert list(tmp_path.iterdir()) == []  # neither a half journal nor a temp file
