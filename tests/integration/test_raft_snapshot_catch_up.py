"""A rebuilt follower catches up from a large snapshot without costing the leader its term.

pysyncobj's leader read a whole dump into chunks within one heartbeat round, and the
node then pickled, encrypted and queued them all in the same tick: with tens of MB the
leader went silent for longer than the election timeout and the healthy follower took
over. Here the transfer is paced (a byte budget per round), so heartbeats keep going.
Real processes, real pysyncobj over real TCP on 127.0.0.1.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.raft_toy_cluster import ToyCluster, put

VALUE_BYTES = 400_000
VALUES = 250  # ~100 MB of state: the old sender stalled the leader well past 0.3 s


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[ToyCluster]:
    c = ToyCluster(tmp_path, size=3)
    try:
        c.start_all()
        yield c
    finally:
        c.close()


def test_rebuilt_follower_catches_up_by_snapshot_without_an_election(
    cluster: ToyCluster,
) -> None:
    leader = cluster.wait_leader()
    for n in range(VALUES):
        value = f"{n:06d}" + "x" * (VALUE_BYTES - 6)
        assert put(cluster, leader, f"k{n}", value, timeout=10.0) is not None
    deadline = time.monotonic() + 60.0
    while True:  # compacted on every node (the dumps are written in the background)
        for i in range(3):
            cluster.call(i, {"op": "compact"})
        time.sleep(1.0)
        entries = [cluster.call(i, {"op": "status"})["log_entries"] for i in range(3)]
        if max(entries) < VALUES or time.monotonic() > deadline:
            break
    assert max(entries) < VALUES, entries  # the rebuilt node will need the snapshot
    for _attempt in range(10):  # (the toy cuts its snapshot in the tick: leadership may move)
        leader = cluster.wait_leader()
        rebuilt = next(i for i in range(3) if i != leader)
        cluster.barrier(rebuilt)
        before = cluster.call(leader, {"op": "status"})
        if before["role"] == "leader":
            break
    assert before["role"] == "leader", before

    cluster.kill(rebuilt)
    shutil.rmtree(cluster.data_dir(rebuilt))
    cluster.start(rebuilt)
    started = time.monotonic()
    terms: set[int] = set()
    leaders: set[object] = set()
    while time.monotonic() - started < 60.0:
        for i in range(3):
            st = cluster.call(i, {"op": "status"})
            if i != rebuilt:  # it starts at term 0 and learns the leader's
                terms.add(st["term"])
            if st["role"] == "leader":
                leaders.add(i)
        caught = cluster.call(rebuilt, {"op": "status"})
        if caught["applied"] >= before["commit"]:
            break
        time.sleep(0.05)
    summaries = [cluster.call(i, {"op": "summary"}) for i in range(3)]
    assert summaries[rebuilt]["count"] == VALUES
    assert len({s["digest"] for s in summaries}) == 1, summaries
    after = cluster.call(leader, {"op": "status"})
    assert after["role"] == "leader" and after["term"] == before["term"], (before, after)
    assert terms == {before["term"]} and leaders == {leader}, (terms, leaders)
    dump = cluster.data_dir(rebuilt) / "raft.dump"
    assert dump.stat().st_size > VALUES * VALUE_BYTES  # it caught up by the snapshot
