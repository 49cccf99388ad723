"""A follower's reply counts only in the term it was made (docs/raft-durability.md, 5).

pysyncobj's AppendEntries replies (`next_node_idx`) carry no term; the adapter stamps
each with the follower's term on the way out and the leader drops one made in another
term before pysyncobj counts it as a match. Transcript style: the hook's decisions for
the messages a node sees.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from keymgr.raft.node import RaftNode
from keymgr.raft.settings import RaftSettings


class FakeCore:
    """The two things the hooks read of pysyncobj's core here."""

    def __init__(self, term: int, leader: bool = True) -> None:
        self.raftCurrentTerm = term
        self.leader = leader

    def _isLeader(self) -> bool:
        return self.leader


class Peer:
    id = "127.0.0.1:7102"


class NoState:
    def apply(self, command: bytes, index: int) -> bytes:
        return b""

    def snapshot(self) -> bytes:
        return b""

    def restore(self, data: bytes, index: int) -> None:
        pass


@pytest.fixture
def node(tmp_path: Path) -> RaftNode:
    settings = RaftSettings(
        self_address="127.0.0.1:7101",
        peer_addresses=("127.0.0.1:7102",),
        data_dir=tmp_path / "raft",
        password="reply-terms-test-secret",
    )
    return RaftNode(settings, NoState())  # type: ignore[arg-type]  # never started


def reply(success: bool = True, **extra: Any) -> dict[str, Any]:
    return {
        "type": "next_node_idx",
        "next_node_idx": 12,
        "reset": False,
        "success": success,
        **extra,
    }


def test_a_follower_stamps_its_replies_with_its_term(node: RaftNode) -> None:
    node._core = FakeCore(term=7, leader=False)  # type: ignore[assignment]
    sent = node.outgoing(Peer(), reply())
    assert sent["km_term"] == 7
    assert sent["next_node_idx"] == 12 and sent["success"] is True


def test_a_leader_takes_replies_made_in_its_term(node: RaftNode) -> None:
    core = FakeCore(term=7)
    message = reply(km_term=7)
    assert node.before_message(core, Peer(), message) is message  # type: ignore[arg-type]


@pytest.mark.parametrize("made_in", [5, 6, 8])
def test_a_leader_ignores_replies_made_in_another_term(node: RaftNode, made_in: int) -> None:
    core = FakeCore(term=7)
    assert node.before_message(core, Peer(), reply(km_term=made_in)) is None  # type: ignore[arg-type]
    assert node.before_message(core, Peer(), reply(False, reset=True, km_term=made_in)) is None  # type: ignore[arg-type]
    assert node._stale_replies == 2


def test_a_reply_without_a_stamp_is_taken_as_pysyncobj_takes_it(node: RaftNode) -> None:
    """A peer from before the stamp (rolling upgrade) keeps replicating."""
    core = FakeCore(term=7)
    message = reply()
    assert node.before_message(core, Peer(), message) is message  # type: ignore[arg-type]
    assert node._stale_replies == 0


def test_the_stamped_reply_round_trips_between_two_nodes_of_one_term(
    node: RaftNode, tmp_path: Path
) -> None:
    """What a follower sends in term 9, a leader in term 9 takes; after an election
    (term 10) the same reply is stale."""
    node._core = FakeCore(term=9, leader=False)  # type: ignore[assignment]
    sent = node.outgoing(Peer(), reply())
    leader = RaftNode(
        RaftSettings(
            self_address="127.0.0.1:7102",
            peer_addresses=("127.0.0.1:7101",),
            data_dir=tmp_path / "leader",
            password="reply-terms-test-secret",
        ),
        NoState(),  # type: ignore[arg-type]
    )
    assert leader.before_message(FakeCore(term=9), Peer(), sent) is sent  # type: ignore[arg-type]
    assert leader.before_message(FakeCore(term=10), Peer(), sent) is None  # type: ignore[arg-type]
