"""A closed-loop load generator: N asyncio workers, latency percentiles, server CPU.

Each of `concurrency` workers awaits `op(worker_index)` in a loop. The first
`warmup_s` seconds are not recorded; then a window of `duration_s` seconds is. An
operation counts when it *completes* inside the window. Errors are counted and the
worker carries on. Server CPU is read from `/proc/<pid>/stat` (utime + stime, which
cover every thread of the process) at the window's edges.

Units: `cpu_ms_per_op` is server CPU milliseconds per operation, which is the same
number as server CPU *seconds* per 1,000 operations. `cpu_ms_per_1000_ops` is what its
name says: milliseconds per 1,000 operations (= microseconds per operation).
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

Op = Callable[[int], Awaitable[None]]

# After the window closes, in-flight operations get this long to finish before they
# are cancelled (they do not count either way).
DRAIN_TIMEOUT_S = 15.0

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by process `pid` (all its threads)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    # the command name (field 2) is in parentheses and may itself contain spaces
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _CLK_TCK


def host_busy_cpu_s() -> float:
    """Non-idle CPU seconds of the whole machine (all cores) since boot."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    return (user + nice + system + irq + softirq + steal) / _CLK_TCK


def _cpu_of(pids: Sequence[int]) -> dict[int, float]:
    """CPU seconds per pid; pids that are gone are left out."""
    out: dict[int, float] = {}
    for pid in pids:
        try:
            out[pid] = process_cpu_s(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 1]) of an ascending sequence; NaN if empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class LoadResult:
    """What one load window measured."""

    ops: int
    errors: int
    ops_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_s: float
    cpu_ms_per_1000_ops: float
    cpu_ms_per_op: float = math.nan
    mean_ms: float = math.nan
    max_ms: float = math.nan
    concurrency: int = 0
    duration_s: float = 0.0
    client_cpu_s: float = 0.0
    host_cpu_s: float = 0.0
    samples_ops_per_s: list[float] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    pids_lost: list[int] = field(default_factory=list)
    error_sample: str = ""

    @property
    def other_cpu_s(self) -> float:
        """Machine CPU used by neither the server pids nor this process (noise)."""
        return max(0.0, self.host_cpu_s - self.cpu_s - self.client_cpu_s)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; NaN becomes None."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            out[key] = None if isinstance(value, float) and math.isnan(value) else value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadResult:
        """The inverse of `to_json` (unknown keys are ignored)."""
        known = set(cls.__dataclass_fields__)
        kwargs: dict[str, Any] = {
            k: (math.nan if v is None else v) for k, v in data.items() if k in known
        }
        return cls(**kwargs)


@dataclass
class _Window:
    start: float = math.inf
    end: float = math.inf
    stop: bool = False
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_sample: str = ""


async def _worker(op: Op, index: int, window: _Window) -> None:
    clock = time.perf_counter
    while not window.stop:
        began = clock()
        try:
            await op(index)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            done = clock()
            if window.start <= done <= window.end:
                window.errors += 1
                if not window.error_sample:
                    window.error_sample = f"{type(exc).__name__}: {exc}"[:500]
            # an op that fails without awaiting must not starve the other workers
            await asyncio.sleep(0)
            continue
        done = clock()
        if window.start <= done <= window.end:
            window.latencies.append(done - began)


async def run_load(
    op: Op,
    *,
    concurrency: int,
    duration_s: float,
    warmup_s: float = 1.0,
    pids: Sequence[int] = (),
) -> LoadResult:
    """Run `op` closed-loop from `concurrency` workers; measure a `duration_s` window."""
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    if duration_s <= 0 or warmup_s < 0:
        raise ValueError("duration_s must be > 0 and warmup_s >= 0")
    for pid in pids:
        process_cpu_s(pid)  # fail early on a wrong pid
    window = _Window()
    tasks = [asyncio.create_task(_worker(op, i, window)) for i in range(concurrency)]
    try:
        await asyncio.sleep(warmup_s)
        cpu_before = _cpu_of(pids)
        client_before = time.process_time()
        host_before = host_busy_cpu_s()
        window.start = time.perf_counter()
        await asyncio.sleep(duration_s)
        window.end = time.perf_counter()
        cpu_after = _cpu_of(pids)
        client_after = time.process_time()
        host_after = host_busy_cpu_s()
        window.stop = True
        _done, pending = await asyncio.wait(tasks, timeout=DRAIN_TIMEOUT_S)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    elapsed = window.end - window.start
    lost = [pid for pid in pids if pid not in cpu_before or pid not in cpu_after]
    cpu_s = sum(cpu_after[p] - cpu_before[p] for p in pids if p not in lost)
    lat = sorted(window.latencies)
    ops = len(lat)
    return LoadResult(
        ops=ops,
        errors=window.errors,
        ops_per_s=ops / elapsed,
        p50_ms=percentile(lat, 0.50) * 1e3,
        p99_ms=percentile(lat, 0.99) * 1e3,
        cpu_s=cpu_s,
        cpu_ms_per_1000_ops=cpu_s * 1e6 / ops if ops and pids else math.nan,
        cpu_ms_per_op=cpu_s * 1e3 / ops if ops and pids else math.nan,
        mean_ms=sum(lat) / ops * 1e3 if ops else math.nan,
        max_ms=lat[-1] * 1e3 if ops else math.nan,
        concurrency=concurrency,
        duration_s=elapsed,
        client_cpu_s=client_after - client_before,
        host_cpu_s=host_after - host_before,
        samples_ops_per_s=[ops / elapsed],
        pids=list(pids),
        pids_lost=lost,
        error_sample=window.error_sample,
    )


def median_of(results: Sequence[LoadResult]) -> LoadResult:
    """The run with the median ops/s (the lower one for an even count), whole.

    Keeping one real run keeps its latencies and CPU consistent with each other;
    `samples_ops_per_s` lists every run's ops/s and `errors` sums all runs.
    """
    if not results:
        raise ValueError("no results")
    ordered = sorted(results, key=lambda r: r.ops_per_s)
    chosen = ordered[(len(ordered) - 1) // 2]
    return replace(
        chosen,
        errors=sum(r.errors for r in results),
        samples_ops_per_s=[r.ops_per_s for r in results],
        error_sample=next((r.error_sample for r in results if r.error_sample), ""),
    )


async def run_rounds(
    ops: dict[str, Op],
    *,
    side: str,
    scenarios: Sequence[str],
    concurrencies: Sequence[int],
    duration_s: float,
    warmup_s: float,
    repeats: int,
    pids: Sequence[int],
    progress: Callable[[str], None] | None = None,
) -> dict[tuple[str, int], LoadResult]:
    """Every scenario at every concurrency, `repeats` rounds; the median run of each.

    Rounds go through the whole list before repeating, so slow drift or noise from
    other processes spreads over all scenarios instead of hitting one.
    """
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    unknown = [s for s in scenarios if s not in ops]
    if unknown:
        raise ValueError(f"unknown scenarios: {unknown}; known: {sorted(ops)}")
    runs: dict[tuple[str, int], list[LoadResult]] = {}
    for round_no in range(1, repeats + 1):
        for name in scenarios:
            for concurrency in concurrencies:
                result = await run_load(
                    ops[name],
                    concurrency=concurrency,
                    duration_s=duration_s,
                    warmup_s=warmup_s,
                    pids=pids,
                )
                runs.setdefault((name, concurrency), []).append(result)
                if progress is not None:
                    progress(
                        f"[{round_no}/{repeats}] {side} {name} c={concurrency}: "
                        + describe_run(result)
                    )
    return {key: median_of(results) for key, results in runs.items()}


def describe_run(result: LoadResult) -> str:
    """One progress line's figures for a run."""
    span = result.duration_s or 1.0
    return (
        f"{result.ops_per_s:,.0f} ops/s p50 {result.p50_ms:.2f} ms "
        f"p99 {result.p99_ms:.2f} ms cpu {result.cpu_ms_per_op:.3f} ms/op "
        f"errors {result.errors} load {100 * result.client_cpu_s / span:.0f}% "
        f"other {100 * result.other_cpu_s / span:.0f}%"
        + (f" ({result.error_sample})" if result.error_sample else "")
    )
