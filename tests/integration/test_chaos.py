"""`keymgr drill chaos`, short and seeded: every fault once on a real 3-node cluster,
zero violations (no lost or divergent write, no duplicate application, read-your-writes
and the disable bound held, every node back serving on its own)."""

from __future__ import annotations

from pathlib import Path

import pytest

from keymgr.cli.main import main
from keymgr.ops.chaos import ChaosDrill, ChaosOptions, schedule, table_rows
from keymgr.ops.chaos_faults import FAULTS

SEED = 20261206


@pytest.mark.slow
@pytest.mark.timeout(330)
def test_every_fault_once_without_violations(tmp_path: Path) -> None:
    options = ChaosOptions(
        rounds=len(FAULTS), seed=SEED, round_s=8.0, recovery_timeout_s=20.0, probe_cap=100
    )
    assert sorted(schedule(options)) == sorted(FAULTS)  # each fault once
    lines: list[str] = []
    drill = ChaosDrill(tmp_path / "cluster", options, progress=lines.append)
    report = drill.execute()
    print("\n".join(lines))
    for row in table_rows(report):
        print(" | ".join(row))
    assert [r.fault for r in report.rounds] == schedule(options)
    violations = [f"round {r.number} {r.fault}: {v}" for r in report.rounds for v in r.violations]
    assert not violations, "\n".join(violations[:40])
    assert report.passed
    for r in report.rounds:
        assert r.acked_writes > 0 and r.ciphertexts > 0, r
        if not r.skipped:
            assert r.victims and r.recovery_s is not None, r
    ran = {r.fault for r in report.rounds if not r.skipped}
    assert {"kill-leader", "kill-all", "partition", "torn-journal"} <= ran
    assert not any(Path(tmp_path / "cluster").glob("data/*/chaos-filler"))
    # the workload exercised what the checks judge
    history = drill.history
    kinds = {w.kind for w in history.writes}
    assert kinds == {"create", "rotate", "disable", "enable", "retire"}
    assert any(c.linearizable for c in history.ciphers)
    assert any(o.linearizable for o in history.observations)
    assert len({c.endpoint for c in history.ciphers}) == 3


def test_cli_refuses_unknown_faults_and_reused_clusters(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["drill", "chaos", "--faults", "kill-leader,meteor"]) == 1
    assert "--faults: unknown fault meteor" in capsys.readouterr().err
    assert main(["drill", "chaos", "--dir", "somewhere"]) == 1
    assert main(["drill", "chaos", "--round-seconds", "1"]) == 1
