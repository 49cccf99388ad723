"""`keymgr bench-secrets` end to end with tiny numbers, so CI runs what the benchmark
runs: a real cluster behind a real gateway process, and a real OpenBao 3-node Raft
cluster, both doing KV v2 reads and writes; the JSON report has both sides and the
ratio, and no request failed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.clients_support import keymgr


def test_bench_secrets_measures_both_sides(tmp_path: Path) -> None:
    report = tmp_path / "kv.json"
    result = keymgr(
        "bench-secrets",
        "--duration",
        "0.5",
        "--warmup",
        "0.2",
        "--concurrency",
        "2",
        "--seed",
        "7",
        "--json",
        str(report),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "keymgr/OpenBao" in result.stdout
    data = json.loads(report.read_text())
    rows = {(row["scenario"], row["concurrency"]): row for row in data["rows"]}
    assert set(rows) == {("kv-read", 2), ("kv-write", 2)}
    for row in rows.values():
        for side in ("keymgr", "openbao"):
            assert row[side]["ops"] > 0 and row[side]["errors"] == 0, (side, row)
        assert row["ratio_ops_per_s"] > 0
    assert data["meta"]["seed"] == 7
    assert "gateway" in data["meta"]["keymgr"] and "OpenBao" in data["meta"]["openbao"]


def test_bench_secrets_refuses_bad_flags() -> None:
    for flags, message in (
        (["--scenario", "kv-delete"], "--scenario"),
        (["--duration", "0"], "--duration"),
        (["--concurrency", "x"], "--concurrency"),
    ):
        result = keymgr("bench-secrets", *flags)
        assert result.returncode != 0 and message in result.stderr, (flags, result.stderr)
        assert "Traceback" not in result.stderr
