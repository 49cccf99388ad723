"""`keymgr drill`: each kind passes on its own local cluster (the RTO bounds are the
drill's own pass/fail logic; the test asserts the drill passes and reports sanely)."""

from __future__ import annotations

import json

import pytest

from keymgr.cli.main import main
from tests.integration.conftest import MakeCluster


def _drill(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    code = main(["drill", *argv, "--json"])
    captured = capsys.readouterr()
    assert captured.out, f"drill exited {code} with no report: {captured.err}"
    report: dict[str, object] = json.loads(captured.out)
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


@pytest.mark.slow
def test_remote_leader_loss_through_the_api(
    capsys: pytest.CaptureFixture[str], make_cluster: MakeCluster
) -> None:
    """A running cluster drilled only through its API: the leader steps down."""
    cluster = make_cluster()
    cluster.bring_up()
    creds = cluster.credentials
    before = {n.id: cluster.pid(n.id) for n in cluster.spec.nodes}
    report = _drill(
        capsys,
        "leader-loss",
        "--rounds",
        "2",
        "--remote",
        "--address",
        ",".join(n.api for n in cluster.spec.nodes),
        "--ca",
        str(creds.ca),
        "--cert",
        str(creds.cert),
        "--key",
        str(creds.key),
    )
    rounds = _rounds(report)
    assert len(rounds) == 2
    for r in rounds:
        assert r["acked_missing"] == 0 and r["samples_failed"] == 0
        assert r["new_leader"] and r["new_leader"] not in r["victims"]  # type: ignore[operator]
    # nothing was killed: the same processes still serve
    assert {n.id: cluster.pid(n.id) for n in cluster.spec.nodes} == before
    assert all(cluster.alive(n.id) for n in cluster.spec.nodes)
    code = main(["drill", "zone-loss", "--remote", "--address", cluster.spec.nodes[0].api])
    assert code == 1  # usage: only leader-loss remotely
