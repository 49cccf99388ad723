"""A follower whose Raft thread stalls does not unseat a healthy leader (toy Raft
cluster: real processes, TCP).

Found while looking for the elections of `keymgr bench-scale --keys 1000000`:
pysyncobj checks a follower's election deadline at the start of a tick and reads the
network at its end, so a tick thread held up past the election timeout (a thread
holding the GIL, a long GC pass, a slow disk) stood for election although the leader's
heartbeats sat unread in its socket. The follower now reads first
(`RaftNode._read_before_electing`); before, this test's term went 1 -> 7.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.integration.raft_toy_cluster import ToyCluster, put

MakeToy = Callable[..., ToyCluster]

STALL_S = 0.45  # past the election timeout (0.15-0.3 s), short of the link timeout (0.6 s)
STALLS = 6


def test_a_stalled_follower_reads_the_leader_before_it_stands_for_election(
    make_toy_cluster: MakeToy,
) -> None:
    cluster = make_toy_cluster()
    cluster.start_all()
    leader = cluster.wait_leader()
    assert put(cluster, leader, "before", "1") is not None
    term = cluster.call(leader, {"op": "status"})["term"]
    follower = next(i for i in range(3) if i != leader)
    for _ in range(STALLS):
        assert cluster.call(follower, {"op": "stall", "seconds": STALL_S})["ok"]
        time.sleep(STALL_S + 0.35)  # the stall, then a few heartbeats
    statuses = {i: cluster.call(i, {"op": "status"}) for i in range(3)}
    terms = {i: s["term"] for i, s in statuses.items()}
    assert terms == {0: term, 1: term, 2: term}, statuses
    assert statuses[leader]["role"] == "leader", statuses
    # each stall ended with the deadline passed: the follower read before deciding
    assert statuses[follower]["deadline_reads"] >= STALLS, statuses[follower]
    assert put(cluster, leader, "after", "2") is not None
    cluster.barrier(follower)
    assert cluster.call(follower, {"op": "state"})["items"] == {"before": "1", "after": "2"}
