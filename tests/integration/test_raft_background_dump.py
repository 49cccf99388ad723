"""The Raft dump is written off the tick thread: proposals keep committing while a slow
dump is written, and the journal is trimmed only once the dump is durable."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from keymgr.ops.ports import free_port
from keymgr.raft.durable_journal import decode_dump
from keymgr.raft.node import RaftNode, RaftSettings
from keymgr.store.key_records import FrozenState
from keymgr.store.keystore import KeyStore
from keymgr.v1 import store_pb2
from tests.unit.test_keystore import encode, init_op, kid

KEYS = 20_000
DISK_S = 1.5  # how long the slow disk takes to take the whole dump


class SlowDiskFrozen:
    """The store's real cut, handed to the writer at the pace of a slow disk."""

    def __init__(self, frozen: FrozenState) -> None:
        self._frozen = frozen

    def size(self) -> int:
        return self._frozen.size()

    def chunks(self) -> Iterable[bytes]:
        pieces = list(self._frozen.chunks(per_chunk=1000))
        return self._paced(pieces)

    @staticmethod
    def _paced(pieces: list[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            time.sleep(DISK_S / len(pieces))
            yield piece


class SlowDiskStore(KeyStore):
    """The dump writer takes `freeze()`; `snapshot()` (start, backups) stays as it is."""

    def freeze(self) -> SlowDiskFrozen:  # type: ignore[override]
        return SlowDiskFrozen(super().freeze())

    def snapshot(self) -> bytes:
        return super().freeze().encode()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[RaftNode, SlowDiskStore]]:
    store = SlowDiskStore()
    settings = RaftSettings(
        self_address=f"127.0.0.1:{free_port()}",
        peer_addresses=(),
        data_dir=tmp_path / "raft",
        password="background-dump-test-secret",
        log_compaction_min_entries=10**6,  # only the compaction the test asks for
    )
    raft = RaftNode(settings, store)
    raft.start()
    try:
        yield raft, store
    finally:
        raft.close()


def test_proposals_commit_while_a_slow_dump_is_written(
    node: tuple[RaftNode, SlowDiskStore], tmp_path: Path
) -> None:
    raft, store = node
    deadline = time.monotonic() + 10
    while raft.status().role != "leader":
        assert time.monotonic() < deadline, "no leader"
        time.sleep(0.02)
    raft.propose(encode(t=1, init_cluster=init_op()), timeout=5)
    for n in range(KEYS):  # the state as the dump will hold it; a few entries to trim
        store.apply(
            encode(
                t=2,
                create_key=store_pb2.CreateKey(key_id=kid(n), name=f"k{n}", wrapped_material=b"m"),
            )
        )
    for i in range(5):
        raft.propose(encode(t=3 + i, tick=store_pb2.Tick()), timeout=5)
    entries_before = raft.status().log_entries
    dump = tmp_path / "raft" / "raft.dump"

    raft.compact_log()
    started = time.monotonic()
    latencies: list[float] = []
    while time.monotonic() - started < DISK_S * 0.8:  # while the slow disk is busy
        sent = time.monotonic()
        raft.propose(encode(t=100, tick=store_pb2.Tick()), timeout=5)
        latencies.append(time.monotonic() - sent)
    assert not dump.exists(), "the dump was renamed into place before it was written"
    assert raft.status().log_entries >= entries_before, "journal trimmed before the dump"
    # with the dump written in the tick thread, the first proposal waited ~DISK_S
    assert len(latencies) >= 10 and max(latencies) < 0.3, (len(latencies), max(latencies))

    peak = raft.status().log_entries
    while not dump.exists() or raft.status().log_entries >= peak:
        assert time.monotonic() - started < 15, "dump never written or journal never trimmed"
        time.sleep(0.05)
    written = decode_dump(dump.read_bytes())
    copy = KeyStore()
    copy.restore(written.snapshot)
    assert copy.key_counts()["enabled"] == KEYS
    assert oct(dump.stat().st_mode & 0o777) == "0o600"
