"""The chaos checker: each property holds on a clean history and is caught when broken."""

from __future__ import annotations

from keymgr.ops.chaos_check import (
    KeyView,
    Probe,
    check_round,
    disable_bound_violations,
    divergent_ciphertexts,
    divergent_versions,
    duplicate_applications,
    lost_ciphertexts,
    lost_writes,
    not_back,
    ryw_violations,
)
from keymgr.ops.chaos_history import (
    Abandoned,
    Cipher,
    EnableSent,
    Evidence,
    History,
    Observation,
    WriteAck,
)

V1 = (1, 1000, "admin")
V2 = (2, 2000, "admin")


def _history() -> History:
    """Thread 0 creates k (v1) at 1.0 and rotates it to v2 at 2.0."""
    h = History()
    h.add(WriteAck(1, 0, "create", "k", 1, "r1", 0.9, 1.0))
    h.add(WriteAck(1, 0, "rotate", "k", 2, "r2", 1.9, 2.0))
    return h


def _nodes(*versions: tuple[int, int, str]) -> dict[str, dict[str, KeyView]]:
    view = KeyView("k", max(v[0] for v in versions), versions)
    return {"node1": {"k": view}, "node2": {"k": view}}


def _cipher(version: int = 2, *, started: float = 3.0, key: str = "k") -> Cipher:
    return Cipher(
        1, 1, key, version, b"blob", b"secret", (), started, started + 0.01, "127.0.0.1:1", False
    )


def test_clean_round_has_no_findings() -> None:
    h = _history()
    h.add(_cipher())
    probes = [Probe("node1", h.ciphers[0], "ok"), Probe("node2", h.ciphers[0], "ok")]
    findings = check_round(
        h, _nodes(V1, V2), probes, {"node1": "", "node2": ""}, staleness_s=1.5, disable_bound_s=1.5
    )
    assert findings.total() == 0 and findings.first() == []


def test_lost_write_is_named_with_node_and_request_id() -> None:
    nodes = _nodes(V1, V2)
    nodes["node2"] = {"k": KeyView("k", 1, (V1,))}
    assert lost_writes(_history(), nodes) == ["rotate k@2 (request r2) missing on node2"]
    nodes["node2"] = {}
    assert len(lost_writes(_history(), nodes)) == 2


def test_disable_and_enable_acks_are_not_version_writes() -> None:
    h = History()
    h.add(WriteAck(1, 0, "create", "k", 1, "r1", 0.9, 1.0))
    h.add(WriteAck(1, 0, "disable", "k", 1, "", 1.1, 1.2))
    assert lost_writes(h, _nodes(V1)) == []


def test_version_with_two_materials_is_divergent() -> None:
    nodes = _nodes(V1, V2)
    nodes["node2"] = {"k": KeyView("k", 2, (V1, (2, 2500, "admin")))}
    (line,) = divergent_versions(nodes)
    assert line.startswith("k@2 differs") and "node1" in line and "node2" in line


def test_probe_outcomes_split_into_lost_and_divergent() -> None:
    c = _cipher()
    probes = [
        Probe("node1", c, "ok"),
        Probe("node2", c, "missing", "no version 2"),
        Probe("node3", c, "mismatch"),
        Probe("node4", c, "error", "bad tag"),
    ]
    assert len(lost_ciphertexts(probes)) == 1
    divergent = divergent_ciphertexts(probes)
    assert len(divergent) == 2 and all("k@2" in line for line in divergent)
    assert "secret" not in " ".join(divergent)  # the plaintext's hash only


def test_more_versions_than_requested_is_a_duplicate_application() -> None:
    h = _history()
    three = _nodes(V1, V2, (3, 3000, "admin"))
    (line,) = duplicate_applications(h, three)
    assert "3 versions, at most 2" in line
    h.add(Abandoned(1, 0, "rotate", "k", "r3", 2.5))  # may have been applied once
    assert duplicate_applications(h, three) == []


def test_two_request_ids_acknowledged_with_one_version() -> None:
    h = _history()
    h.add(WriteAck(1, 0, "rotate", "k", 2, "r9", 2.1, 2.2))
    lines = duplicate_applications(h, _nodes(V1, V2))
    assert "k@2 acknowledged to 2 request ids" in lines


def test_duplicate_evidence_is_reported() -> None:
    h = _history()
    h.add(Evidence(1, 0, "k", "duplicate", "request r2 acknowledged 2, then 3"))
    assert duplicate_applications(h, _nodes(V1, V2)) == ["k: request r2 acknowledged 2, then 3"]


def test_read_your_writes() -> None:
    h = _history()

    def obs(seen: int | None, started: float, *, linear: bool, thread: int = 0) -> None:
        h.add(Observation(1, thread, "k", seen, started, "127.0.0.1:1", linear, "Encrypt"))

    obs(2, 2.5, linear=True)  # saw the write: fine
    obs(1, 1.5, linear=True)  # before the rotate was acked: fine
    obs(1, 2.5, linear=False)  # a default read within the staleness bound: fine
    obs(1, 2.5, linear=False, thread=1)  # another thread's read: not its write
    assert ryw_violations(h, staleness_s=1.0) == []
    obs(1, 2.1, linear=True)  # LINEARIZABLE and older: a violation
    obs(None, 3.5, linear=False)  # NOT_FOUND after the bound: a violation
    lines = ryw_violations(h, staleness_s=1.0)
    assert len(lines) == 2
    assert "LINEARIZABLE" in lines[0] and "NOT_FOUND" in lines[1]


def test_disable_bound() -> None:
    h = History()
    h.add(WriteAck(1, 0, "create", "k", 1, "r1", 0.0, 0.1))
    h.add(WriteAck(1, 0, "disable", "k", 1, "", 1.0, 1.1))
    h.add(_cipher(1, started=1.5))  # inside the bound: allowed
    assert disable_bound_violations(h, 1.0) == []
    h.add(_cipher(1, started=2.5))  # after ack + bound: a violation
    (line,) = disable_bound_violations(h, 1.0)
    assert "after DisableKey was acknowledged" in line
    h.add(EnableSent(1, "k", 2.0, abandoned=False))  # an enable was sent before it
    assert disable_bound_violations(h, 1.0) == []


def test_abandoned_enable_excuses_later_encrypts() -> None:
    h = History()
    h.add(EnableSent(1, "k", 0.5, abandoned=True))  # may be applied at any later time
    h.add(WriteAck(1, 0, "disable", "k", 1, "", 1.0, 1.1))
    h.add(_cipher(1, started=5.0))
    assert disable_bound_violations(h, 1.0) == []


def test_not_back_lists_reasons() -> None:
    assert not_back({"node1": "", "node2": "sealed"}) == ["node2: sealed"]


def test_lost_writes_of_earlier_rounds_are_checked_with_all_writes() -> None:
    earlier = _history()
    this_round = History()
    findings = check_round(
        this_round,
        {"node1": {}},
        [],
        {"node1": ""},
        staleness_s=1,
        disable_bound_s=1,
        all_writes=earlier,
    )
    assert len(findings.lost) == 2


def test_of_round_splits_the_history() -> None:
    h = _history()
    h.add(WriteAck(2, 0, "rotate", "k", 3, "r3", 5.0, 5.1))
    assert [w.version for w in h.of_round(2).writes] == [3]
    assert len(h.of_round(1).writes) == 2
    assert _cipher().digest == "2bb80d537b1da3e3"  # sha256("secret")[:16]


def test_retired_keys_are_not_judged_for_lost_writes() -> None:
    h = _history()
    h.retire("k")  # scheduled for deletion: its versions may be gone
    assert lost_writes(h, {"node1": {}}) == []
    assert h.of_round(1).retired == {"k"}
