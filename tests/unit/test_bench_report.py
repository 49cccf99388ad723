"""The benchmark report: table, ratios, JSON round trip."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

from keymgr_bench.bench_report import (
    format_report,
    load_report,
    print_report,
    ratio,
    report_json,
    write_report,
)
from keymgr_bench.loadgen import LoadResult


def _result(ops_per_s: float, *, cpu_ms_per_op: float = 0.25, errors: int = 0) -> LoadResult:
    ops = int(ops_per_s * 10)
    return LoadResult(
        ops=ops,
        errors=errors,
        ops_per_s=ops_per_s,
        p50_ms=3.5,
        p99_ms=12.25,
        cpu_s=cpu_ms_per_op * ops / 1e3,
        cpu_ms_per_1000_ops=cpu_ms_per_op * 1e3,
        cpu_ms_per_op=cpu_ms_per_op,
        concurrency=16,
        duration_s=10.0,
        client_cpu_s=5.0,
    )


KEYMGR = {
    ("create-key", 16): _result(900.0),
    ("datakey", 16): _result(8200.0),
    ("datakey", 64): _result(9000.0, errors=3),
    ("datakey-all-nodes", 16): _result(12000.0),
}
OPENBAO = {
    ("datakey", 16): _result(4100.0, cpu_ms_per_op=0.3),
    ("datakey", 64): _result(0.0),
    ("create-key", 16): _result(450.0),
}


def test_ratio() -> None:
    assert ratio(_result(200.0), _result(100.0)) == 2.0
    assert ratio(None, _result(100.0)) is None
    assert ratio(_result(100.0), None) is None
    assert ratio(_result(100.0), _result(0.0)) is None


def test_rows_standard_scenarios_first_then_extras() -> None:
    data = report_json(KEYMGR, OPENBAO)
    keys = [(r["scenario"], r["concurrency"]) for r in data["rows"]]
    assert keys == [
        ("datakey", 16),
        ("datakey", 64),
        ("create-key", 16),
        ("datakey-all-nodes", 16),
    ]
    first = data["rows"][0]
    assert first["ratio_ops_per_s"] == 2.0
    assert first["openbao"]["cpu_ms_per_op"] == 0.3
    assert data["rows"][3]["openbao"] is None
    assert data["rows"][3]["ratio_ops_per_s"] is None


def test_table_both_sides() -> None:
    text = format_report(KEYMGR, OPENBAO, meta={"cpus": 2})
    lines = text.splitlines()
    assert lines[0].index("-- keymgr") < lines[0].index("-- OpenBao")
    assert lines[1].split()[:3] == ["scenario", "conc", "ops/s"]
    assert lines[1].count("ops/s") == 2 and lines[1].endswith("keymgr/OpenBao")
    datakey16 = next(line for line in lines if line.startswith("datakey ") and " 16 " in line)
    assert "8,200" in datakey16 and "4,100" in datakey16 and "2.00x" in datakey16
    assert "0.300" in datakey16  # OpenBao CPU ms/op
    extra = next(line for line in lines if line.startswith("datakey-all-nodes"))
    assert extra.rstrip().endswith("-")  # no OpenBao counterpart, no ratio
    assert "cpus: 2" in text


def test_table_one_side_only() -> None:
    text = format_report(None, OPENBAO)
    group, header = text.splitlines()[:2]
    assert "-- OpenBao" in group and "keymgr" not in group
    assert header.count("ops/s") == 1 and "keymgr" not in header
    buf = io.StringIO()
    print_report(None, OPENBAO, file=buf)
    assert buf.getvalue().strip() == text.strip()


def test_other_cpu_column() -> None:
    noisy = _result(1000.0)
    noisy.host_cpu_s = noisy.cpu_s + noisy.client_cpu_s + 4.0  # 4 s in 10 s = 40%
    line = format_report(None, {("datakey", 16): noisy}).splitlines()[3]
    assert line.split()[-2:] == ["50", "40"]


def test_write_and_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "out" / "bench.json"
    KEYMGR[("decrypt-leader", 64)] = LoadResult(
        ops=0,
        errors=5,
        ops_per_s=0.0,
        p50_ms=math.nan,
        p99_ms=math.nan,
        cpu_s=0.1,
        cpu_ms_per_1000_ops=math.nan,
    )
    try:
        written = write_report(path, KEYMGR, OPENBAO, meta={"duration_s": 10})
        assert json.loads(path.read_text()) == written  # strict JSON: no NaN
        keymgr, openbao, meta = load_report(path)
    finally:
        del KEYMGR[("decrypt-leader", 64)]
    assert meta == {"duration_s": 10}
    assert set(openbao) == set(OPENBAO)
    assert keymgr[("datakey", 64)].errors == 3
    assert math.isnan(keymgr[("decrypt-leader", 64)].p50_ms)
    assert openbao[("datakey", 16)].ops_per_s == 4100.0


def test_batch_scenarios_are_reported_in_keys_per_second() -> None:
    ours = {("batch-decrypt", 16): _result(400.0), ("batch-datakey", 16): _result(300.0)}
    theirs = {("batch-decrypt", 16): _result(2000.0)}
    text = format_report(ours, theirs)
    assert (
        "batch-decrypt c=16: keymgr 40,000 keys/s, OpenBao 200,000 keys/s, "
        "keymgr/OpenBao 0.20x" in text
    )
    assert "batch-datakey c=16: keymgr 30,000 keys/s, OpenBao - keys/s" in text
    rows = {r["scenario"]: r for r in report_json(ours, theirs)["rows"]}
    assert rows["batch-decrypt"]["keymgr_keys_per_s"] == 40_000.0
    assert rows["batch-decrypt"]["openbao_keys_per_s"] == 200_000.0
    assert rows["batch-datakey"]["openbao_keys_per_s"] is None
    assert "keys/s" not in format_report(KEYMGR, OPENBAO)  # no batch rows, no section
