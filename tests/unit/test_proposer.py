"""The proposer when Raft cannot say whether a write committed.

A leader change in the middle of a commit cannot be caused on demand in a real cluster
(it happened once in CI, during Init), so the Raft side here is a stand-in that reports
the fault; the state machine deciding the outcome is the real KeyStore.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from keymgr.node_errors import Unavailable
from keymgr.raft.node import NoLeader, OnDone
from keymgr.raft.proposer import Proposer, WriteOutcomeUnknown
from keymgr.server.indexes import WriteIndex, note_write_index, write_index
from keymgr.server.rpc import node_error_for
from keymgr.store.keystore import KeyStore
from keymgr.v1 import store_pb2

from .test_keystore import init_op


class LeaderChangedRaft:
    """Applies (or drops) the command, then reports 'leader changed, outcome unknown'."""

    def __init__(self, store: KeyStore, *, commits: bool, apply_delay_s: float) -> None:
        self.store = store
        self.commits = commits
        self.apply_delay_s = apply_delay_s
        self.applying_index = 0

    def propose_async(
        self, command: bytes, on_done: OnDone, *, timeout: float | None = None
    ) -> None:
        changed = NoLeader("leader changed before the outcome was known", outcome_unknown=True)
        on_done(None, changed)
        if self.commits:
            threading.Timer(self.apply_delay_s, self._apply, (command,)).start()

    def _apply(self, command: bytes) -> None:
        self.applying_index = 42
        self.store.apply(command)


class CommittingRaft:
    """Applies the command at index 7 in another thread, then reports success there."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self.applying_index = 0

    def propose_async(
        self, command: bytes, on_done: OnDone, *, timeout: float | None = None
    ) -> None:
        def tick() -> None:
            self.applying_index = 7
            result = self.store.apply(command)
            on_done(result, None)
            self.applying_index = 8  # the next entry: must not be reported

        threading.Thread(target=tick).start()


def _proposer(store: KeyStore, *, commits: bool) -> Proposer:
    raft = LeaderChangedRaft(store, commits=commits, apply_delay_s=0.2)
    return Proposer(
        raft,  # type: ignore[arg-type]
        recorded_result=store.recorded_result,
        timeout_s=1.0,
        applied_at=note_write_index,
    )


def init_command(request_id: str) -> store_pb2.Command:
    return store_pb2.Command(request_id=request_id, principal="alice", init_cluster=init_op())


def test_a_write_that_committed_after_a_leader_change_is_reported_done() -> None:
    store = KeyStore()
    command = init_command(request_id="init-under-election")
    result = asyncio.run(_proposer(store, commits=True).submit(command))
    assert result.WhichOneof("result") != "error"
    assert store.initialized


def test_a_write_that_never_committed_is_unavailable() -> None:
    store = KeyStore()
    command = init_command(request_id="init-lost")
    with pytest.raises(WriteOutcomeUnknown, match="outcome unknown") as raised:
        asyncio.run(_proposer(store, commits=False).submit(command))
    assert not store.initialized
    answered = node_error_for(raised.value)
    assert isinstance(answered, Unavailable)
    assert "outcome unknown" in str(answered)


async def _submit_noting_index(proposer: Proposer, command: store_pb2.Command) -> int:
    target = WriteIndex()
    write_index.set(target)
    await proposer.submit(command)
    return target.index


def test_a_write_notes_the_raft_index_it_was_applied_at() -> None:
    store = KeyStore()
    proposer = Proposer(
        CommittingRaft(store),  # type: ignore[arg-type]
        timeout_s=1.0,
        applied_at=note_write_index,
    )
    assert asyncio.run(_submit_noting_index(proposer, init_command("init-7"))) == 7


def test_a_write_settled_after_a_leader_change_notes_an_index_covering_it() -> None:
    store = KeyStore()
    proposer = _proposer(store, commits=True)
    assert asyncio.run(_submit_noting_index(proposer, init_command("init-42"))) >= 42
