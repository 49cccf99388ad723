"""Local storage faults and snapshot transfer, on toy Raft clusters (real processes, TCP).

Each test first reproduces a defect found by outside fault injection (issue 10):
a torn journal tail that wedged the node, an acknowledged entry lost from a leader's
journal that let two different entries be acknowledged at one index, a corrupt dump
that stopped the node for good, and a snapshot transfer that installed a truncated dump.
"""

from __future__ import annotations

import os
import random
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from keymgr.ops.faultproxy import FaultProxy
from keymgr.ops.ports import free_port
from tests.integration.raft_toy_cluster import ToyCluster, put

MakeToy = Callable[..., ToyCluster]


def journal_path(cluster: ToyCluster, i: int) -> Path:
    return cluster.data_dir(i) / "raft.journal"


def cut_inside_last_record(path: Path) -> int:
    """Truncates the journal in the middle of its last record; returns bytes removed."""
    data = path.read_bytes()
    # records: u32 length | u32 crc | body; walk them to find the last one's start
    pos, last = 8, 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        if pos + 8 + length > len(data):
            break
        last, pos = pos, pos + 8 + length
    keep = last + (pos - last) // 2
    with open(path, "r+b") as f:
        f.truncate(keep)
    return len(data) - keep


def write_keys(
    cluster: ToyCluster, node: int, prefix: str, count: int, value: str | None = None
) -> dict[str, str]:
    """Puts `count` keys through `node`; returns the acknowledged ones (value vN unless given)."""
    acked: dict[str, str] = {}
    for n in range(count):
        key = f"{prefix}{n}"
        if put(cluster, node, key, value or f"v{n}") is not None:
            acked[key] = value or f"v{n}"
    return acked


def started_with_writes(cluster: ToyCluster, count: int) -> tuple[int, int, dict[str, str]]:
    """Starts the cluster, writes `count` keys; (leader, a caught-up follower, acked)."""
    cluster.start_all()
    leader = cluster.wait_leader()
    acked = write_keys(cluster, leader, "a", count)
    follower = next(i for i in range(3) if i != leader)
    cluster.barrier(follower)
    return leader, follower, acked


def assert_all_present(states: list[dict[str, object]], acked: dict[str, str]) -> None:
    for state in states:
        items = state["items"]
        assert isinstance(items, dict)
        missing = [k for k, v in acked.items() if items.get(k) != v]
        assert not missing, f"{len(missing)} acknowledged writes missing, e.g. {missing[:3]}"


def wait_not_recovering(cluster: ToyCluster, i: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    status: dict[str, object] = {}
    while time.monotonic() < deadline:
        status = cluster.call(i, {"op": "status"})
        if status["recovering"] is None and status["error"] is None:
            return
        time.sleep(0.05)
    raise TimeoutError(f"node {i} still recovering: {status}")


def test_torn_journal_tail_is_cut_back_and_the_node_rejoins(make_toy_cluster: MakeToy) -> None:
    cluster = make_toy_cluster()
    leader, follower, acked = started_with_writes(cluster, 60)
    cluster.kill(follower)
    assert cut_inside_last_record(journal_path(cluster, follower)) > 0
    acked |= write_keys(cluster, leader, "b", 20)

    cluster.start(follower)  # before the fix: every tick raised (or start failed)
    status = cluster.call(follower, {"op": "status"})
    assert status["recovering"] and "torn" in status["recovering"], status
    wait_not_recovering(cluster, follower)
    acked |= write_keys(cluster, leader, "c", 20)
    assert_all_present(cluster.wait_state([0, 1, 2]), acked)
    text = cluster.log_text(follower)
    assert "Traceback" not in text, text[-2000:]
    assert text.count("torn record") == 3, text[-2000:]  # cut back, recovering, caught up


def test_an_acknowledged_entry_lost_from_one_journal_is_never_overwritten(
    make_toy_cluster: MakeToy,
) -> None:
    """The leader loses the last entry it acknowledged; it must not lead without it.

    Writes commit on {A, B} while C is down; A's journal then loses its last record.
    With only A and C up, a Raft that trusts A's log elects A or C and gives index N to
    a new write: two values acknowledged at one index once B returns. Here A refuses to
    vote or stand until it has caught up, so no leader exists until B is back.
    """
    cluster = make_toy_cluster()
    cluster.start_all()
    a = cluster.wait_leader()
    b, c = (i for i in range(3) if i != a)
    write_keys(cluster, a, "warm", 5)
    cluster.barrier(c)
    cluster.kill(c)
    acked = write_keys(cluster, a, "k", 30)
    assert len(acked) == 30
    cluster.kill(a)
    cluster.kill(b)
    assert cut_inside_last_record(journal_path(cluster, a)) > 0

    cluster.start(a)
    cluster.start(c)
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        for i in (a, c):
            status = cluster.call(i, {"op": "status"})
            assert not (status["role"] == "leader" and status["quorum"]), (
                f"node {i} leads a majority that may lack an acknowledged entry: {status}"
            )
        time.sleep(0.05)

    cluster.start(b)
    leader = cluster.wait_leader()
    acked |= write_keys(cluster, leader, "after", 10)
    assert_all_present(cluster.wait_state([0, 1, 2]), acked)
    for i in range(3):
        assert "diverged" not in cluster.log_text(i)


def test_corrupt_dump_is_set_aside_and_rebuilt_from_the_leader(make_toy_cluster: MakeToy) -> None:
    cluster = make_toy_cluster(compact_entries=40)
    leader, follower, acked = started_with_writes(cluster, 150)
    cluster.call(follower, {"op": "compact"})
    dump = cluster.data_dir(follower) / "raft.dump"
    deadline = time.monotonic() + 10
    while not dump.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    cluster.kill(follower)
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    acked |= write_keys(cluster, leader, "b", 60)
    cluster.call(leader, {"op": "compact"})

    cluster.start(follower)  # before the fix: "cannot load the Raft dump", exit, forever
    assert (cluster.data_dir(follower) / "raft.dump.damaged").exists()
    wait_not_recovering(cluster, follower)
    assert_all_present(cluster.wait_state([0, 1, 2]), acked)


def test_snapshot_transfer_over_a_cutting_link_never_installs_a_partial_dump(
    make_toy_cluster: MakeToy,
) -> None:
    """A follower catches up by snapshot while its links are cut again and again."""
    cluster = make_toy_cluster(compact_entries=50)
    proxies: list[FaultProxy] = []
    for i in range(3):
        for j in range(3):
            if i != j:
                proxy = FaultProxy(f"127.0.0.1:{free_port()}", cluster.addresses[j])
                proxy.start()
                proxies.append(proxy)
                cluster.dial[i][cluster.addresses[j]] = proxy.listen
    stop = threading.Event()

    def cut_repeatedly() -> None:
        rng = random.Random(7)
        while not stop.is_set():
            time.sleep(rng.uniform(0.003, 0.03))
            victims = [p for p in proxies if rng.random() < 0.7]
            for proxy in victims:
                proxy.set_mode("partition")
            time.sleep(0.01)
            for proxy in victims:
                proxy.set_mode("pass")

    cutter = threading.Thread(target=cut_repeatedly)
    try:
        cluster.start_all()
        leader = cluster.wait_leader()
        follower = next(i for i in range(3) if i != leader)
        cluster.kill(follower)
        big = "x" * 20000
        acked = write_keys(cluster, leader, "k", 300, big)
        cluster.call(leader, {"op": "compact"})
        time.sleep(0.5)
        cutter.start()
        cluster.start(follower)
        time.sleep(4.0)
        stop.set()
        cutter.join(10)
        leader = cluster.wait_leader()
        wait_not_recovering(cluster, follower, timeout=40)
        assert_all_present(cluster.wait_state([0, 1, 2], timeout=40), acked)
        dump = cluster.data_dir(follower) / "raft.dump"
        assert dump.exists() and os.path.getsize(dump) > 100 * 20000
        cluster.kill(follower)
        cluster.start(follower)  # the installed dump loads: it was whole
        assert cluster.call(follower, {"op": "status"})["error"] is None
        text = cluster.log_text(follower)
        assert "Traceback" not in text and "cannot load" not in text, text[-2000:]
    finally:
        stop.set()
        for proxy in proxies:
            proxy.close()


def test_a_full_disk_stops_acknowledgements_and_the_node_heals_by_itself(
    make_toy_cluster: MakeToy,
) -> None:
    """RLIMIT_FSIZE (set from outside with prlimit) makes journal growth fail: EFBIG."""
    import resource

    cluster = make_toy_cluster()
    leader, follower, acked = started_with_writes(cluster, 30)
    proc = cluster.procs[follower]
    assert proc is not None
    size = journal_path(cluster, follower).stat().st_size
    unlimited = resource.prlimit(proc.pid, resource.RLIMIT_FSIZE)
    resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (size + 100, unlimited[1]))
    try:
        acked |= write_keys(cluster, leader, "b", 40)  # the other two still commit
        status = cluster.call(follower, {"op": "status"})
        assert status["error"] and "storage failed" in status["error"], status
        assert len(acked) == 70
    finally:
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, unlimited)
    wait_not_recovering(cluster, follower, timeout=30)
    acked |= write_keys(cluster, leader, "c", 10)
    assert_all_present(cluster.wait_state([0, 1, 2]), acked)
    text = cluster.log_text(follower)
    assert "Traceback" not in text, text[-3000:]
    assert text.count("not acknowledging anything") == 1, text[-3000:]


def test_a_node_that_compacts_on_its_first_tick_can_still_send_snapshots(
    make_toy_cluster: MakeToy,
) -> None:
    """A stall found by the whole-cluster kill test (issue 16 follow-up): a node restarted
    with a journal past the compaction threshold compacted in its very first tick,
    before the adapter had put its own dump writer in place; pysyncobj's serializer was
    left marked busy for good, so as leader it could never send a snapshot and a follower
    that needed one waited forever (read barriers on it never succeeded)."""
    cluster = make_toy_cluster(compact_entries=100_000)  # no compaction unless asked
    leader, _, acked = started_with_writes(cluster, 60)
    for i in range(3):
        cluster.barrier(i)
        cluster.call(i, {"op": "compact"})  # each node restarts from a dump...
    acked |= write_keys(cluster, leader, "a2-", 120)  # ...and 120 journal entries past it
    for i in range(3):
        cluster.barrier(i)
    cluster.kill_all()
    cluster.compact_entries = 40  # every node compacts in its first tick after the restart
    cluster.start_all()
    leader = cluster.wait_leader()
    acked |= write_keys(cluster, leader, "b", 60)  # the leader's log moves past 120
    cluster.call(leader, {"op": "compact"})
    lagging = next(i for i in range(3) if i != leader)
    cluster.kill(lagging)
    shutil.rmtree(cluster.data_dir(lagging))  # it needs the leader's snapshot to rejoin
    cluster.start(lagging)
    cluster.barrier(lagging, timeout=20.0)
    assert_all_present(cluster.wait_state([0, 1, 2]), acked)
