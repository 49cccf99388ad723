"""The proposer when Raft cannot say whether a write committed.

A leader change in the middle of a commit cannot be caused on demand in a real cluster
(it happened once in CI, during Init), so the Raft side here is a stand-in that reports
the fault; the state machine deciding the outcome is the real KeyStore.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from keymgr.server.errors import Unavailable
from keymgr.server.proposer import Proposer
from keymgr.store.keystore import KeyStore
from keymgr.store.raft import NoLeader, OnDone
from keymgr.v1 import store_pb2

from .test_keystore import init_op


class LeaderChangedRaft:
    """Applies (or drops) the command, then reports 'leader changed, outcome unknown'."""

    def __init__(self, store: KeyStore, *, commits: bool, apply_delay_s: float) -> None:
        self.store = store
        self.commits = commits
        self.apply_delay_s = apply_delay_s

    def propose_async(
        self, command: bytes, on_done: OnDone, *, timeout: float | None = None
    ) -> None:
        changed = NoLeader("leader changed before the outcome was known", outcome_unknown=True)
        on_done(None, changed)
        if self.commits:
            threading.Timer(self.apply_delay_s, self.store.apply, (command,)).start()


def _proposer(store: KeyStore, *, commits: bool) -> Proposer:
    raft = LeaderChangedRaft(store, commits=commits, apply_delay_s=0.2)
    return Proposer(
        raft,  # type: ignore[arg-type]
        recorded_result=store.recorded_result,
        timeout_s=1.0,
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
    with pytest.raises(Unavailable, match="outcome unknown"):
        asyncio.run(_proposer(store, commits=False).submit(command))
    assert not store.initialized
