"""Snapshot chunks: numbered on the way out, installed only complete, verified, durable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keymgr.raft.durable_journal import Dump, decode_dump, encode_dump
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
