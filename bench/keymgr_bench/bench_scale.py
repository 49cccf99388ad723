"""`keymgr bench-scale`: what a node costs as the number of keys grows (not a test).

A fresh local 3-node cluster (file seals, TLS, fsync on) is filled to each key count in
turn through the public API (CreateKey, many calls in flight; the leader batches them
into Raft entries), every key with a rotation period so the rotation index is full.
At each count, on the normal code paths:

- memory per key: growth of each node's RSS since before the first key, per key;
- idle CPU per node: CPU seconds over a quiet window, in cores;
- snapshot: the newest dump each node wrote (size, time the tick thread spent cutting
  the state, time the worker took to write and fsync it), from the node logs; the
  compaction threshold is lowered so dumps happen while keys are loaded;
- restart to serving: a follower stopped (SIGTERM) and started; time until it serves;
- catch-up: a follower's Raft directory removed; time until it has applied the
  leader's commit index (it receives the leader's snapshot);
- elections: whether the term changed while loading, restarting and catching up.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import grpc

from keymgr.ops.devcluster import LocalCluster, default_spec
from keymgr.v1 import keys_pb2, operator_pb2
from keymgr_bench.bench_keymgr import KeymgrTarget
from keymgr_bench.loadgen import process_cpu_s

ROTATION_PERIOD_S = 30 * 86400
COMPACTION_ENTRIES = 200
IDLE_WINDOW_S = 3.0
_DUMP_LINE = re.compile(
    r"wrote the Raft dump at index (\d+): (\d+) snapshot bytes, state cut in the tick "
    r"thread in ([\d.]+) s, written and synced by a worker in ([\d.]+) s"
)
_RESTORE_LINE = re.compile(r"restored the state machine \((\d+) bytes\) in ([\d.]+) s")


@dataclass
class ScalePoint:
    keys: int
    load_s: float
    rss_bytes_per_key: float
    idle_cores: list[float]
    dump_bytes: int
    dump_cut_s: float
    dump_write_s: float
    restart_to_serving_s: float
    restart_restore_s: float
    catch_up_s: float
    catch_up_restore_s: float
    elections: list[str]  # phases during which the term changed


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _status(cluster: LocalCluster, node_id: str) -> operator_pb2.NodeStatus:
    with cluster.client([node_id], attempts=1, timeout=5.0) as client:
        status: operator_pb2.NodeStatus = client.local_status(endpoint=cluster.node(node_id).api)
        return status


def _roles(cluster: LocalCluster) -> tuple[str, list[str], int]:
    """(leader id, follower ids, term) as the first answering node reports them."""
    with cluster.client(timeout=5.0) as client:
        status = client.cluster_status()
    leader = status.leader_id
    term = max(n.term for n in status.nodes)
    return leader, [n.node_id for n in status.nodes if n.node_id != leader], term


async def _load(target: KeymgrTarget, leader: str, start: int, stop: int, in_flight: int) -> None:
    stub = target.stub(leader)
    numbers = iter(range(start, stop))

    async def worker() -> None:
        for n in numbers:
            request = keys_pb2.CreateKeyRequest(
                name=f"scale-{n:08d}",
                rotation_period_seconds=ROTATION_PERIOD_S,
                request_id=f"scale-{n}",
            )
            for attempt in range(5):
                try:
                    await stub.CreateKey(request, timeout=30)
                    break
                except grpc.aio.AioRpcError as exc:
                    if exc.code() == grpc.StatusCode.ALREADY_EXISTS or attempt == 4:
                        if exc.code() == grpc.StatusCode.ALREADY_EXISTS:
                            break
                        raise
                    await asyncio.sleep(0.2)

    await asyncio.gather(*(worker() for _ in range(in_flight)))


def _last_match(path: Path, pattern: re.Pattern[str]) -> re.Match[str] | None:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    matches = list(pattern.finditer(text))
    return matches[-1] if matches else None


def _idle_cores(pids: Sequence[int], window_s: float) -> list[float]:
    before = [process_cpu_s(p) for p in pids]
    time.sleep(window_s)
    return [round((process_cpu_s(p) - b) / window_s, 4) for p, b in zip(pids, before, strict=True)]


def _wait_applied(cluster: LocalCluster, node_id: str, index: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = _status(cluster, node_id)
            if status.applied_index >= index and status.serving:
                return
        except Exception:  # not answering yet
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{node_id} did not reach index {index} within {timeout:.0f}s")


async def bench_scale(
    counts: Sequence[int],
    *,
    in_flight: int = 64,
    work_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[ScalePoint]:
    say = progress or (lambda _line: None)
    points: list[ScalePoint] = []
    with tempfile.TemporaryDirectory(prefix="keymgr-scale-", dir=work_dir) as root:
        spec = default_spec(3)
        spec.log_compaction_min_entries = COMPACTION_ENTRIES
        cluster = LocalCluster(Path(root), spec)
        target = KeymgrTarget(cluster)
        try:
            cluster.bring_up()
            ids = [n.id for n in spec.nodes]
            time.sleep(1.0)
            baseline = {i: _rss(cluster.pid(i)) for i in ids}
            loaded = 0
            for count in sorted(counts):
                leader, followers, term = _roles(cluster)
                started = time.monotonic()
                await _load(target, leader, loaded, count, in_flight)
                load_s = time.monotonic() - started
                loaded = count
                say(f"{count:,} keys loaded in {load_s:.1f} s ({(count / load_s):,.0f}/s overall)")
                time.sleep(2.0)
                pids = [cluster.pid(i) for i in ids]
                rss = [(_rss(cluster.pid(i)) - baseline[i]) / count for i in ids]
                idle = _idle_cores(pids, IDLE_WINDOW_S)
                dump = _last_match(cluster.log_path(leader), _DUMP_LINE)
                elections = []
                leader, followers, term_now = _roles(cluster)
                if term_now != term:
                    elections.append("load")
                # restart a follower: its dump is restored before its Raft core starts
                restarted = followers[0]
                cluster.stop(restarted)
                started = time.monotonic()
                cluster.start(restarted)
                cluster.wait_serving([restarted], timeout=600)
                restart_s = time.monotonic() - started
                restore = _last_match(cluster.log_path(restarted), _RESTORE_LINE)
                leader, _, term_then = _roles(cluster)
                if term_then != term_now:
                    elections.append("restart")
                # a follower that lost its Raft directory receives the leader's snapshot
                rebuilt = followers[1]
                cluster.stop(rebuilt)
                shutil.rmtree(cluster.data_dir(rebuilt) / "raft")
                target_index = _status(cluster, leader).commit_index
                started = time.monotonic()
                cluster.start(rebuilt)
                _wait_applied(cluster, rebuilt, target_index, timeout=900)
                catch_up_s = time.monotonic() - started
                installed = _last_match(cluster.log_path(rebuilt), _RESTORE_LINE)
                _, _, term_after = _roles(cluster)
                if term_after != term_then:
                    elections.append("catch-up")
                point = ScalePoint(
                    keys=count,
                    load_s=round(load_s, 2),
                    rss_bytes_per_key=round(sum(rss) / len(rss)),
                    idle_cores=idle,
                    dump_bytes=int(dump.group(2)) if dump else 0,
                    dump_cut_s=float(dump.group(3)) if dump else 0.0,
                    dump_write_s=float(dump.group(4)) if dump else 0.0,
                    restart_to_serving_s=round(restart_s, 2),
                    restart_restore_s=float(restore.group(2)) if restore else 0.0,
                    catch_up_s=round(catch_up_s, 2),
                    catch_up_restore_s=float(installed.group(2)) if installed else 0.0,
                    elections=elections,
                )
                points.append(point)
                say(format_point(point))
        finally:
            await target.close()
            cluster.close()
    return points


def format_point(p: ScalePoint) -> str:
    return (
        f"{p.keys:>9,} keys | RSS {p.rss_bytes_per_key:,.0f} B/key | idle CPU "
        f"{', '.join(f'{c:.3f}' for c in p.idle_cores)} cores | dump {p.dump_bytes / p.keys:.0f} "
        f"B/key, cut {p.dump_cut_s * 1000:.1f} ms in tick, written in {p.dump_write_s:.2f} s | "
        f"restart to serving {p.restart_to_serving_s:.2f} s (restore {p.restart_restore_s:.2f} s)"
        f" | catch-up {p.catch_up_s:.2f} s (restore {p.catch_up_restore_s:.2f} s) | "
        f"elections: {', '.join(p.elections) or 'none'}"
    )


def to_json(points: Sequence[ScalePoint]) -> list[dict[str, Any]]:
    return [asdict(p) for p in points]
