"""Raft adapter durability with real processes (toy nodes) over TCP on 127.0.0.1.

Every process is started by a fixture and killed by its PID in the finalizer.
"""

from __future__ import annotations

import bisect
import os
import random
import threading
import time
from collections.abc import Callable

from tests.integration.raft_toy_cluster import ToyCluster, put

# -- fsync before acknowledgement -----------------------------------------------------


def test_every_acknowledged_entry_was_fsynced_on_a_majority_first(
    make_toy_cluster: Callable[..., ToyCluster],
) -> None:
    cluster = make_toy_cluster()
    cluster.fsync_logs = [cluster.root / f"fsync{i}.log" for i in range(3)]
    # Slow follower disks (10 ms per fsync) make "acknowledged before durable" visible in
    # the timestamps: with replies not held back until the fsync, this test fails.
    cluster.fsync_delay = 0.01
    cluster.start_all()
    leader = cluster.wait_leader()
    acks: list[tuple[int, float]] = []
    lock = threading.Lock()
    latencies: list[float] = []

    for n in range(100):  # sequential through the leader: latency figure
        t0 = time.monotonic()
        result = put(cluster, leader, f"seq{n}", "v")
        t_ack = time.monotonic()
        if result is not None:
            latencies.append(t_ack - t0)
            acks.append((result["idx"], t_ack))

    def writer(tid: int) -> None:
        rng = random.Random(tid)
        for n in range(50):
            result = put(cluster, rng.randrange(3), f"w{tid}-{n}", "v")
            t_ack = time.monotonic()
            if result is not None:
                with lock:
                    acks.append((result["idx"], t_ack))

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    cluster.kill_all()

    durable: list[tuple[list[float], list[int]]] = []  # per node: times, max index so far
    for log in cluster.fsync_logs:
        times: list[float] = []
        best: list[int] = []
        for line in log.read_text().splitlines():
            at, synced_index, _term = line.split()
            times.append(float(at))
            best.append(max(int(synced_index), best[-1] if best else 0))
        durable.append((times, best))

    assert len(acks) >= 250, f"too few acknowledged writes: {len(acks)}"
    for acked_index, t_ack in acks:
        synced = 0
        for times, best in durable:
            k = bisect.bisect_right(times, t_ack)
            if k and best[k - 1] >= acked_index:
                synced += 1
        assert synced >= 2, f"entry {acked_index} acknowledged before a majority fsynced it"
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1e3
    p99 = latencies[int(len(latencies) * 0.99)] * 1e3
    print(f"\npropose, follower fsync slowed 10 ms: p50 {p50:.2f} ms, p99 {p99:.2f} ms;")
    print(f"{len(acks)} acknowledgements checked against the fsync logs")


# -- whole-cluster crash --------------------------------------------------------------


def test_whole_cluster_kill9_loses_no_acknowledged_write(
    make_toy_cluster: Callable[..., ToyCluster],
) -> None:
    rounds = int(os.environ.get("KEYMGR_CRASH_ROUNDS", "20"))
    seed = int(os.environ.get("KEYMGR_CRASH_SEED", str(random.randrange(1 << 30))))
    print(f"\nwhole-cluster crash: seed {seed} (KEYMGR_CRASH_SEED to replay), {rounds} rounds")
    rng = random.Random(seed)
    cluster = make_toy_cluster(compact_entries=40)  # compaction several times a round
    cluster.start_all()
    acked: dict[str, str] = {}
    acked_lock = threading.Lock()
    started = time.monotonic()
    batches = 0

    for rnd in range(rounds):
        cluster.wait_leader()
        stop = threading.Event()

        def writer(tid: int, rnd: int = rnd, stop: threading.Event = stop) -> None:
            wrng = random.Random(seed * 1000 + rnd * 10 + tid)
            n = 0
            while not stop.is_set():
                key, value = f"r{rnd}-t{tid}-{n}", f"v{wrng.random()}"
                n += 1
                if put(cluster, wrng.randrange(3), key, value, timeout=2.0) is not None:
                    with acked_lock:
                        acked[key] = value

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(12)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.3, 1.0))
        order = [0, 1, 2]
        rng.shuffle(order)
        with acked_lock:  # no ack is recorded while the nodes die
            cluster.kill_all(order)
        stop.set()
        for t in threads:
            t.join(10)
            assert not t.is_alive()
        cluster.start_all()
        cluster.wait_leader()
        digests = set()
        for i in range(3):
            cluster.barrier(i)
            state = cluster.call(i, {"op": "state"})
            items = state["items"]
            missing = [k for k, v in acked.items() if items.get(k) != v]
            assert not missing, f"round {rnd}: node {i} lost {len(missing)} acked writes"
            assert not state["applied_twice"], f"round {rnd}: node {i} applied twice"
            digests.add(state["digest"])
            batches = max(batches, cluster.call(i, {"op": "status"})["batches"])
        assert len(digests) == 1, f"round {rnd}: states differ after the restart"

    elapsed = time.monotonic() - started
    assert batches > 0, "no batch was ever in flight: the test proves nothing about batching"
    for i in range(3):
        assert (cluster.data_dir(i) / "raft.dump").is_file(), "compaction never happened"
    reconciled = sum(
        (cluster.root / f"node{i}.log").read_text().count("reconciling journal") for i in range(3)
    )
    print(
        f"{rounds} rounds passed in {elapsed:.1f}s ({elapsed / rounds:.2f}s/round), "
        f"{len(acked)} acknowledged writes all present; journal reconciled on load "
        f"{reconciled} times"
    )


# -- leader failure -------------------------------------------------------------------


def test_leader_kill9_new_leader_then_old_leader_catches_up(
    make_toy_cluster: Callable[..., ToyCluster],
) -> None:
    cluster = make_toy_cluster(compact_entries=30)
    cluster.start_all()
    old = cluster.wait_leader()
    acked = {f"before{n}": str(n) for n in range(60)}
    latencies = []
    for key, value in acked.items():
        t0 = time.monotonic()
        assert put(cluster, old, key, value) is not None
        latencies.append(time.monotonic() - t0)
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1e3
    killed_at = time.monotonic()
    cluster.kill(old)
    survivors = cluster.alive()
    new = cluster.wait_leader(timeout=10.0, among=survivors)
    failover = time.monotonic() - killed_at
    assert new != old
    for n in range(60):
        key = f"after{n}"
        assert put(cluster, survivors[n % 2], key, key) is not None
        acked[key] = key
    cluster.start(old)
    cluster.barrier(old)
    states = [cluster.call(i, {"op": "state"}) for i in range(3)]
    for state in states:
        assert all(state["items"].get(k) == v for k, v in acked.items())
    assert len({s["digest"] for s in states}) == 1
    print(f"\npropose via leader with fsync (incl. control RPC): p50 {p50:.2f} ms")
    print(f"leader kill -9: new leader after {failover:.2f}s; old leader caught up")


# -- read barrier and leader contact --------------------------------------------------


def test_read_barrier_and_leader_contact(make_toy_cluster: Callable[..., ToyCluster]) -> None:
    cluster = make_toy_cluster()
    cluster.start_all()
    leader = cluster.wait_leader()
    follower = next(i for i in range(3) if i != leader)
    for n in range(20):
        assert put(cluster, leader, f"k{n}", "v") is not None
        cluster.barrier(follower)
        # A barrier returns only once the follower applied everything committed before it.
        assert cluster.call(follower, {"op": "state"})["items"].get(f"k{n}") == "v"

    st = cluster.call(follower, {"op": "status"})
    assert st["contact"] is not None and st["contact"] < 0.5
    assert cluster.call(leader, {"op": "status"})["contact"] < 0.5

    for i in range(3):
        if i != follower:
            cluster.kill(i)
    deadline = time.monotonic() + 5.0
    contact = 0.0
    while time.monotonic() < deadline:
        contact = cluster.call(follower, {"op": "status"})["contact"]
        if contact > 1.5:
            break
        time.sleep(0.1)
    assert contact > 1.5, "seconds_since_leader_contact did not grow without a leader"
    later = cluster.call(follower, {"op": "status"})["contact"]
    assert later >= contact
    t0 = time.monotonic()
    reply = cluster.call(follower, {"op": "barrier", "timeout": 1.0})
    assert not reply["ok"] and reply["error"] in ("NoLeader", "ProposalTimeout")
    assert time.monotonic() - t0 < 3.0
