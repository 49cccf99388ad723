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
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any

from keymgr.durable_files import fsync_dir, fsync_file, write_all
from keymgr.raft.durable_journal import DumpError, decode_dump

log = logging.getLogger(__name__)

MAX_SNAPSHOT_BYTES = 4 << 30

Source = tuple[str, int]
"""(leader id, term) that a chunk came from."""


class SnapshotSender:
    """Leader side: adds each chunk's byte offset to what pysyncobj sends."""

    def __init__(self, read_chunk: Callable[[Any], Any]) -> None:
        self._read_chunk = read_chunk
        self._offsets: dict[str, int] = {}

    def next_chunk(self, node: Any) -> Any:
        chunk = self._read_chunk(node)
        if not isinstance(chunk, tuple):
            return chunk  # None (not ready) or False (read error): pysyncobj's meaning
        data, first, last = chunk
        key = str(node.id) if hasattr(node, "id") else str(node)
        offset = 0 if first else self._offsets.get(key, 0)
        self._offsets[key] = offset + len(data)
        return (data, first, last, offset)

    def reset(self, node: Any) -> None:
        self._offsets.pop(str(node.id) if hasattr(node, "id") else str(node), None)


class SnapshotReceiver:
    """Follower side: assembles, verifies and durably installs one snapshot at a time."""

    def __init__(self, dump_path: str, *, max_bytes: int = MAX_SNAPSHOT_BYTES) -> None:
        self._dump_path = dump_path
        self._tmp_path = f"{dump_path}.incoming"
        self._max_bytes = max_bytes
        self._fd: int | None = None
        self._source: Source | None = None
        self._received = 0
        self.installed = 0  # snapshots installed (tests, status)
        self.discarded = 0  # transfers thrown away

    def receive(self, chunk: Any, source: Source | None, applied_index: int) -> bool:
        """Takes one chunk; True once a complete, verified snapshot replaced the dump."""
        parsed = _parse(chunk)
        if parsed is None or source is None:
            if chunk is not None:
                self._discard("malformed chunk")
            return False
        data, first, last, offset = parsed
        if first:
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
        self._close()
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
        os.replace(self._tmp_path, self._dump_path)
        fsync_file(self._dump_path)
        fsync_dir(os.path.dirname(os.path.abspath(self._dump_path)))
        self.installed += 1
        log.info("installed a snapshot up to index %d (%d bytes)", dump.last[1], size)
        return True

    def _discard(self, why: str) -> None:
        self.discarded += 1
        source = self._source
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
