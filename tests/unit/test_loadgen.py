"""The closed-loop load generator against fake async operations."""

from __future__ import annotations

import asyncio
import json
import math
import os
import time

import pytest

from keymgr_bench.loadgen import LoadResult, median_of, percentile, process_cpu_s, run_load


def test_sleep_op_throughput_and_latency() -> None:
    async def op(worker: int) -> None:
        await asyncio.sleep(0.01)

    result = asyncio.run(run_load(op, concurrency=8, duration_s=0.6, warmup_s=0.1))
    assert result.errors == 0
    assert result.concurrency == 8
    assert 0.55 <= result.duration_s <= 1.0
    # 8 workers x ~100 ops/s each (sleep granularity makes it a bit less)
    assert 300 <= result.ops_per_s <= 850
    assert 9.5 <= result.p50_ms <= 40
    assert result.p50_ms <= result.p99_ms <= result.max_ms
    assert math.isnan(result.cpu_ms_per_op)  # no pids given


def test_every_worker_index_is_used() -> None:
    seen: set[int] = set()

    async def op(worker: int) -> None:
        seen.add(worker)
        await asyncio.sleep(0.005)

    asyncio.run(run_load(op, concurrency=5, duration_s=0.2, warmup_s=0.0))
    assert seen == {0, 1, 2, 3, 4}


def test_errors_are_counted_and_do_not_stop_the_run() -> None:
    calls = 0

    async def op(worker: int) -> None:
        nonlocal calls
        calls += 1
        if calls % 2:
            raise RuntimeError("boom")  # fails without awaiting
        await asyncio.sleep(0.005)

    result = asyncio.run(run_load(op, concurrency=4, duration_s=0.3, warmup_s=0.05))
    assert result.ops > 0
    assert result.errors > 0
    assert result.error_sample.startswith("RuntimeError: boom")


def test_warmup_ops_are_not_recorded() -> None:
    async def op(worker: int) -> None:
        await asyncio.sleep(0.05)

    result = asyncio.run(run_load(op, concurrency=1, duration_s=0.25, warmup_s=0.3))
    # ~5 ops in the window, none of the ~6 warm-up ones
    assert 3 <= result.ops <= 6


def test_cpu_of_own_process_with_busy_op() -> None:
    async def op(worker: int) -> None:
        end = time.process_time() + 0.002
        while time.process_time() < end:  # burn 2 ms of CPU, however busy the machine
            pass
        await asyncio.sleep(0)

    result = asyncio.run(
        run_load(op, concurrency=2, duration_s=0.5, warmup_s=0.05, pids=[os.getpid()])
    )
    assert result.pids == [os.getpid()]
    assert result.pids_lost == []
    # busy for as much of the window as the machine gives it (clock ticks are 10 ms)
    assert 0.05 <= result.cpu_s <= 0.7
    assert result.cpu_ms_per_op == pytest.approx(result.cpu_s * 1e3 / result.ops)
    assert result.cpu_ms_per_1000_ops == pytest.approx(result.cpu_s * 1e6 / result.ops)
    # each op burns ~2 ms of CPU
    assert 1.5 <= result.cpu_ms_per_op <= 4.0


def test_median_of_keeps_one_whole_run() -> None:
    def run(ops_per_s: float, p50: float, errors: int) -> LoadResult:
        return LoadResult(
            ops=int(ops_per_s),
            errors=errors,
            ops_per_s=ops_per_s,
            p50_ms=p50,
            p99_ms=2 * p50,
            cpu_s=1.0,
            cpu_ms_per_1000_ops=1.0,
            samples_ops_per_s=[ops_per_s],
        )

    med = median_of([run(300, 3.0, 0), run(100, 1.0, 2), run(200, 2.0, 1)])
    assert (med.ops_per_s, med.p50_ms, med.p99_ms) == (200, 2.0, 4.0)
    assert med.samples_ops_per_s == [300, 100, 200]
    assert med.errors == 3
    assert median_of([run(100, 1.0, 0), run(200, 2.0, 0)]).ops_per_s == 100
    with pytest.raises(ValueError):
        median_of([])


def test_host_cpu_covers_server_and_client() -> None:
    async def op(worker: int) -> None:
        end = time.perf_counter() + 0.001
        while time.perf_counter() < end:
            pass
        await asyncio.sleep(0)

    result = asyncio.run(run_load(op, concurrency=1, duration_s=0.3, warmup_s=0.0))
    assert result.host_cpu_s >= 0.5 * result.client_cpu_s
    assert result.other_cpu_s >= 0.0
    assert len(result.samples_ops_per_s) == 1


def test_hanging_op_does_not_hang_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("keymgr_bench.loadgen.DRAIN_TIMEOUT_S", 0.2)

    async def op(worker: int) -> None:
        await asyncio.sleep(3600)

    began = time.perf_counter()
    result = asyncio.run(run_load(op, concurrency=3, duration_s=0.1, warmup_s=0.0))
    assert time.perf_counter() - began < 2.0
    assert result.ops == 0
    assert math.isnan(result.p50_ms)


def test_to_json_round_trip() -> None:
    async def op(worker: int) -> None:
        await asyncio.sleep(0.001)

    result = asyncio.run(run_load(op, concurrency=2, duration_s=0.1, warmup_s=0.0))
    data = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert data["cpu_ms_per_op"] is None
    back = LoadResult.from_json(data)
    assert back.ops == result.ops
    assert back.p99_ms == result.p99_ms
    assert math.isnan(back.cpu_ms_per_op)


def test_bad_arguments() -> None:
    async def op(worker: int) -> None:
        return None

    with pytest.raises(ValueError):
        asyncio.run(run_load(op, concurrency=0, duration_s=1))
    with pytest.raises(ValueError):
        asyncio.run(run_load(op, concurrency=1, duration_s=0))


def test_percentile_nearest_rank() -> None:
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([7.0], 0.99) == 7.0
    assert math.isnan(percentile([], 0.5))


def test_process_cpu_s_of_self() -> None:
    assert process_cpu_s(os.getpid()) > 0
