"""Calls answered, by method and gRPC code: counts, total seconds and latency buckets.

One tally per serving process. A worker process drains its tally and sends the rows to
its Raft process (`worker_wire` METRICS frames) every `PUSH_PERIOD_S`, where they are
merged into the node's tally: the node's `/metrics` counts the calls of every process
that serves on its port. A worker that dies loses at most its last unsent period.
Rows are plain values (str, int, float), never request content.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
PUSH_PERIOD_S = 1.0
MAX_ROWS = 4096  # (method, code) pairs a worker may report: more is a broken worker

Row = tuple[str, str, int, float, tuple[int, ...]]
"""(method, code, calls, seconds, calls per bucket: <= each bound, then above all)."""


class RequestTally:
    """Thread-safe; `observe` is O(log buckets)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], list[Any]] = {}

    def observe(self, method: str, code: str, seconds: float) -> None:
        with self._lock:
            row = self._row(method, code)
            row[0] += 1
            row[1] += seconds
            row[2][bisect_left(BUCKETS, seconds)] += 1

    def merge(self, rows: Sequence[Row]) -> None:
        with self._lock:
            for method, code, calls, seconds, buckets in rows:
                row = self._row(method, code)
                row[0] += calls
                row[1] += seconds
                for i, n in enumerate(buckets):
                    row[2][i] += n

    def drain(self) -> list[Row]:
        """The rows since the last drain (the tally starts again from zero)."""
        with self._lock:
            rows, self._rows = self._rows, {}
        return [(m, c, r[0], r[1], tuple(r[2])) for (m, c), r in sorted(rows.items())]

    def calls(self, method: str, code: str) -> int:
        with self._lock:
            row = self._rows.get((method, code))
            return int(row[0]) if row is not None else 0

    def _row(self, method: str, code: str) -> list[Any]:
        row = self._rows.get((method, code))
        if row is None:
            row = self._rows[(method, code)] = [0, 0.0, [0] * (len(BUCKETS) + 1)]
        return row

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        """The Prometheus families (a registry collector)."""
        with self._lock:
            rows = [(m, c, r[0], r[1], list(r[2])) for (m, c), r in sorted(self._rows.items())]
        requests = CounterMetricFamily(
            "keymgr_requests", "RPCs answered, by method and gRPC code", labels=["method", "code"]
        )
        latency = HistogramMetricFamily(
            "keymgr_request_duration_seconds",
            "RPC latency, by method and gRPC code",
            labels=["method", "code"],
        )
        for method, code, calls, seconds, buckets in rows:
            requests.add_metric([method, code], calls)
            cumulative, total = [], 0
            for bound, n in zip((*map(str, BUCKETS), "+Inf"), buckets, strict=True):
                total += n
                cumulative.append((bound, total))
            latency.add_metric([method, code], cumulative, seconds)
        yield requests
        yield latency


def parse_rows(raw: object) -> list[Row]:
    """Rows as a worker sent them (JSON); ValueError if they are not well formed."""
    if not isinstance(raw, list) or len(raw) > MAX_ROWS:
        raise ValueError(f"metrics: expected a list of at most {MAX_ROWS} rows")
    rows: list[Row] = []
    for item in raw:
        if not (isinstance(item, list) and len(item) == 5):
            raise ValueError("metrics: a row is [method, code, calls, seconds, buckets]")
        method, code, calls, seconds, buckets = item
        if not (
            isinstance(method, str)
            and isinstance(code, str)
            and len(method) <= 128
            and len(code) <= 64
            and isinstance(calls, int)
            and calls >= 0
            and isinstance(seconds, (int, float))
            and seconds >= 0
            and isinstance(buckets, list)
            and len(buckets) == len(BUCKETS) + 1
            and all(isinstance(n, int) and n >= 0 for n in buckets)
            and sum(buckets) == calls
        ):
            raise ValueError("metrics: a malformed row")
        rows.append((method, code, calls, float(seconds), tuple(buckets)))
    return rows
