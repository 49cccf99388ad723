"""The benchmark report: keymgr next to OpenBao, per scenario and concurrency.

Results are keyed by (scenario, concurrency). Either side may be missing (None) or
lack a row; its cells then show "-". The ratio is keymgr ops/s divided by OpenBao
ops/s, both measured in the same run. "CPU ms/op" is server CPU milliseconds per
operation (= server CPU seconds per 1,000 operations), summed over the side's pids.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from keymgr_bench.loadgen import LoadResult

SCENARIOS = ("datakey", "decrypt-leader", "decrypt-follower", "create-key")
BATCH_SCENARIOS = ("batch-datakey", "batch-encrypt", "batch-decrypt")
BATCH_ITEMS = 100  # keys per call in the batch-* scenarios, on both sides
CONCURRENCIES = (16, 64)
SIDES = ("keymgr", "openbao")

Results = Mapping[tuple[str, int], LoadResult]


def ratio(keymgr: LoadResult | None, openbao: LoadResult | None) -> float | None:
    """keymgr ops/s over OpenBao ops/s, or None when either is missing or zero."""
    if keymgr is None or openbao is None or not openbao.ops_per_s:
        return None
    return keymgr.ops_per_s / openbao.ops_per_s


def keys_per_op(scenario: str) -> int:
    """Keys one operation of `scenario` handles: BATCH_ITEMS for batch-*, else 1."""
    return BATCH_ITEMS if scenario.startswith("batch-") else 1


def keys_per_s(result: LoadResult | None, scenario: str) -> float | None:
    return None if result is None else result.ops_per_s * keys_per_op(scenario)


def _row_keys(*sides: Results | None) -> list[tuple[str, int]]:
    """Every (scenario, concurrency) present: the standard ones first, in order."""
    present = {key for side in sides if side for key in side}
    order = {name: i for i, name in enumerate((*SCENARIOS, *BATCH_SCENARIOS))}
    return sorted(present, key=lambda k: (order.get(k[0], len(order)), k[0], k[1]))


def report_json(
    keymgr: Results | None, openbao: Results | None, *, meta: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The report as a JSON-ready dict: meta and one row per (scenario, concurrency)."""
    rows: list[dict[str, Any]] = []
    for key in _row_keys(keymgr, openbao):
        ours = keymgr.get(key) if keymgr else None
        theirs = openbao.get(key) if openbao else None
        rows.append(
            {
                "scenario": key[0],
                "concurrency": key[1],
                "keymgr": ours.to_json() if ours else None,
                "openbao": theirs.to_json() if theirs else None,
                "ratio_ops_per_s": ratio(ours, theirs),
                "keys_per_op": keys_per_op(key[0]),
                "keymgr_keys_per_s": keys_per_s(ours, key[0]),
                "openbao_keys_per_s": keys_per_s(theirs, key[0]),
            }
        )
    return {"meta": dict(meta or {}), "rows": rows}


def write_report(
    path: Path | str,
    keymgr: Results | None,
    openbao: Results | None,
    *,
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the JSON report to `path` (parents created); returns what was written."""
    data = report_json(keymgr, openbao, meta=meta)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    return data


def load_report(
    path: Path | str,
) -> tuple[dict[tuple[str, int], LoadResult], dict[tuple[str, int], LoadResult], dict[str, Any]]:
    """Read a report written by `write_report`: (keymgr, openbao, meta)."""
    data = json.loads(Path(path).read_text())
    sides: dict[str, dict[tuple[str, int], LoadResult]] = {s: {} for s in SIDES}
    for row in data.get("rows", []):
        key = (str(row["scenario"]), int(row["concurrency"]))
        for side in SIDES:
            if row.get(side):
                sides[side][key] = LoadResult.from_json(row[side])
    return sides["keymgr"], sides["openbao"], dict(data.get("meta", {}))


def _num(value: float | None, digits: int) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


SIDE_COLUMNS = ("ops/s", "p50 ms", "p99 ms", "CPU ms/op", "err", "load%", "other%")


def _cells(result: LoadResult | None) -> list[str]:
    if result is None:
        return ["-"] * len(SIDE_COLUMNS)
    span = result.duration_s or math.nan
    return [
        _num(result.ops_per_s, 0),
        _num(result.p50_ms, 2),
        _num(result.p99_ms, 2),
        _num(result.cpu_ms_per_op, 3),
        str(result.errors),
        _num(100 * result.client_cpu_s / span, 0),
        _num(100 * result.other_cpu_s / span, 0),
    ]


def format_report(
    keymgr: Results | None, openbao: Results | None, *, meta: Mapping[str, Any] | None = None
) -> str:
    """The report as a plain-text table (a side given as None gets no columns)."""
    shown = [(name, res) for name, res in (("keymgr", keymgr), ("OpenBao", openbao)) if res]
    both = len(shown) == 2
    header = ["scenario", "conc"]
    for _ in shown:
        header += list(SIDE_COLUMNS)
    if both:
        header.append("keymgr/OpenBao")
    table = [header]
    for key in _row_keys(keymgr, openbao):
        line = [key[0], str(key[1])]
        for _, results in shown:
            line += _cells(results.get(key))
        if both:
            assert keymgr is not None and openbao is not None
            r = ratio(keymgr.get(key), openbao.get(key))
            line.append("-" if r is None else f"{r:.2f}x")
        table.append(line)
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]

    def render(row: list[str]) -> str:
        parts = [row[0].ljust(widths[0])]
        parts += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    # a group line naming each side over its columns
    group = ""
    col = widths[0] + 2 + widths[1]
    for index, (name, _) in enumerate(shown):
        first = 2 + index * len(SIDE_COLUMNS)
        span = sum(widths[first : first + len(SIDE_COLUMNS)]) + 2 * len(SIDE_COLUMNS)
        group += " " * (col - len(group)) + f"  {'-- ' + name + ' ':-<{span - 2}}"
        col += span
    out = [group.rstrip(), render(header), render(["-" * w for w in widths])]
    out += [render(row) for row in table[1:]]
    out += _keys_lines(keymgr, openbao)
    notes = [f"{k}: {v}" for k, v in (meta or {}).items()]
    notes += [
        "CPU ms/op: server CPU ms per op (= CPU s per 1,000 ops), summed over server pids",
        "load%: CPU of the load generator (100 = one core); other%: the rest of the "
        "machine during the window (other processes, kernel softirq)",
    ]
    if both:
        notes.append("keymgr/OpenBao: ratio of ops/s measured in the same run")
    return "\n".join([*out, "", *notes])


def _keys_lines(keymgr: Results | None, openbao: Results | None) -> list[str]:
    """Batch rows again in keys/s (= calls/s x keys per call), the figure to compare."""
    lines = []
    for scenario, concurrency in _row_keys(keymgr, openbao):
        if keys_per_op(scenario) == 1:
            continue
        ours = keymgr.get((scenario, concurrency)) if keymgr else None
        theirs = openbao.get((scenario, concurrency)) if openbao else None
        r = ratio(ours, theirs)
        lines.append(
            f"{scenario} c={concurrency}: keymgr {_num(keys_per_s(ours, scenario), 0)} keys/s, "
            f"OpenBao {_num(keys_per_s(theirs, scenario), 0)} keys/s"
            + ("" if r is None else f", keymgr/OpenBao {r:.2f}x")
        )
    if lines:
        lines.insert(0, f"\nkeys/s of the batch scenarios ({BATCH_ITEMS} keys per call):")
    return lines


def print_report(
    keymgr: Results | None,
    openbao: Results | None,
    *,
    meta: Mapping[str, Any] | None = None,
    file: TextIO | None = None,
) -> None:
    """Print `format_report` (to stdout by default)."""
    print(format_report(keymgr, openbao, meta=meta), file=file or sys.stdout)
