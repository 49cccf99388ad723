"""Whole-cluster crash: kill -9 every node while writes are in flight, restart, and
check that every acknowledged CreateKey/RotateKey survived with the same key material
on every node. Rounds are seeded; the seed is printed so a failure replays."""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field

from keymgr.client import KeymgrError
from keymgr.ops.devcluster import LocalCluster
from tests.integration.conftest import MakeCluster

ROUNDS = int(os.environ.get("KEYMGR_CRASH_ROUNDS", "20"))


@dataclass
class Acknowledged:
    """Writes the cluster acknowledged, with a ciphertext made right after each one."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    versions: dict[str, int] = field(default_factory=dict)  # key id -> highest acked version
    blobs: list[tuple[str, int, bytes, bytes]] = field(default_factory=list)

    def record(self, key_id: str, version: int, blob: bytes, plain: bytes) -> None:
        with self.lock:
            self.versions[key_id] = max(version, self.versions.get(key_id, 0))
            self.blobs.append((key_id, version, blob, plain))


def writer(cluster: LocalCluster, acked: Acknowledged, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    with cluster.client(timeout=2.0, attempts=2) as client:
        mine: list[str] = []
        while not stop.is_set():
            try:
                if mine and rng.random() < 0.4:
                    key = client.rotate_key(rng.choice(mine))
                else:
                    key = client.create_key(f"k-{seed}-{rng.getrandbits(48):x}")
                    mine.append(key.name)
                plain = rng.randbytes(16)
                blob = client.encrypt(key.id, plain, context={"v": str(key.current_version)})
            except KeymgrError:
                continue  # not acknowledged (or crashed mid-call): proves nothing
            if key.current_version:
                acked.record(key.id, key.current_version, blob, plain)


def verify(cluster: LocalCluster, acked: Acknowledged) -> None:
    with cluster.client() as client:
        for key_id, version in acked.versions.items():
            key = client.get_key(key_id)
            assert key.current_version >= version, (key_id, key.current_version, version)
        nodes = cluster.spec.nodes
        for key_id, version, blob, plain in acked.blobs:
            for node in nodes:
                got = client.decrypt(blob, context={"v": str(version)}, endpoint=node.api)
                assert got == plain, (key_id, version, node.id)


def restart(cluster: LocalCluster, shares: list[str]) -> None:
    cluster.start_all()
    for node in cluster.spec.nodes:
        status = cluster.wait_answering(node.id)
        if status.sealed:
            cluster.unseal(node.id, shares)
    cluster.wait_serving(timeout=30)


def test_whole_cluster_crash_loses_no_acknowledged_write(make_cluster: MakeCluster) -> None:
    seed = int(os.environ.get("KEYMGR_CRASH_SEED", str(random.randrange(1 << 30))))
    print(f"crash test seed {seed} ({ROUNDS} rounds)")
    rng = random.Random(seed)
    # small compaction threshold: dump/journal interplay happens during the rounds
    cluster = make_cluster(log_compaction_min_entries=40)
    shares = cluster.bring_up()
    acked = Acknowledged()
    for round_number in range(ROUNDS):
        stop = threading.Event()
        threads = [
            threading.Thread(target=writer, args=(cluster, acked, stop, rng.getrandbits(32)))
            for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        time.sleep(rng.uniform(0.3, 1.0))
        cluster.kill_all()  # SIGKILL all three while the writers are mid-flight
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        restart(cluster, shares)
        verify(cluster, acked)
        print(f"round {round_number}: {len(acked.blobs)} acknowledged writes intact")
    assert len(acked.blobs) > ROUNDS  # the rounds really wrote something
