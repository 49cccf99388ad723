"""Snapshot transfer from the leader: every chunk accounted for, installed only when whole.

pysyncobj streams the leader's dump file in chunks `(data, is_first, is_last)` and the
follower appends each chunk to a temp file and, on the last one, renames it over its
dump without any check. A chunk lost on a disconnect (or sent by a leader that was
deposed meanwhile) left a follower with a truncated dump that it then could not start
from. Here the sender numbers each chunk with its byte offset, and the receiver:

* accepts chunks only in order, from the leader and term that started the transfer;
* on the last chunk fsyncs the file, verifies it (`decode_dump`: length and SHA-256),
  refuses a dump older than what this node has already applied, then renames it over
  the dump and fsyncs the directory. Only then does pysyncobj load it.

Anything else discards the transfer (one log line); the leader starts a new one when the
follower next asks for entries it no longer has.

The sender is paced: pysyncobj reads chunk after chunk for up to a heartbeat period in
one round, and the node then pickles, encrypts and queues every one of them in the same
tick; with a dump of tens of MB the leader went silent past the election timeout and a
healthy follower started an election. Each round (one `sendAppendEntries` of the tick
thread) now reads at most `ROUND_BUDGET_BYTES`; a follower whose share is spent is held
back for the rest of the round (it gets the heartbeat pysyncobj sends with an empty
chunk) and its transfer resumes at the next round.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any

from keymgr.durable_files import fsync_dir, write_all
from keymgr.raft.durable_journal import DumpError, decode_dump
from keymgr.raft.snapshot_install import Prepare, Prepared, PreparedInstall

log = logging.getLogger(__name__)

MAX_SNAPSHOT_BYTES = 4 << 30
# per heartbeat round: 8 chunks of 64 KiB; compressing and encrypting them takes
# ~12 ms on an idle core, ~50 ms on 2 cores at load 11 (election timeout: 150 ms)
ROUND_BUDGET_BYTES = 512 << 10

Source = tuple[str, int]
"""(leader id, term) that a chunk came from."""


class SnapshotSender:
    """Leader side: adds each chunk's byte offset to what pysyncobj sends, and paces it.

    `hold(node)` is called when a round's budget is spent while `node` still has chunks
    to send: it must make pysyncobj end that node's loop for this round (the adapter
    takes the node out of the connected set until `end_round` returns it).
    """

    def __init__(
        self,
        read_chunk: Callable[[Any], Any],
        *,
        hold: Callable[[Any], None] | None = None,
        round_budget: int = ROUND_BUDGET_BYTES,
    ) -> None:
        self._read_chunk = read_chunk
        self._offsets: dict[str, int] = {}
        self._hold = hold
        self._round_budget = round_budget
        self._spent = 0
        self._held: list[Any] = []
        self.held_rounds = 0  # rounds in which a transfer was cut short (tests, status)

    def start_round(self) -> None:
        self._spent = 0

    def end_round(self) -> list[Any]:
        """The nodes held back in this round (to be returned to the connected set)."""
        held, self._held = self._held, []
        return held

    def next_chunk(self, node: Any) -> Any:
        if self._hold is not None and self._spent >= self._round_budget:
            if not self._held or self._held[-1] is not node:
                self._held.append(node)
                self.held_rounds += 1
            self._hold(node)
            return None  # pysyncobj sends an empty heartbeat; the rest next round
        chunk = self._read_chunk(node)
        if not isinstance(chunk, tuple):
            return chunk  # None (not ready) or False (read error): pysyncobj's meaning
        data, first, last = chunk
        self._spent += len(data)
        key = _key(node)
        offset = 0 if first else self._offsets.get(key, 0)
        self._offsets[key] = offset + len(data)
        return (data, first, last, offset)

    def reset(self, node: Any) -> None:
        self._offsets.pop(_key(node), None)


def _key(node: Any) -> str:
    return str(node.id) if hasattr(node, "id") else str(node)


class SnapshotReceiver:
    """Follower side: assembles, verifies and durably installs one snapshot at a time.

    With `off_tick`, the last chunk does not install anything: it starts a
    `PreparedInstall` (verify and decode on a thread, `prepare` building the machine's
    new state) and `take_prepared`, polled by the tick, installs the file once that is
    done. Until then `pending_source` names the transfer being installed.
    """

    def __init__(
        self,
        dump_path: str,
        *,
        max_bytes: int = MAX_SNAPSHOT_BYTES,
        off_tick: bool = False,
        prepare: Prepare | None = None,
    ) -> None:
        self._dump_path = dump_path
        self._tmp_path = f"{dump_path}.incoming"
        self._max_bytes = max_bytes
        self._off_tick = off_tick
        self._prepare = prepare
        self._fd: int | None = None
        self._source: Source | None = None
        self._received = 0
        self._pending: tuple[PreparedInstall, Source, int] | None = None
        self.installed = 0  # snapshots installed (tests, status)
        self.discarded = 0  # transfers thrown away

    @property
    def pending_source(self) -> Source | None:
        """(leader, term) of a complete transfer being verified and decoded off the tick."""
        return self._pending[1] if self._pending is not None else None

    def take_prepared(self, applied_index: int) -> Prepared | None:
        """The pending install once its thread is done and its file is the dump (tick)."""
        pending = self._pending
        if pending is None or not pending[0].done:
            return None
        self._pending = None
        install, source, size = pending
        prepared, error = install.outcome()
        if prepared is None:
            self._discard(f"{size} bytes received, {error}", source)
            return None
        if prepared.dump.last[1] < applied_index:
            self._discard(
                f"it ends at index {prepared.dump.last[1]}, before this node's applied "
                f"{applied_index}",
                source,
            )
            return None
        self._replace_dump()
        log.info(
            "installed a snapshot up to index %d (%d bytes; verified and decoded in %.3f s "
            "off the Raft thread)",
            prepared.dump.last[1],
            size,
            prepared.seconds,
        )
        return prepared

    def cancel_pending(self, why: str) -> None:
        pending = self._pending
        if pending is not None:
            self._pending = None
            self._discard(why, pending[1])

    def receive(self, chunk: Any, source: Source | None, applied_index: int) -> bool:
        """Takes one chunk; True once a complete, verified snapshot replaced the dump."""
        parsed = _parse(chunk)
        if parsed is None or source is None:
            if chunk is not None:
                self._discard("malformed chunk")
            return False
        data, first, last, offset = parsed
        if first:
            if self._pending is not None:
                self.cancel_pending(f"a new transfer from {source[0]} (term {source[1]})")
            self._start(source)
        if self._fd is None:
            return False  # the rest of a transfer already discarded: wait for a new one
        if source != self._source:
            self._discard(f"chunk from {source[0]} term {source[1]} during another transfer")
            return False
        if offset != self._received:
            self._discard(f"chunk at byte {offset}, expected byte {self._received}")
            return False
        if self._received + len(data) > self._max_bytes:
            self._discard(f"larger than {self._max_bytes} bytes")
            return False
        assert self._fd is not None
        try:
            write_all(self._fd, data)
            self._received += len(data)
            return self._finish(applied_index) if last else False
        except OSError as exc:  # disk full: the leader starts over later
            self._discard(f"cannot store it: {exc.strerror or exc}")
            return False

    def _start(self, source: Source) -> None:
        self._close()
        try:
            self._fd = os.open(self._tmp_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            log.warning("cannot receive a snapshot: %s", exc.strerror or exc)
            return
        self._source = source
        self._received = 0

    def _finish(self, applied_index: int) -> bool:
        assert self._fd is not None
        os.fsync(self._fd)
        size = self._received
        source = self._source
        self._close()
        if self._off_tick and source is not None:
            self._pending = (PreparedInstall(self._tmp_path, self._prepare), source, size)
            return False
        try:
            with open(self._tmp_path, "rb") as f:
                dump = decode_dump(f.read())
        except (DumpError, OSError) as exc:
            self._discard(f"{size} bytes received, {exc}")
            return False
        if dump.last[1] < applied_index:
            self._discard(
                f"it ends at index {dump.last[1]}, before this node's applied {applied_index}"
            )
            return False
        self._replace_dump()
        log.info("installed a snapshot up to index %d (%d bytes)", dump.last[1], size)
        return True

    def _replace_dump(self) -> None:
        """The verified, fsynced temp file becomes the dump (rename, directory fsync)."""
        os.replace(self._tmp_path, self._dump_path)
        fsync_dir(os.path.dirname(os.path.abspath(self._dump_path)))
        self.installed += 1

    def _discard(self, why: str, source: Source | None = None) -> None:
        self.discarded += 1
        source = source or self._source
        self._close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp_path)
        origin = f" from {source[0]} (term {source[1]})" if source else ""
        log.warning("discarded a snapshot transfer%s: %s", origin, why)

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None
        self._source = None
        self._received = 0

    def close(self) -> None:
        self._close()


def _parse(chunk: Any) -> tuple[bytes, bool, bool, int] | None:
    if not isinstance(chunk, tuple) or len(chunk) != 4:
        return None
    data, first, last, offset = chunk
    if (
        not isinstance(data, bytes)
        or not isinstance(first, bool)
        or not isinstance(last, bool)
        or not isinstance(offset, int)
        or isinstance(offset, bool)
        or offset < 0
    ):
        return None
    return data, first, last, offset
