"""`keymgr bench-clients`: what the real clients see, on a fresh local 3-node cluster.

- volume unlock latency through the agent path (UnwrapVolumeKey over mTLS, then
  `cryptsetup open --test-passphrase` with the key on stdin), p50/p99; and the unwrap
  RPC alone, to separate the cluster's share from cryptsetup's;
- GetMasterKey throughput: closed loop, N threads, one client each (what TDE plugins
  and the gateway do on a cache miss).
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keymgr.agents.cryptsetup import Cryptsetup
from keymgr.agents.volume import VolumeAgent
from keymgr.ops.devcluster import LocalCluster, default_spec
from keymgr.v1 import keys_pb2
from keymgr_bench.loadgen import percentile


@dataclass
class Latencies:
    samples_ms: list[float]

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.samples_ms)
        return {
            "count": len(ordered),
            "p50_ms": round(percentile(ordered, 0.50), 2),
            "p99_ms": round(percentile(ordered, 0.99), 2),
            "max_ms": round(ordered[-1], 2) if ordered else float("nan"),
        }


def _timed(run: Callable[[], object], count: int) -> Latencies:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return Latencies(samples)


def _throughput(make: Callable[[], Callable[[], object]], threads: int, seconds: float) -> float:
    counts = [0] * threads
    stop = threading.Event()
    barrier = threading.Barrier(threads + 1)

    def worker(index: int) -> None:
        call = make()
        call()  # warm the channel
        barrier.wait()
        while not stop.is_set():
            call()
            counts[index] += 1

    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    elapsed = time.perf_counter() - started
    for w in workers:
        w.join(30)
    return sum(counts) / elapsed


def bench_clients(
    *,
    unlocks: int = 100,
    threads: int = 8,
    seconds: float = 5.0,
    fast_kdf: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    say = progress or (lambda _: None)
    with tempfile.TemporaryDirectory(prefix="keymgr-bench-clients-") as root:
        cluster = LocalCluster(Path(root), default_spec(3))
        try:
            say("starting a local 3-node cluster")
            cluster.bring_up()
            with cluster.client() as admin:
                admin.create_key("bench-volumes", purpose=keys_pb2.KEY_PURPOSE_VOLUME)
                admin.create_key("mariadb-1", purpose=keys_pb2.KEY_PURPOSE_TDE)
                for node in cluster.spec.nodes:
                    admin.get_master_key("bench-db", "mariadb-1", endpoint=node.api)
            image = Path(root) / "bench.img"
            with open(image, "wb") as f:
                f.truncate(20 * 1024 * 1024)
            client = cluster.client()
            agent = VolumeAgent(client, Cryptsetup(fast_kdf=fast_kdf), host_id="bench-host")
            token = agent.format(image, "bench-volumes", "bench-vol")
            agent.unlock(image, verify_only=True)
            say(f"unlocking {unlocks} times through the agent path")
            unlock = _timed(lambda: agent.unlock(image, verify_only=True), unlocks)
            unwrap = _timed(
                lambda: client.unwrap_volume_key(
                    token.volume_id, token.wrapped_key, host_id="bench-host"
                ),
                unlocks,
            )
            client.close()
            say(f"GetMasterKey with {threads} threads for {seconds:g}s")

            def make() -> Callable[[], object]:
                own = cluster.client()
                return lambda: own.get_master_key("bench-db", "mariadb-1")

            rate = _throughput(make, threads, seconds)
            return {
                "kdf": "pbkdf2, 1000 iterations" if fast_kdf else "cryptsetup default",
                "unlock_agent_path": unlock.summary(),
                "unwrap_rpc_only": unwrap.summary(),
                "get_master_key": {
                    "threads": threads,
                    "seconds": seconds,
                    "ops_per_s": round(rate, 1),
                },
            }
        finally:
            cluster.close()
