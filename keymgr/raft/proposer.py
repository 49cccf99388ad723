"""Puts commands through Raft from the asyncio side and says how each one ended.

The Raft adapter calls back in its tick thread; we hop back to the event loop with
`call_soon_threadsafe`, so no servicer ever blocks on consensus. Raft failures stay
`RaftError`s (retryable: the server's error table answers them UNAVAILABLE); a command
the state machine refused is final and raised as whatever `refusal` builds from its
`CommandError` (the server passes its domain errors). When Raft cannot tell whether a
command committed (the leader changed under it), we watch the local state machine for
its request id before giving up with `WriteOutcomeUnknown`: a write that did commit is then
reported as done, which matters for Init, whose shares exist only in this reply. Each
write reports the Raft index it was applied at to `applied_at` (the server's
read-your-writes bookkeeping). Nothing here knows about gRPC.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from keymgr.raft.node import ProposalTimeout, RaftError, RaftNode
from keymgr.v1 import keys_pb2, store_pb2

OUTCOME_POLL_S = 0.05

RecordedResult = Callable[[str], bytes | None]
Refusal = Callable[[store_pb2.CommandError], Exception]


class WriteOutcomeUnknown(RaftError):
    """Raft could not say whether the command was applied (timed out, or the leader
    changed) and this node has not applied it: retry with the same request_id."""

    outcome_unknown = True

    def __init__(self) -> None:
        super().__init__(
            "write outcome unknown (timed out or the leader changed): retry with the "
            "same request_id"
        )


class CommandFailed(Exception):
    """The state machine refused the command (final); `error` says why. The default
    `refusal`: a server passes one that builds its own domain errors instead."""

    def __init__(self, error: store_pb2.CommandError) -> None:
        super().__init__(error.message)
        self.error = error


def _ignore_index(index: int) -> None:
    """The default `applied_at`: a caller without read-your-writes bookkeeping."""


def now_ms() -> int:
    """The proposer's clock: the state machine never reads one."""
    return int(time.time() * 1000)


class Proposer:
    def __init__(
        self,
        raft: RaftNode,
        *,
        recorded_result: RecordedResult | None = None,
        timeout_s: float = 5.0,
        refusal: Refusal = CommandFailed,
        applied_at: Callable[[int], None] = _ignore_index,
    ) -> None:
        self._raft = raft
        self._recorded_result = recorded_result
        self._timeout_s = timeout_s
        self._refusal = refusal
        self._applied_at = applied_at

    async def submit(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        """Replicates and applies `command`. Raises `refusal(error)` if the state machine
        refused it, `WriteOutcomeUnknown` if Raft cannot tell, any other `RaftError` if Raft
        did not accept it."""
        if not command.time_ms:
            command.time_ms = now_ms()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[bytes, int]] = loop.create_future()
        raft = self._raft

        def on_done(result: bytes | None, error: RaftError | None) -> None:
            # tick thread, right after the entry's apply: applying_index is its index
            index = raft.applying_index if error is None else 0

            def settle() -> None:
                if future.done():
                    return
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result((result or b"", index))

            loop.call_soon_threadsafe(settle)

        self._raft.propose_async(command.SerializeToString(), on_done)
        raw: bytes | None
        try:
            raw, index = await asyncio.wait_for(future, self._timeout_s)
            self._applied_at(index)
        except (TimeoutError, ProposalTimeout):
            raw = await self._settled(command.request_id, wait_s=0.0)
        except RaftError as exc:
            if not exc.outcome_unknown:
                raise
            raw = await self._settled(command.request_id, wait_s=self._timeout_s)
        if raw is None:
            raise WriteOutcomeUnknown()
        result = store_pb2.CommandResult.FromString(raw)
        if result.WhichOneof("result") == "error":
            raise self._refusal(result.error)
        return result

    async def _settled(self, request_id: str, *, wait_s: float) -> bytes | None:
        """Waits up to `wait_s` for this node to apply `request_id`; None if it did not."""
        if self._recorded_result is None or not request_id:
            return None
        deadline = time.monotonic() + wait_s
        while True:
            raw = self._recorded_result(request_id)
            if raw is not None:
                # applied at or before the entry being applied now: an upper bound
                self._applied_at(self._raft.applying_index)
                return raw
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(OUTCOME_POLL_S)

    async def submit_for_key(self, command: store_pb2.Command) -> keys_pb2.Key:
        result = await self.submit(command)
        return result.key
