"""Raft dumps written off the tick thread, with the same durability order as before.

pysyncobj without fork writes its dump inside a tick: with a large state that pause
outlasts the election timeout. Here compaction is split in two:

1. in the tick thread (`start`, in place of pysyncobj's `Serializer.serialize`): the
   state machine cuts a consistent, immutable view of itself (`freeze`: pointer copies,
   no encoding) at the entries pysyncobj names;
2. in a worker thread: the dump is encoded piece by piece, written to a temp file,
   fsynced, renamed over the dump, and the directory fsynced.

pysyncobj polls `check` (in place of `checkSerializing`) every tick and trims the
journal only once it reports SUCCESS, i.e. once the dump is durable. One dump at a time.

A snapshot installed from the leader supersedes a dump being written, which is older:
the installer renames under `install_lock` and calls `supersede`; the worker renames
under the same lock only if its dump was not superseded, else it throws it away, and
`check` then reports nothing to trim.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pysyncobj.config import SERIALIZER_STATE

from keymgr.durable_files import fsync_dir, write_all
from keymgr.raft.durable_journal import encode_dump_stream
from keymgr.raft.journal_records import Entry

log = logging.getLogger(__name__)


class Frozen(Protocol):
    """A state cut that can be encoded later, in any thread."""

    def size(self) -> int: ...
    def chunks(self) -> Iterable[bytes]: ...


class FrozenBytes:
    """A state machine's snapshot already encoded (machines without `freeze`)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def size(self) -> int:
        return len(self._data)

    def chunks(self) -> Iterable[bytes]:
        return (self._data,)


@dataclass(eq=False)
class _Job:
    entry_id: int
    prev: Entry
    last: Entry
    cluster: Sequence[str]
    frozen: Frozen | None
    cut_s: float
    done: threading.Event = field(default_factory=threading.Event)
    error: str | None = None
    superseded: bool = False
    thread: threading.Thread | None = None


class DumpWriter:
    """Writes `dump_path` in a worker thread; `cut` runs in the tick thread."""

    def __init__(self, dump_path: str, cut: Callable[[], Frozen]) -> None:
        self._dump_path = dump_path
        self._tmp_path = f"{dump_path}.writing"
        self._cut = cut
        self.install_lock = threading.Lock()  # held by every rename over the dump
        self._job: _Job | None = None
        self.written = 0  # dumps made durable (tests, status)

    # -- pysyncobj Serializer hooks (tick thread) ------------------------------------

    def start(self, data: Any, entry_id: int) -> None:
        """Cuts the state now and writes it in the background (`Serializer.serialize`)."""
        if self._job is not None:
            return
        _, last, prev, cluster = data
        started = time.monotonic()
        frozen = self._cut()
        job = _Job(
            entry_id=int(entry_id),
            prev=(bytes(prev[0]), int(prev[1]), int(prev[2])),
            last=(bytes(last[0]), int(last[1]), int(last[2])),
            cluster=tuple(str(n.id) for n in cluster),
            frozen=frozen,
            cut_s=time.monotonic() - started,
        )
        job.thread = threading.Thread(
            target=self._write, args=(job,), name="raft-dump", daemon=True
        )
        self._job = job
        job.thread.start()

    def check(self) -> tuple[int, int | None]:
        """pysyncobj's `checkSerializing`: SUCCESS only once the dump is durable."""
        job = self._job
        if job is None:
            return SERIALIZER_STATE.NOT_SERIALIZING, None
        if not job.done.is_set():
            return SERIALIZER_STATE.SERIALIZING, job.entry_id
        self._job = None
        if job.superseded:
            return SERIALIZER_STATE.NOT_SERIALIZING, None
        if job.error is not None:
            return SERIALIZER_STATE.FAILED, job.entry_id
        return SERIALIZER_STATE.SUCCESS, job.entry_id

    def supersede(self) -> None:
        """A newer dump was installed (call with `install_lock` held)."""
        job = self._job
        if job is not None:
            job.superseded = True

    @property
    def busy(self) -> bool:
        return self._job is not None

    def wait(self, timeout: float = 30.0) -> None:
        """Waits for a dump in progress and forgets it (before a restart or close)."""
        job = self._job
        if job is not None and job.thread is not None:
            job.thread.join(timeout)
        self._job = None

    # -- worker ----------------------------------------------------------------------

    def _write(self, job: _Job) -> None:
        frozen, job.frozen = job.frozen, None
        started = time.monotonic()
        try:
            assert frozen is not None
            fd = os.open(self._tmp_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            size = frozen.size()
            try:
                pieces = encode_dump_stream(job.prev, job.last, job.cluster, size, frozen.chunks())
                for piece in pieces:
                    write_all(fd, piece)
                os.fsync(fd)
            finally:
                os.close(fd)
            del frozen
            with self.install_lock:
                if job.superseded:
                    os.unlink(self._tmp_path)
                    return
                os.replace(self._tmp_path, self._dump_path)
                fsync_dir(os.path.dirname(os.path.abspath(self._dump_path)))
                self.written += 1
            log.info(
                "wrote the Raft dump at index %d: %d snapshot bytes, state cut in the tick "
                "thread in %.3f s, written and synced by a worker in %.3f s",
                job.last[1],
                size,
                job.cut_s,
                time.monotonic() - started,
            )
        except Exception as exc:  # disk full, I/O error: pysyncobj logs FAILED
            job.error = f"{type(exc).__name__}: {exc}"
            log.error("writing the Raft dump failed: %s", job.error)
            with contextlib.suppress(OSError):
                os.unlink(self._tmp_path)
        finally:
            job.done.set()
