"""A worker process's view of its node's Raft process: a replica of the applied state
fed by the Raft stream, the Raft status as last pushed, and writes proposed through
the Raft process. It stands in for `RaftNode` where the crypto services use one.

The replica applies the same committed commands, in the same order, as the Raft
process's state machine (apply is deterministic), so it holds the same state at the
same index. A write's outcome arrives after its entry, so by the time a caller hears
"done" this worker has applied it (read-your-writes holds on the same process).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import logging
import math
import time
from pathlib import Path

from keymgr.raft import proposal_batch
from keymgr.raft.node import NoLeader, OnDone, ProposalTimeout, RaftError, RaftStatus, commands_in
from keymgr.seal.controller import SealController
from keymgr.server import worker_wire as wire
from keymgr.server.request_tally import PUSH_PERIOD_S, RequestTally
from keymgr.server.worker_wire import Kind
from keymgr.store.keystore import KeyStore

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 30.0
_DISCONNECTED = RaftStatus(
    "follower", "", None, 0, 0, 0, False, math.inf, error="worker lost its Raft process"
)


class WorkerReplica:
    def __init__(self, store: KeyStore, seal: SealController, socket_path: Path) -> None:
        self._store = store
        self._seal = seal
        self._path = socket_path
        self._applied = 0
        self._status = _DISCONNECTED
        self._status_at = time.monotonic()
        self._writer: asyncio.StreamWriter | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[tuple[int, bytes]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ready = asyncio.Event()  # the first snapshot is in
        self.lost = asyncio.Event()  # the Raft process went away: this worker exits
        self.applying_index = 0

    # -- the RaftNode surface the services use ---------------------------------------

    def status(self) -> RaftStatus:
        """The Raft process's status, aged by how long ago it was pushed, with this
        replica's own applied index (what a read here actually sees)."""
        age = time.monotonic() - self._status_at
        status = self._status
        return dataclasses.replace(
            status,
            applied_index=self._applied,
            seconds_since_leader_contact=status.seconds_since_leader_contact + age,
            seconds_since_caught_up=status.seconds_since_caught_up + age,
        )

    def propose_async(
        self, command: bytes, on_done: OnDone, *, timeout: float | None = None
    ) -> None:
        """Sends `command` to the Raft process; `on_done` runs on this event loop once the
        outcome is known and the entry is applied here."""
        loop = self._loop
        assert loop is not None
        task = loop.create_task(self._propose(command, timeout))

        def finished(done: asyncio.Task[tuple[int, bytes]]) -> None:
            error = done.exception()
            if error is None:
                index, result = done.result()
                self.applying_index = index
                on_done(result, None)
            elif isinstance(error, RaftError):
                on_done(None, error)
            else:
                on_done(None, RaftError(f"worker proposal failed: {error}", outcome_unknown=True))

        task.add_done_callback(finished)

    def read_barrier(self, timeout: float) -> None:
        """Blocking (called through `asyncio.to_thread`): the Raft process's barrier."""
        loop = self._loop
        assert loop is not None
        future = asyncio.run_coroutine_threadsafe(self._request(Kind.BARRIER, b"", timeout), loop)
        future.result(timeout + 1.0)

    # -- the feed ------------------------------------------------------------------------

    async def run(self) -> None:
        """Connects and applies the stream until the Raft process goes away."""
        self._loop = asyncio.get_running_loop()
        reader, self._writer = await self._connect()
        try:
            while True:
                frame = await wire.read_frame(reader)
                self._handle(frame)
        except (asyncio.IncompleteReadError, ConnectionError):
            log.error("worker: the Raft process closed the feed")
        except (wire.WireError, proposal_batch.BatchError) as exc:
            log.error("worker: bad frame from the Raft process: %s", exc)
        finally:
            self._status, self._status_at = _DISCONNECTED, time.monotonic()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(
                        NoLeader("worker lost its Raft process", outcome_unknown=True)
                    )
            self._seal.seal("worker lost its Raft process")
            self.lost.set()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while True:
            try:
                return await asyncio.open_unix_connection(str(self._path), limit=wire.MAX_FRAME)
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    def _handle(self, frame: wire.Frame) -> None:
        kind = frame.kind
        if kind is Kind.ENTRY:
            index, payload = wire.split_indexed(frame.body)
            for command in commands_in(payload):
                self._store.apply(command)
            self._applied = index
        elif kind is Kind.STATUS:
            self._status, self._status_at = wire.parse_status(frame.body), time.monotonic()
        elif kind is Kind.OUTCOME:
            request_id, index, result, error = wire.split_outcome(frame.body)
            future = self._pending.pop(request_id, None)
            if future is not None and not future.done():
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result((index, result))
        elif kind is Kind.RESET:
            index, snapshot = wire.split_indexed(frame.body)
            self._store.restore(snapshot)
            self._applied = index
            self.ready.set()
        elif kind is Kind.ROOT:
            generation, root = wire.split_indexed(frame.body)
            self._seal.adopt_root(root, generation)
        elif kind is Kind.SEALED:
            self._seal.seal(frame.body.decode(errors="replace"))
        else:
            raise wire.WireError(f"unexpected {kind.name} from the Raft process")

    async def push_calls(self, calls: RequestTally) -> None:
        """Sends the calls answered here to the Raft process every PUSH_PERIOD_S, for
        the node's metrics (forever: cancel to stop, then `flush_calls`)."""
        while True:
            await asyncio.sleep(PUSH_PERIOD_S)
            self.flush_calls(calls)

    def flush_calls(self, calls: RequestTally) -> None:
        writer = self._writer
        rows = calls.drain()
        if rows and writer is not None and not self.lost.is_set():
            writer.write(wire.encode(Kind.METRICS, json.dumps(rows).encode()))

    async def _propose(self, command: bytes, timeout: float | None) -> tuple[int, bytes]:
        return await self._request(Kind.PROPOSE, command, timeout)

    async def _request(self, kind: Kind, body: bytes, timeout: float | None) -> tuple[int, bytes]:
        writer = self._writer
        if writer is None or self.lost.is_set():
            raise NoLeader("worker lost its Raft process", outcome_unknown=False)
        request_id = next(self._ids)
        future: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        writer.write(wire.encode(kind, wire.request(request_id, body)))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise ProposalTimeout(f"no outcome within {timeout}s") from None
        finally:
            self._pending.pop(request_id, None)
