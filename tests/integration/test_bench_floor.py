"""`keymgr bench --grpc-floor` end to end with tiny numbers: a real cluster and real
floor server processes (keymgr's listener, mTLS) driven by the same load generator; the
report has both rows, the floor answered every call, and it costs the server less CPU
per call than keymgr's own GenerateDataKey (it does none of keymgr's work)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.clients_support import keymgr


def test_bench_measures_the_grpc_floor_next_to_keymgr(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    result = keymgr(
        "bench",
        "--no-openbao",
        "--grpc-floor",
        "--scenario",
        "datakey",
        "--concurrency",
        "4",
        "--duration",
        "1",
        "--warmup",
        "0.3",
        "--processes",
        "1",
        "--json",
        str(report),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "datakey grpc floor" in result.stdout
    data = json.loads(report.read_text())
    rows = {(row["scenario"], row["concurrency"]): row["keymgr"] for row in data["rows"]}
    assert set(rows) == {("datakey", 4), ("datakey grpc floor", 4)}
    ours, floor = rows[("datakey", 4)], rows[("datakey grpc floor", 4)]
    for row in (ours, floor):
        assert row["ops"] > 0 and row["errors"] == 0, row
    assert floor["cpu_ms_per_op"] < ours["cpu_ms_per_op"], (floor, ours)
    assert "keymgr/grpc floor datakey c=4" in data["meta"]
