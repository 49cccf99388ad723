"""Snapshot chunks: numbered on the way out, installed only complete, verified, durable."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from keymgr.raft.durable_journal import Dump, decode_dump, encode_dump
from keymgr.raft.snapshot_install import Prepared
from keymgr.raft.snapshot_transfer import SnapshotReceiver, SnapshotSender

LEADER = ("127.0.0.1:7101", 3)


def dump_bytes(last_index: int = 100, size: int = 50_000) -> bytes:
    return encode_dump(
        Dump(
            prev=(b"p", last_index - 1, 3),
            last=(b"l", last_index, 3),
            cluster=("127.0.0.1:7101", "127.0.0.1:7102"),
            snapshot=bytes(range(256)) * (size // 256),
        )
    )


def chunks(blob: bytes, size: int = 4096) -> list[tuple[bytes, bool, bool]]:
    out = [(blob[i : i + size], i == 0, False) for i in range(0, len(blob), size)]
    return [*out, (b"", False, True)]


def numbered(blob: bytes) -> list[Any]:
    """What the leader sends: pysyncobj's chunks with our offsets added."""
    pending = iter(chunks(blob))
    sender = SnapshotSender(lambda _node: next(pending))
    return [sender.next_chunk("node") for _ in range(len(chunks(blob)))]


def test_whole_transfer_installs_the_dump(tmp_path: Path) -> None:
    dump = tmp_path / "raft.dump"
    blob = dump_bytes()
    receiver = SnapshotReceiver(str(dump))
    results = [receiver.receive(c, LEADER, applied_index=10) for c in numbered(blob)]
    assert results[-1] is True and not any(results[:-1])
    assert dump.read_bytes() == blob and dump.stat().st_mode & 0o777 == 0o600
    assert decode_dump(dump.read_bytes()).last[1] == 100


def test_a_lost_chunk_discards_the_transfer_and_keeps_the_old_dump(tmp_path: Path) -> None:
    dump = tmp_path / "raft.dump"
    old = dump_bytes(last_index=50)
    dump.write_bytes(old)
    sent = numbered(dump_bytes())
    del sent[3]  # dropped on a disconnect; pysyncobj's offset moved on
    receiver = SnapshotReceiver(str(dump))
    assert not any(receiver.receive(c, LEADER, applied_index=10) for c in sent)
    assert dump.read_bytes() == old and receiver.discarded == 1
    assert not (tmp_path / "raft.dump.incoming").exists()


def test_pysyncobj_alone_installs_a_truncated_dump(tmp_path: Path) -> None:
    """The defect: pysyncobj's receiver appends after a gap and renames unchecked."""
    from pysyncobj.serializer import Serializer

    dump = tmp_path / "raft.dump"
    serializer = Serializer(str(dump), 4096, False, None, None, None)
    sent = chunks(dump_bytes())
    del sent[3]
    assert [serializer.setTransmissionData(c) for c in sent][-1] is True
    assert len(dump.read_bytes()) < len(dump_bytes())  # installed, truncated


def test_chunks_from_another_leader_or_term_are_refused(tmp_path: Path) -> None:
    dump = tmp_path / "raft.dump"
    sent = numbered(dump_bytes())
    receiver = SnapshotReceiver(str(dump))
    receiver.receive(sent[0], LEADER, 0)
    receiver.receive(sent[1], ("127.0.0.1:7102", 4), 0)  # a new leader's stray chunk
    assert not any(receiver.receive(c, LEADER, 0) for c in sent[2:])
    assert not dump.exists()
    # a new transfer from the new leader starts clean and installs
    assert [receiver.receive(c, ("127.0.0.1:7102", 4), 0) for c in sent][-1] is True


def test_corrupt_or_stale_snapshots_are_not_installed(tmp_path: Path) -> None:
    dump = tmp_path / "raft.dump"
    blob = bytearray(dump_bytes())
    blob[len(blob) // 2] ^= 0xFF
    receiver = SnapshotReceiver(str(dump))
    assert not any(receiver.receive(c, LEADER, 0) for c in numbered(bytes(blob)))
    assert not dump.exists()
    # older than what this node already applied: installing would roll its state back
    assert not any(receiver.receive(c, LEADER, 500) for c in numbered(dump_bytes(100)))
    assert not dump.exists() and receiver.discarded == 2


def test_malformed_chunks_and_oversize_transfers(tmp_path: Path) -> None:
    dump = tmp_path / "raft.dump"
    receiver = SnapshotReceiver(str(dump), max_bytes=10_000)
    assert receiver.receive((b"x", True, False), LEADER, 0) is False  # no offset
    assert receiver.receive(("x", True, False, 0), LEADER, 0) is False
    assert not any(receiver.receive(c, LEADER, 0) for c in numbered(dump_bytes()))
    assert receiver.discarded == 3 and not dump.exists()


# -- pacing: a bounded number of bytes per heartbeat round -------------------------------


def test_sender_reads_at_most_a_round_budget_then_holds_the_node() -> None:
    blob = dump_bytes(size=40_000)
    pending = iter(chunks(blob))
    held: list[str] = []
    sender = SnapshotSender(lambda _node: next(pending), hold=held.append, round_budget=10_000)
    rounds: list[list[Any]] = []
    while not rounds or rounds[-1][-1] is None:
        sender.start_round()
        sent: list[Any] = []
        while True:  # pysyncobj's loop: ask until None (held) or the last chunk
            chunk = sender.next_chunk("node")
            sent.append(chunk)
            if chunk is None or chunk[2]:
                break
        rounds.append(sent)
        assert sender.end_round() == (["node"] if chunk is None else [])
    data = [c for r in rounds for c in r if c is not None]
    assert all(sum(len(c[0]) for c in r if c is not None) <= 12_288 for r in rounds)
    assert len(rounds) > 3 and held == ["node"] * (len(rounds) - 1)
    assert sender.held_rounds == len(rounds) - 1
    assert [c[3] for c in data] == [sum(len(d[0]) for d in data[:i]) for i in range(len(data))]
    assert b"".join(c[0] for c in data) == blob


def test_paced_chunks_still_install_whole(tmp_path: Path) -> None:
    blob = dump_bytes()
    pending = iter(chunks(blob))
    sender = SnapshotSender(lambda _node: next(pending), hold=lambda _n: None, round_budget=5000)
    receiver = SnapshotReceiver(str(tmp_path / "raft.dump"))
    installed = False
    for _ in range(1000):
        sender.start_round()
        chunk = sender.next_chunk("node")
        while chunk is not None:
            installed = receiver.receive(chunk, LEADER, applied_index=10) or installed
            if chunk[2]:
                break
            chunk = sender.next_chunk("node")
        receiver.receive(None, LEADER, applied_index=10)  # the round's empty heartbeat
        if installed:
            break
    assert installed and (tmp_path / "raft.dump").read_bytes() == blob


# -- off the tick: verify and decode on a thread, swap in from the tick ------------------


def test_off_tick_install_waits_for_prepare_and_replaces_the_dump_only_then(
    tmp_path: Path,
) -> None:
    dump = tmp_path / "raft.dump"
    old = dump_bytes(last_index=50)
    dump.write_bytes(old)
    blob = dump_bytes(last_index=100)
    release = threading.Event()
    prepared_from: list[bytes] = []

    def prepare(snapshot: bytes) -> str:
        assert release.wait(10)
        prepared_from.append(snapshot)
        return "new state"

    receiver = SnapshotReceiver(str(dump), off_tick=True, prepare=prepare)
    assert not any(receiver.receive(c, LEADER, applied_index=10) for c in numbered(blob))
    assert receiver.pending_source == LEADER
    assert receiver.take_prepared(applied_index=10) is None  # still decoding
    assert dump.read_bytes() == old  # nothing installed while it decodes
    release.set()
    prepared = wait_prepared(receiver, applied_index=10)
    assert prepared.state == "new state" and prepared.dump.last[1] == 100
    assert prepared_from == [decode_dump(blob).snapshot]
    assert dump.read_bytes() == blob and receiver.installed == 1
    assert receiver.pending_source is None and not (tmp_path / "raft.dump.incoming").exists()


def test_off_tick_install_refuses_corrupt_stale_or_unrestorable_snapshots(tmp_path: Path) -> None:
    dump = tmp_path / "raft.dump"
    old = dump_bytes(last_index=50)
    dump.write_bytes(old)

    def refuse(_snapshot: bytes) -> None:
        raise ValueError("not a StoreState")

    corrupt = bytearray(dump_bytes(last_index=100))
    corrupt[-10] ^= 1
    cases = [
        (bytes(corrupt), None, 10),  # checksum
        (dump_bytes(last_index=100), None, 200),  # older than what is applied here
        (dump_bytes(last_index=100), refuse, 10),  # the state machine refuses it
    ]
    for blob, prepare, applied in cases:
        receiver = SnapshotReceiver(str(dump), off_tick=True, prepare=prepare)
        for c in numbered(blob):
            receiver.receive(c, LEADER, applied_index=applied)
        deadline = time.monotonic() + 10
        while receiver.pending_source is not None and time.monotonic() < deadline:
            assert receiver.take_prepared(applied_index=applied) is None
            time.sleep(0.01)
        assert receiver.pending_source is None and receiver.discarded == 1
        assert dump.read_bytes() == old


def test_a_new_transfer_cancels_an_install_being_prepared(tmp_path: Path) -> None:
    dump = tmp_path / "raft.dump"
    release = threading.Event()
    receiver = SnapshotReceiver(
        str(dump), off_tick=True, prepare=lambda s: release.wait(10) and len(s)
    )
    for c in numbered(dump_bytes(last_index=100)):
        receiver.receive(c, LEADER, applied_index=10)
    newer = ("127.0.0.1:7102", 4)
    second = numbered(dump_bytes(last_index=120))
    receiver.receive(second[0], newer, applied_index=10)
    assert receiver.pending_source is None and receiver.discarded == 1
    release.set()
    for c in second[1:]:
        receiver.receive(c, newer, applied_index=10)
    prepared = wait_prepared(receiver, applied_index=10)
    assert prepared.dump.last[1] == 120 and decode_dump(dump.read_bytes()).last[1] == 120


def wait_prepared(receiver: SnapshotReceiver, applied_index: int) -> Prepared:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        prepared = receiver.take_prepared(applied_index)
        if prepared is not None:
            return prepared
        time.sleep(0.01)
    raise AssertionError("the install was never prepared")
