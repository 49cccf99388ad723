"""Puts commands through Raft from the asyncio side and turns outcomes into errors.

The Raft adapter calls back in its tick thread; we hop back to the event loop with
`call_soon_threadsafe`, so no servicer ever blocks on consensus. Raft failures are
retryable (UNAVAILABLE); a command the state machine refused is final.
"""

from __future__ import annotations

import asyncio
import time

from keymgr.server.errors import Unavailable, error_from_command
from keymgr.store.raft import NoLeader, ProposalTimeout, RaftError, RaftNode
from keymgr.v1 import keys_pb2, store_pb2


def now_ms() -> int:
    """The proposer's clock: the state machine never reads one."""
    return int(time.time() * 1000)


class Proposer:
    def __init__(self, raft: RaftNode, *, timeout_s: float = 5.0) -> None:
        self._raft = raft
        self._timeout_s = timeout_s

    async def submit(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        """Replicates and applies `command`; raises the domain error for a refusal."""
        if not command.time_ms:
            command.time_ms = now_ms()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()

        def on_done(result: bytes | None, error: RaftError | None) -> None:
            def settle() -> None:
                if future.done():
                    return
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(result or b"")

            loop.call_soon_threadsafe(settle)

        self._raft.propose_async(command.SerializeToString(), on_done)
        try:
            raw = await asyncio.wait_for(future, self._timeout_s)
        except (TimeoutError, ProposalTimeout) as exc:
            raise Unavailable(
                "write timed out with an unknown outcome: retry with the same request_id"
            ) from exc
        except NoLeader as exc:
            raise Unavailable(f"no Raft leader: {exc}") from exc
        except RaftError as exc:
            raise Unavailable(f"write not accepted: {exc}") from exc
        result = store_pb2.CommandResult.FromString(raw)
        if result.WhichOneof("result") == "error":
            raise error_from_command(result.error)
        return result

    async def submit_for_key(self, command: store_pb2.Command) -> keys_pb2.Key:
        result = await self.submit(command)
        return result.key
