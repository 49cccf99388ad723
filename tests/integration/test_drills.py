"""`keymgr drill`: each kind passes on its own local cluster (the RTO bounds are the
drill's own pass/fail logic; the test asserts the drill passes and reports sanely)."""

from __future__ import annotations

import json

import pytest

from keymgr.cli.main import main


def _drill(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    code = main(["drill", *argv, "--json"])
    report: dict[str, object] = json.loads(capsys.readouterr().out)
    assert code == 0, report["failures"]
    assert report["passed"] is True
    return report


def _rounds(report: dict[str, object]) -> list[dict[str, object]]:
    rounds = report["rounds"]
    assert isinstance(rounds, list)
    return rounds


@pytest.mark.slow
def test_leader_loss_three_rounds(capsys: pytest.CaptureFixture[str]) -> None:
    report = _drill(capsys, "leader-loss", "--rounds", "3")
    rounds = _rounds(report)
    assert len(rounds) == 3
    for r in rounds:
        assert r["acked_missing"] == 0 and r["samples_failed"] == 0
        assert r["writes_acked"] and r["new_leader"] and r["victims"]
    assert report["keys_cleaned"]


@pytest.mark.slow
def test_zone_loss_on_five_nodes_in_three_zones(capsys: pytest.CaptureFixture[str]) -> None:
    report = _drill(capsys, "zone-loss", "--rounds", "1")
    (r,) = _rounds(report)
    assert r["acked_missing"] == 0 and r["samples_failed"] == 0
    # zones a, b hold two nodes each and c one: every node of the leader's zone goes
    assert isinstance(r["victims"], list) and len(r["victims"]) in (1, 2)


@pytest.mark.slow
def test_full_restart(capsys: pytest.CaptureFixture[str]) -> None:
    report = _drill(capsys, "full-restart", "--rounds", "1")
    (r,) = _rounds(report)
    assert r["victims"] == ["node1", "node2", "node3"]
    assert r["acked_missing"] == 0 and r["samples_failed"] == 0
