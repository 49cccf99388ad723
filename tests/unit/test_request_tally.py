"""Call counts merged from worker processes: the node's metrics add them up exactly."""

from __future__ import annotations

import json

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from keymgr.server.request_tally import BUCKETS, RequestTally, parse_rows


def test_rows_drained_from_a_worker_merge_into_the_nodes_tally() -> None:
    node, worker = RequestTally(), RequestTally()
    node.observe("Encrypt", "OK", 0.002)
    for seconds in (0.0004, 0.003, 7.0):
        worker.observe("Encrypt", "OK", seconds)
    worker.observe("Decrypt", "NOT_FOUND", 0.01)
    rows = parse_rows(json.loads(json.dumps(worker.drain())))  # as the wire carries them
    assert worker.drain() == []  # drained: the next push starts from zero
    node.merge(rows)
    assert node.calls("Encrypt", "OK") == 4 and node.calls("Decrypt", "NOT_FOUND") == 1
    registry = CollectorRegistry()
    registry.register(node)
    text = generate_latest(registry).decode()
    assert 'keymgr_requests_total{code="OK",method="Encrypt"} 4.0' in text
    bucket = 'keymgr_request_duration_seconds_bucket{code="OK",le="%s",method="Encrypt"} %s'
    for le, calls in (("0.0005", 1), ("0.0025", 2), ("5.0", 3), ("+Inf", 4)):
        assert bucket % (le, f"{calls:.1f}") in text
    assert 'keymgr_request_duration_seconds_sum{code="OK",method="Encrypt"} 7.0054' in text


@pytest.mark.parametrize(
    "raw",
    [
        {"not": "a list"},
        [["Encrypt", "OK", 1, 0.1]],  # four fields
        [["Encrypt", "OK", -1, 0.1, [0] * (len(BUCKETS) + 1)]],
        [["Encrypt", "OK", 2, 0.1, [1] + [0] * len(BUCKETS)]],  # buckets do not add up
        [["Encrypt", "OK", 1, 0.1, [1]]],  # wrong bucket count
        [["x" * 200, "OK", 0, 0.0, [0] * (len(BUCKETS) + 1)]],
        [["Encrypt", "OK", 0, 0.0, [0] * (len(BUCKETS) + 1)]] * 5000,
    ],
)
def test_malformed_rows_are_refused(raw: object) -> None:
    with pytest.raises(ValueError, match="metrics"):
        parse_rows(raw)
