"""The closed-loop load generator against fake async operations."""

from __future__ import annotations

import asyncio
import json
import math
import os
import time

import pytest

from keymgr.ops.loadgen import LoadResult, percentile, process_cpu_s, run_load


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
        end = time.perf_counter() + 0.002
        while time.perf_counter() < end:  # burn CPU in this process
            pass
        await asyncio.sleep(0)

    result = asyncio.run(
        run_load(op, concurrency=2, duration_s=0.5, warmup_s=0.05, pids=[os.getpid()])
    )
    assert result.pids == [os.getpid()]
    assert result.pids_lost == []
    # the loop is busy nearly the whole window (clock ticks are 10 ms)
    assert 0.3 <= result.cpu_s <= 0.7
    assert result.cpu_ms_per_op == pytest.approx(result.cpu_s * 1e3 / result.ops)
    assert result.cpu_ms_per_1000_ops == pytest.approx(result.cpu_s * 1e6 / result.ops)
    # each op burns ~2 ms of CPU
    assert 1.5 <= result.cpu_ms_per_op <= 4.0


def test_hanging_op_does_not_hang_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("keymgr.ops.loadgen.DRAIN_TIMEOUT_S", 0.2)

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
