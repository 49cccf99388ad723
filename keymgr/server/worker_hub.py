"""The Raft process's side of worker processes: it streams the applied Raft entries,
its Raft status and its root key to each worker, and proposes their writes.

Ordering is the whole design. Everything a worker must see in Raft order (a new
worker's starting snapshot, each applied entry, a restore, the outcome of a write it
proposed) is queued by the tick thread into one outbox, and the event loop copies the
outbox to the sockets in that order. So a worker has applied a write's entry before
it reads the write's outcome, and a new worker's snapshot is exactly the state before
the first entry it is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from keymgr.raft.node import RaftError, RaftNode
from keymgr.seal.controller import SealController
from keymgr.server import worker_wire as wire
from keymgr.server.worker_wire import Kind
from keymgr.store.keystore import KeyStore

log = logging.getLogger(__name__)

STATUS_PERIOD_S = 0.02  # the worker's read gate adds this much age at most
JOIN_TIMEOUT_S = 10.0
MAX_BUFFERED = 256 * 1024 * 1024  # a worker that cannot keep up is dropped and restarts


@dataclass(eq=False)
class _Worker:
    writer: asyncio.StreamWriter
    active: bool = False  # receives the stream (after its RESET)
    closed: bool = False
    seal_state: tuple[object, ...] = field(default=())


class WorkerHub:
    """Serves the workers' socket; an `ApplyListener` of the Raft node."""

    def __init__(self, raft: RaftNode, store: KeyStore, seal: SealController, path: Path) -> None:
        self._raft = raft
        self._store = store
        self._seal = seal
        self._path = path
        self._lock = threading.Lock()
        # (target or None for every active worker, frame) in Raft order; a RESET for a
        # joining worker is (worker, frame) with `joining` set
        self._outbox: list[tuple[_Worker | None, bytes, bool]] = []
        self._wake_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._workers: set[_Worker] = set()
        self._server: asyncio.AbstractServer | None = None
        self._status_task: asyncio.Task[None] | None = None
        self._barriers: set[asyncio.Task[None]] = set()

    # -- tick thread (ApplyListener) --------------------------------------------------

    def entry_applied(self, index: int, payload: bytes) -> None:
        if self._workers:
            self._queue(None, wire.encode(Kind.ENTRY, wire.indexed(index, payload)))

    def state_restored(self, index: int) -> None:
        if self._workers:
            frame = wire.encode(Kind.RESET, wire.indexed(index, self._store.snapshot()))
            self._queue(None, frame)

    def _queue(self, target: _Worker | None, frame: bytes, joining: bool = False) -> None:
        loop = self._loop
        if loop is None:
            return
        with self._lock:
            self._outbox.append((target, frame, joining))
            if self._wake_pending:
                return
            self._wake_pending = True
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(self._flush)

    # -- event loop -------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()
        self._server = await asyncio.start_unix_server(
            self._serve, path=str(self._path), limit=wire.MAX_FRAME
        )
        os.chmod(self._path, 0o600)
        self._status_task = asyncio.create_task(self._push_status())

    async def close(self) -> None:
        if self._status_task is not None:
            self._status_task.cancel()
        if self._server is not None:
            self._server.close()
        for worker in list(self._workers):
            self._drop(worker)
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()

    def _flush(self) -> None:
        with self._lock:
            outbox, self._outbox = self._outbox, []
            self._wake_pending = False
        for target, frame, joining in outbox:
            if joining and target is not None:
                target.active = True
            if target is not None:
                self._send(target, frame)
                continue
            for worker in list(self._workers):
                if worker.active:
                    self._send(worker, frame)

    def _send(self, worker: _Worker, frame: bytes) -> None:
        if worker.closed:
            return
        transport = worker.writer.transport
        if transport.get_write_buffer_size() > MAX_BUFFERED:
            log.warning("a worker process fell too far behind; dropping it (it restarts)")
            self._drop(worker)
            return
        worker.writer.write(frame)

    def _drop(self, worker: _Worker) -> None:
        worker.closed = True
        self._workers.discard(worker)
        worker.writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        worker = _Worker(writer)
        self._workers.add(worker)
        try:
            await self._join(worker)
            while True:
                frame = await wire.read_frame(reader)
                if frame.kind is Kind.PROPOSE:
                    request_id, command = wire.split_request(frame.body)
                    self._propose(worker, request_id, command)
                elif frame.kind is Kind.BARRIER:
                    request_id, _ = wire.split_request(frame.body)
                    task = asyncio.create_task(self._barrier(worker, request_id))
                    self._barriers.add(task)
                    task.add_done_callback(self._barriers.discard)
                else:
                    raise wire.WireError(f"unexpected {frame.kind.name} from a worker")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except (wire.WireError, RaftError, TimeoutError) as exc:
            log.warning("worker connection closed: %s", exc)
        finally:
            self._drop(worker)

    async def _join(self, worker: _Worker) -> None:
        """Sends the worker a snapshot taken in the tick thread between two entries."""

        def snapshot(_core: object) -> None:
            index = self._raft.applying_index
            frame = wire.encode(Kind.RESET, wire.indexed(index, self._store.snapshot()))
            self._queue(worker, frame, joining=True)

        await asyncio.to_thread(self._raft.call_in_tick, snapshot, JOIN_TIMEOUT_S)
        self._send_status(worker, *self._status_now())

    def _propose(self, worker: _Worker, request_id: int, command: bytes) -> None:
        raft = self._raft

        def on_done(result: bytes | None, error: RaftError | None) -> None:
            index = raft.applying_index if error is None else 0
            frame = wire.encode(Kind.OUTCOME, wire.outcome(request_id, index, result, error))
            self._queue(worker, frame)

        raft.propose_async(command, on_done)

    async def _barrier(self, worker: _Worker, request_id: int) -> None:
        error: RaftError | None = None
        try:
            await asyncio.to_thread(self._raft.read_barrier, 5.0)
        except RaftError as exc:
            error = exc
        index = self._raft.status().applied_index if error is None else 0
        self._queue(worker, wire.encode(Kind.OUTCOME, wire.outcome(request_id, index, b"", error)))

    async def _push_status(self) -> None:
        while True:
            await asyncio.sleep(STATUS_PERIOD_S)
            active = [w for w in self._workers if w.active]
            if active:
                now = self._status_now()  # read once per period, sent to every worker
                for worker in active:
                    self._send_status(worker, *now)

    def _status_now(self) -> tuple[bytes, tuple[bytes, int] | None]:
        """The Raft status frame and the root key as held, read together."""
        frame = wire.encode(Kind.STATUS, wire.status_body(self._raft.status()))
        return frame, self._seal.held_root()

    def _send_status(
        self, worker: _Worker, status_frame: bytes, held: tuple[bytes, int] | None
    ) -> None:
        self._queue(worker, status_frame)
        state: tuple[object, ...] = (
            ("sealed", self._seal.reason) if held is None else ("unsealed", held[1], held[0])
        )
        if state == worker.seal_state:
            return
        worker.seal_state = state
        if held is None:
            frame = wire.encode(Kind.SEALED, (self._seal.reason or "sealed").encode())
        else:
            frame = wire.encode(Kind.ROOT, wire.root_body(held[1], held[0]))
        self._queue(worker, frame)
