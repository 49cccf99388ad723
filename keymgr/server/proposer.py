"""Puts commands through Raft from the asyncio side and turns outcomes into errors.

The Raft adapter calls back in its tick thread; we hop back to the event loop with
`call_soon_threadsafe`, so no servicer ever blocks on consensus. Raft failures are
retryable (UNAVAILABLE); a command the state machine refused is final. When Raft
cannot tell whether a command committed (the leader changed under it), we watch the
local state machine for its request id before giving up: a write that did commit is
then reported as done, which matters for Init, whose shares exist only in this reply.
Each write notes the Raft index it was applied at (`note_write_index`), which the
`rpc` wrapper returns to the client for read-your-writes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from keymgr.server.errors import OutcomeUnknown, Unavailable, error_from_command
from keymgr.server.indexes import note_write_index
from keymgr.store.raft import NoLeader, ProposalTimeout, RaftError, RaftNode
from keymgr.v1 import keys_pb2, store_pb2

OUTCOME_POLL_S = 0.05

RecordedResult = Callable[[str], bytes | None]


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
    ) -> None:
        self._raft = raft
        self._recorded_result = recorded_result
        self._timeout_s = timeout_s

    async def submit(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        """Replicates and applies `command`; raises the domain error for a refusal."""
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
            note_write_index(index)
        except (TimeoutError, ProposalTimeout):
            raw = await self._settled(command.request_id, wait_s=0.0)
        except RaftError as exc:
            raw = None
            if exc.outcome_unknown:
                raw = await self._settled(command.request_id, wait_s=self._timeout_s)
            elif isinstance(exc, NoLeader):
                raise Unavailable(f"no Raft leader: {exc}") from exc
            else:
                raise Unavailable(f"write not accepted: {exc}") from exc
        if raw is None:
            raise OutcomeUnknown(
                "write outcome unknown (timed out or the leader changed): retry with the "
                "same request_id"
            )
        result = store_pb2.CommandResult.FromString(raw)
        if result.WhichOneof("result") == "error":
            raise error_from_command(result.error)
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
                note_write_index(self._raft.applying_index)
                return raw
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(OUTCOME_POLL_S)

    async def submit_for_key(self, command: store_pb2.Command) -> keys_pb2.Key:
        result = await self.submit(command)
        return result.key
