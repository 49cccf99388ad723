"""`drill chaos` schedule and table: reproducible by seed, one row per fault."""

from __future__ import annotations

from keymgr.ops.chaos import ChaosOptions, ChaosReport, ChaosRound, schedule, table_rows
from keymgr.ops.chaos_faults import FAULTS


def test_schedule_is_reproducible_by_seed_and_cycles_every_fault() -> None:
    options = ChaosOptions(rounds=2 * len(FAULTS), seed=7)
    first = schedule(options)
    assert first == schedule(ChaosOptions(rounds=2 * len(FAULTS), seed=7))
    assert sorted(first[: len(FAULTS)]) == sorted(FAULTS)
    assert first[len(FAULTS) :] == first[: len(FAULTS)]
    others = {tuple(schedule(ChaosOptions(rounds=len(FAULTS), seed=s))) for s in range(20)}
    assert len(others) > 1
    assert schedule(ChaosOptions(rounds=3, seed=1, faults=("partition",))) == ["partition"] * 3


def test_table_has_one_row_per_fault_with_sums_and_recovery() -> None:
    rounds = [
        ChaosRound(1, "kill-leader", acked_writes=10, recovery_s=0.5),
        ChaosRound(2, "partition", acked_writes=7, recovery_s=0.2),
        ChaosRound(
            3,
            "kill-leader",
            acked_writes=5,
            recovery_s=1.5,
            lost=2,
            violations=["lost: x", "lost: y"],
        ),
        ChaosRound(4, "corrupt-dump", skipped="no dump yet"),
    ]
    report = ChaosReport(seed=3, nodes=3, rounds=rounds)
    rows = {row[0]: row for row in table_rows(report)}
    assert list(rows) == ["kill-leader", "partition", "corrupt-dump"]
    kill = rows["kill-leader"]
    assert kill[1:4] == ("2", "15", "2")
    assert kill[-3:] == ("1.00", "1.50", "FAIL")
    assert rows["partition"][-1] == "pass"
    assert rows["corrupt-dump"][1] == "1 (1 skipped)" and rows["corrupt-dump"][-3:-1] == ("-", "-")
    assert not report.passed
    data = report.to_json()
    assert data["seed"] == 3 and data["passed"] is False and len(data["faults"]) == 3
    assert not ChaosReport(seed=1, nodes=3, rounds=[]).passed
