"""DurableJournal: durability, group commit, safe load planning, dump format."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from keymgr.raft import durable_journal as dj
from keymgr.raft.core import plan_append
from keymgr.raft.durable_journal import (
    Dump,
    DumpError,
    DurableJournal,
    JournalError,
    decode_dump,
    encode_dump,
    plan_load,
)


def entry(idx: int, term: int = 1) -> dj.Entry:
    return (b"\x00cmd-%d" % idx, idx, term)


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "raft.journal")


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    yield calls


def open_journal(path: str, synced: list[tuple[int, int]] | None = None) -> DurableJournal:
    def on_sync(index: int, term: int) -> None:
        if synced is not None:
            synced.append((index, term))

    return DurableJournal(path, on_sync=on_sync)


def test_entries_survive_reopen(path: str) -> None:
    j = open_journal(path)
    for i in range(1, 101):
        j.add(*entry(i, 1 + i // 50))
    j.sync()
    j._destroy()
    again = open_journal(path)
    try:
        assert again.entries() == [entry(i, 1 + i // 50) for i in range(1, 101)]
    finally:
        again._destroy()


def test_group_commit_one_fsync_per_batch(path: str, fsyncs: list[int]) -> None:
    synced: list[tuple[int, int]] = []
    j = open_journal(path, synced)
    try:
        fsyncs.clear()
        for i in range(1, 51):
            j.add(*entry(i))
        assert fsyncs == [], "add must not fsync; the batch is synced once"
        assert j.dirty
        assert j.sync() is True
        assert len(fsyncs) == 1
        assert synced[-1] == (50, 1)
        assert j.sync() is False, "a clean journal needs no fsync"
        assert len(fsyncs) == 1
        for i in range(51, 61):
            j.add(*entry(i))
        j.sync()
        assert len(fsyncs) == 2
        assert j.synced_index == 60
    finally:
        j._destroy()


def test_truncation_marks_dirty(path: str, fsyncs: list[int]) -> None:
    j = open_journal(path)
    try:
        for i in range(1, 11):
            j.add(*entry(i))
        j.sync()
        j.deleteEntriesFrom(5)
        assert j.dirty
        j.sync()
        assert j.synced_index == 5
    finally:
        j._destroy()


def test_term_and_vote_are_durable_and_atomic(path: str, fsyncs: list[int]) -> None:
    j = open_journal(path)
    fsyncs.clear()
    j.setCurrentTerm(7, "127.0.0.1:7102")
    # temp file fsync + directory fsync, before setCurrentTerm returns
    assert len(fsyncs) == 2
    assert not os.path.exists(f"{path}.state.json.tmp")
    with open(f"{path}.state.json") as f:
        assert json.load(f)["term"] == 7
    j._destroy()
    again = open_journal(path)
    try:
        assert again.getCurrentTerm() == 7
        assert again.getVotedForNodeId() == "127.0.0.1:7102"
    finally:
        again._destroy()


def test_commit_index_persisted_lazily(path: str) -> None:
    j = open_journal(path)
    j.setRaftCommitIndex(42)
    j.onOneSecondTimer()
    j._destroy()
    again = open_journal(path)
    try:
        assert again.getRaftCommitIndex() == 42
    finally:
        again._destroy()


def test_refuses_pickle_meta_and_corrupt_state(path: str) -> None:
    Path(f"{path}.meta").write_bytes(b"not for us")
    with pytest.raises(JournalError, match="pickle meta"):
        open_journal(path)
    os.unlink(f"{path}.meta")
    Path(f"{path}.state.json").write_text("{broken")
    with pytest.raises(JournalError, match="corrupt"):
        open_journal(path)


def test_compaction_rewrite_is_atomic_and_keeps_tail(path: str) -> None:
    j = open_journal(path)
    for i in range(1, 201):
        j.add(*entry(i))
    j.sync()
    j.deleteEntriesTo(150)  # pysyncobj: keep entries from position 150 on
    assert j.entries() == [entry(i) for i in range(151, 201)]
    assert not os.path.exists(f"{path}.new")
    j.add(*entry(201))
    j.sync()
    j._destroy()
    again = open_journal(path)
    try:
        assert again.entries() == [entry(i) for i in range(151, 202)]
    finally:
        again._destroy()


def test_leftover_rewrite_file_is_ignored(path: str) -> None:
    j = open_journal(path)
    for i in range(1, 6):
        j.add(*entry(i))
    j._destroy()
    Path(f"{path}.new").write_bytes(b"half-written")  # a rewrite that crashed
    again = open_journal(path)
    try:
        assert [e[1] for e in again.entries()] == [1, 2, 3, 4, 5]
        assert not os.path.exists(f"{path}.new")
    finally:
        again._destroy()


# -- load planning: never lose entries newer than the dump ---------------------------


def test_plan_load_dump_newer_than_journal_start_keeps_every_newer_entry() -> None:
    # Crash between the dump rename and the journal trim: journal still starts at 1.
    journal = [entry(i) for i in range(1, 101)]
    plan = plan_load(journal, entry(49), entry(50))
    assert plan == [entry(i) for i in range(49, 101)]


def test_plan_load_dump_older_than_journal_start_keeps_every_entry() -> None:
    # Journal already trimmed past the dump's first entry: prepend the dump's entries.
    for first in (50, 51):
        journal = [entry(i) for i in range(first, 101)]
        plan = plan_load(journal, entry(49), entry(50))
        assert plan == [entry(i) for i in range(49, 101)]


def test_plan_load_matching_journal_needs_nothing() -> None:
    journal = [entry(i) for i in range(49, 80)]
    assert plan_load(journal, entry(49), entry(50)) is None


def test_plan_load_gap_fails_closed() -> None:
    journal = [entry(i) for i in range(60, 101)]
    with pytest.raises(JournalError, match="missing"):
        plan_load(journal, entry(49), entry(50))


def test_plan_load_drops_only_a_conflicting_uncommitted_branch() -> None:
    # Entry 50 in the journal has another term than the committed one in the dump.
    journal = [entry(i) for i in range(40, 50)] + [entry(i, term=9) for i in range(50, 60)]
    assert plan_load(journal, entry(49), entry(50)) == [entry(49), entry(50)]


def test_plan_load_journal_entirely_older() -> None:
    assert plan_load([entry(1, 0)], entry(49), entry(50)) == [entry(49), entry(50)]
    assert plan_load([], entry(49), entry(50)) == [entry(49), entry(50)]


def test_reconciled_journal_survives_reopen(path: str) -> None:
    j = open_journal(path)
    for i in range(1, 101):
        j.add(*entry(i))
    plan = plan_load(j.entries(), entry(49), entry(50))
    assert plan is not None
    j.replace_entries(plan)
    j._destroy()
    again = open_journal(path)
    try:
        assert again.entries() == [entry(i) for i in range(49, 101)]
    finally:
        again._destroy()


# -- dump format ---------------------------------------------------------------------


def make_dump() -> Dump:
    return Dump(
        prev=entry(9, 2),
        last=entry(10, 3),
        cluster=("127.0.0.1:7102", "127.0.0.1:7101"),
        snapshot=b"\x00state\xff" * 100,
    )


def test_dump_round_trip_is_deterministic_and_not_pickle() -> None:
    blob = encode_dump(make_dump())
    assert blob == encode_dump(make_dump())
    assert blob.startswith(dj.MAGIC)
    assert b"\x80\x04" not in blob[:20]  # no pickle protocol header
    back = decode_dump(blob)
    assert back.prev == entry(9, 2) and back.last == entry(10, 3)
    assert back.cluster == ("127.0.0.1:7101", "127.0.0.1:7102")
    assert back.snapshot == make_dump().snapshot


@pytest.mark.parametrize("cut", [0, 5, 40, -1, -33])
def test_dump_truncated_or_corrupt_is_rejected(cut: int) -> None:
    blob = encode_dump(make_dump())
    with pytest.raises(DumpError):
        decode_dump(blob[:cut])
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 1
    with pytest.raises(DumpError, match="checksum"):
        decode_dump(bytes(flipped))


# -- overlapping AppendEntries never truncate matching entries ------------------------


def ae(prev: int, prev_term: int, entries: list[dj.Entry], term: int = 3) -> dict[str, object]:
    return {
        "type": "append_entries",
        "term": term,
        "commit_index": 1,
        "prevLogIdx": prev,
        "prevLogTerm": prev_term,
        "entries": entries,
    }


def terms(log: dict[int, int]) -> Callable[[int], int | None]:
    return log.get


def test_overlapping_append_entries_keep_matching_tail() -> None:
    log = {i: 3 for i in range(1, 11)}
    # Leader resends 6..8 while we already hold 1..10 from it (verified to 10).
    plan = plan_append(ae(5, 3, [entry(i, 3) for i in range(6, 9)]), terms(log), 10, (3, 10))
    out = plan.message
    assert out["prevLogIdx"] == 10 and out["prevLogTerm"] == 3 and out["entries"] == []
    assert plan.ack_cap is None and plan.covered == 8 and plan.conflict is None
    # Resend that also brings new entries: only the new ones are appended.
    plan = plan_append(ae(5, 3, [entry(i, 3) for i in range(6, 13)]), terms(log), 10, (-1, 0))
    assert plan.message["prevLogIdx"] == 10
    assert [e[1] for e in plan.message["entries"]] == [11, 12]
    assert plan.ack_cap is None and plan.covered == 12


def test_an_unproven_tail_is_kept_but_neither_acknowledged_nor_committed() -> None:
    log = {i: 3 for i in range(1, 11)}
    # A new leader (term 4) proves entries up to 6 only: 7..10 are kept (no conflict
    # yet), but the reply says "next 7" and the commit index cannot reach past 6.
    msg = ae(5, 3, [entry(6, 3)], term=4)
    msg["commit_index"] = 9
    plan = plan_append(msg, terms(log), 10, (3, 10))
    assert plan.message["prevLogIdx"] == 10 and plan.message["entries"] == []
    assert plan.ack_cap == 7 and plan.message["commit_index"] == 6 and plan.covered == 6
    heartbeat = plan_append(ae(8, 3, []), terms(log), 10, (2, 10))
    assert heartbeat.ack_cap == 9 and heartbeat.covered == 8
    # Verified for this term: the whole tail counts.
    assert plan_append(ae(8, 3, []), terms(log), 10, (3, 10)).ack_cap is None


def test_conflicts_truncate_from_the_conflict_only() -> None:
    log = {i: 3 for i in range(1, 11)}
    msg = ae(5, 3, [entry(6, 3), entry(7, 3), entry(8, 4)], term=4)
    plan = plan_append(msg, terms(log), 10, (3, 10))
    assert plan.conflict == 8
    assert plan.message["prevLogIdx"] == 7 and [e[1] for e in plan.message["entries"]] == [8]
    # A mismatched prev proves nothing: pysyncobj rejects it as it is.
    rejected = ae(5, 2, [])
    plan = plan_append(rejected, terms(log), 10, (3, 10))
    assert plan.message is rejected and plan.covered is None
