"""A pysyncobj journal that is durable (fsync, group commit) and safe to load.

pysyncobj's `FileJournal` writes through an mmap and never flushes it, has no record
checksum (a torn tail either crashes the loader or is loaded and fails on every tick),
stores term and vote with a plain write + rename, and compacts by rewriting the journal
in place. `DurableJournal` has its own record format (`journal_records`: one CRC-32 per
record; the intact prefix is kept and the damage reported) and adds:

* group commit: `add` only appends (pwrite); `sync()` makes everything appended since
  the previous sync durable with one fdatasync. The Raft adapter calls it
  before any message leaves the node and before the leader counts its own log toward the
  commit index (see `keymgr.raft.node` for the ordering duties).
* term, vote and commit index in a small JSON file written atomically (temp, fsync,
  rename, fsync of the directory) instead of pysyncobj's pickle meta file.
* crash-safe rewrites (`replace_entries`, used by compaction and by safe load): a fresh
  journal is built beside the live one, fsynced, then renamed over it.
* `plan_load`: decides which entries to keep when a full dump is loaded, so entries newer
  than the dump are never discarded (pysyncobj alone drops the whole journal when its
  first entry does not match the dump).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pysyncobj.journal import FileJournal, Journal

from keymgr.durable_files import fsync_dir, replace_file, write_all
from keymgr.raft import journal_records
from keymgr.raft.journal_records import Entry

log = logging.getLogger(__name__)

SyncObserver = Callable[[int, int], None]
"""Called after each fsync with (highest index, its term) now durable (tests use it)."""


class JournalError(Exception):
    """The data directory cannot be trusted; the node must not start on it."""


class StorageFailure(Exception):
    """Writing or syncing the journal or the Raft state failed (disk full, I/O error)."""


def _storage_call(what: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except OSError as exc:
        raise StorageFailure(f"{what}: {exc.strerror or exc}") from exc


def plan_load(journal: Sequence[Entry], prev: Entry, last: Entry) -> list[Entry] | None:
    """Journal content to keep when a dump ending at `last` (preceded by `prev`) loads.

    pysyncobj requires the journal to start with exactly (prev, last); otherwise it
    clears it. Returns None when that already holds, else `[prev, last]` followed by
    every journal entry newer than the dump. Entries at or after a term conflict with
    the dump are dropped: the dump holds applied (committed) entries, so a conflicting
    journal suffix is on a branch that never committed. Raises JournalError when the
    journal starts more than one entry after the dump: the entries in between exist
    nowhere on this node and dropping the newer ones would lose acknowledged writes.
    """
    if len(journal) >= 2 and journal[0] == prev and journal[1] == last:
        return None
    last_index = last[1]
    kept: list[Entry] = [prev, last]
    if not journal:
        return kept
    first = journal[0][1]
    if first > last_index + 1:
        raise JournalError(
            f"journal starts at index {first} but the dump ends at {last_index}: "
            "entries in between are missing"
        )
    for entry in journal:
        index, term = entry[1], entry[2]
        if index == prev[1] and term != prev[2]:
            break
        if index == last_index and term != last[2]:
            break
        if index > last_index:
            kept.append(entry)
    return kept


class DurableJournal(Journal):  # type: ignore[misc]
    """A checksummed append-only Raft journal with group-commit fsync and durable term/vote.

    `damage` says why the journal was cut back when it was opened (a torn or corrupt
    record: the intact prefix is kept and the file truncated there); the node then
    rebuilds the rest from the leader without voting (see `keymgr.raft.node`).
    """

    def __init__(self, path: str, *, on_sync: SyncObserver | None = None) -> None:
        if os.path.exists(f"{path}.meta"):
            # pysyncobj would unpickle it; we never write one, so someone else did.
            raise JournalError(f"unexpected pysyncobj pickle meta file {path}.meta")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}.new")  # leftover of a rewrite that crashed
        self._path = path
        self._dir = os.path.dirname(os.path.abspath(path))
        self._state_path = f"{path}.state.json"
        self._on_sync = on_sync
        self._closed = False
        self.damage: str | None = None
        self._entries: list[Entry] = []
        self._offsets: list[int] = []
        self._fd = self._open()
        self._state = self._load_state()
        self._state_dirty = False
        # Whatever the previous process wrote may sit in the page cache only: make it
        # durable before this node acknowledges any of it.
        os.fsync(self._fd)
        fsync_dir(self._dir)
        self._dirty = False
        self.synced_index = self._last_index()

    def _open(self) -> int:
        """Open (creating or converting) the file and load its intact records."""
        if not os.path.exists(self._path):
            self._write_fresh(self._path, [])
        with open(self._path, "rb") as f:
            data = f.read()
        if len(data) < len(journal_records.MAGIC) and journal_records.MAGIC.startswith(data):
            # a journal cut inside its header (a storage fault): nothing intact is left
            self.damage = f"journal header torn ({len(data)} bytes); kept 0 entries"
            log.error("Raft journal %s: %s", self._path, self.damage)
            self._write_fresh(self._path, [])
            data = journal_records.MAGIC
        if data.startswith(journal_records.LEGACY_MAGIC):
            legacy = FileJournal(self._path)
            try:
                entries = [legacy[i] for i in range(len(legacy))]
            finally:
                legacy._destroy()
            self._write_fresh(self._path, entries)
            fsync_dir(self._dir)
            log.warning("converted %s to the checksummed journal format", self._path)
            with open(self._path, "rb") as f:
                data = f.read()
        if not data.startswith(journal_records.MAGIC):
            raise JournalError(f"{self._path} is not a keymgr Raft journal")
        found = journal_records.scan(data)
        fd = os.open(self._path, os.O_RDWR)
        if found.damage is not None:
            self.damage = f"{found.damage}; kept {len(found.entries)} intact entries"
            log.error("Raft journal %s: %s", self._path, self.damage)
            os.ftruncate(fd, found.end)
        self._entries = found.entries
        self._offsets = found.offsets
        self._end = found.end
        return fd

    @staticmethod
    def _write_fresh(path: str, entries: Sequence[Entry]) -> None:
        """A whole journal file, atomically: a failed write (disk full) leaves none."""
        data = journal_records.MAGIC + b"".join(
            journal_records.encode_record(bytes(c), int(i), int(t)) for c, i, t in entries
        )
        tmp = f"{path}.new"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    # -- the pysyncobj Journal interface --------------------------------------------

    def __getitem__(self, item: Any) -> Any:
        return self._entries[item]

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, command: Any, idx: int, term: int) -> None:
        command = bytes(command)
        record = journal_records.encode_record(command, int(idx), int(term))
        written = _storage_call("journal append", lambda: os.pwrite(self._fd, record, self._end))
        if written != len(record):
            raise StorageFailure(f"journal append: short write ({written} of {len(record)})")
        self._entries.append((command, int(idx), int(term)))
        self._offsets.append(self._end)
        self._end += len(record)
        self._dirty = True

    def clear(self) -> None:
        self._truncate(0)

    def deleteEntriesFrom(self, entryFrom: int) -> None:
        self._truncate(entryFrom)

    def _truncate(self, position: int) -> None:
        if position >= len(self._entries):
            return
        self._end = self._offsets[position] if position > 0 else len(journal_records.MAGIC)
        del self._entries[position:]
        del self._offsets[position:]
        end = self._end
        _storage_call("journal truncate", lambda: os.ftruncate(self._fd, end))
        self._dirty = True

    def flush(self) -> None:
        """pysyncobj calls this; durability is `sync()`'s job (group commit)."""

    # -- group commit ---------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        """True when entries were appended or removed since the last `sync()`."""
        return self._dirty

    def sync(self) -> bool:
        """Make every change since the last sync durable (one fsync); False if clean."""
        if not self._dirty or self._closed:
            return False
        _storage_call("journal fsync", lambda: os.fsync(self._fd))
        self._dirty = False
        self.synced_index = self._last_index()
        if self._on_sync is not None:
            self._on_sync(self.synced_index, self._last_term())
        return True

    def deleteEntriesTo(self, entryTo: int) -> None:
        """Compaction: drop entries covered by the dump, crash-safely.

        pysyncobj renamed the new dump into place just before calling this; fsync the
        directory first so the dump is durable before the entries it covers disappear.
        """
        fsync_dir(self._dir)
        self.replace_entries(self._entries[entryTo:])

    def replace_entries(self, entries: Sequence[Entry]) -> None:
        """Replace the whole journal atomically: build, fsync, rename, reload."""
        _storage_call("journal rewrite", lambda: self._write_fresh(self._path, entries))
        os.close(self._fd)
        fsync_dir(self._dir)
        self._fd = self._open()
        self._dirty = False
        self.synced_index = self._last_index()
        if self._on_sync is not None:
            self._on_sync(self.synced_index, self._last_term())

    def entries(self) -> list[Entry]:
        """A copy of all entries (for load planning and tests)."""
        return list(self._entries)

    def _last_index(self) -> int:
        return int(self._entries[-1][1]) if self._entries else 0

    def _last_term(self) -> int:
        return int(self._entries[-1][2]) if self._entries else 0

    # -- term, vote, commit index ---------------------------------------------------

    def _load_state(self) -> dict[str, Any]:
        try:
            with open(self._state_path, "rb") as f:
                raw = json.loads(f.read())
        except FileNotFoundError:
            return {"term": 0, "voted_for": None, "commit_index": 1}
        except ValueError as exc:
            raise JournalError(f"corrupt raft state file {self._state_path}") from exc
        term, voted, commit = raw.get("term"), raw.get("voted_for"), raw.get("commit_index")
        if (
            not isinstance(term, int)
            or not isinstance(commit, int)
            or not (voted is None or isinstance(voted, str))
        ):
            raise JournalError(f"malformed raft state file {self._state_path}")
        return {"term": term, "voted_for": voted, "commit_index": commit}

    def _store_state(self) -> None:
        data = json.dumps(self._state, sort_keys=True).encode()
        _storage_call("Raft term/vote file", lambda: replace_file(self._state_path, data))
        self._state_dirty = False

    def setCurrentTerm(self, term: int, votedForNodeId: str | None) -> None:
        """Raft: term and vote must be durable before any message reflecting them."""
        self._state["term"] = int(term)
        self._state["voted_for"] = None if votedForNodeId is None else str(votedForNodeId)
        self._store_state()

    def getCurrentTerm(self) -> int:
        return int(self._state["term"])

    def getVotedForNodeId(self) -> str | None:
        voted = self._state["voted_for"]
        return None if voted is None else str(voted)

    def setRaftCommitIndex(self, raftCommitIndex: int) -> None:
        if raftCommitIndex != self._state["commit_index"]:
            self._state["commit_index"] = int(raftCommitIndex)
            self._state_dirty = True

    def getRaftCommitIndex(self) -> int:
        return int(self._state["commit_index"])

    def onOneSecondTimer(self) -> None:
        """Persist the commit index lazily (it is only a restart hint in Raft)."""
        if self._state_dirty and not self._closed:
            self.sync()
            self._store_state()

    def _destroy(self) -> None:
        if self._closed:
            return
        try:
            self.sync()
            if self._state_dirty:
                self._store_state()
        except StorageFailure as exc:
            log.error("closing the Raft journal without a final sync: %s", exc)
        self._closed = True
        os.close(self._fd)


# -- full dump (snapshot) file format -------------------------------------------------
#
# pysyncobj pickles its dump by default; we give it a custom serializer instead, so the
# file holds the state machine's own `snapshot()` bytes plus the Raft metadata pysyncobj
# needs to resume (the last two applied log entries and the cluster membership):
#
#     magic (8 bytes) | header length (u32, big endian) | header (JSON, UTF-8)
#     | prev entry command | last entry command | snapshot | SHA-256 of all before it
#
# The two entry commands are opaque bytes (pysyncobj puts them back into the journal).
# A dump that fails any check raises DumpError: loading must fail closed.

MAGIC = b"KMRDUMP1"
_LEN = struct.Struct(">I")
_DIGEST = 32
MAX_HEADER = 1 << 20


class DumpError(Exception):
    """The dump file is missing, truncated, corrupt or of an unknown format."""


@dataclass(frozen=True)
class Dump:
    prev: Entry
    last: Entry
    cluster: tuple[str, ...]
    snapshot: bytes


def encode_dump(dump: Dump) -> bytes:
    """Deterministic encoding (same inputs give the same bytes)."""
    return b"".join(
        encode_dump_stream(dump.prev, dump.last, dump.cluster, len(dump.snapshot), [dump.snapshot])
    )


def encode_dump_stream(
    prev: Entry,
    last: Entry,
    cluster: Sequence[str],
    snapshot_len: int,
    snapshot: Iterable[bytes],
) -> Iterator[bytes]:
    """`encode_dump` in pieces, for a snapshot produced in pieces (`snapshot_len` bytes
    in all): the dump is written without ever being whole in memory."""
    header = {
        "version": 1,
        "prev": [prev[1], prev[2], len(prev[0])],
        "last": [last[1], last[2], len(last[0])],
        "cluster": sorted(cluster),
        "snapshot_len": snapshot_len,
    }
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256()
    written = 0
    for piece in (MAGIC, _LEN.pack(len(head)), head, prev[0], last[0]):
        digest.update(piece)
        yield piece
    for piece in snapshot:
        digest.update(piece)
        written += len(piece)
        yield piece
    if written != snapshot_len:
        raise DumpError(f"snapshot was {written} bytes, announced {snapshot_len}")
    yield digest.digest()


def _entry(field: object, name: str) -> tuple[int, int, int]:
    if (
        not isinstance(field, list)
        or len(field) != 3
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in field)
    ):
        raise DumpError(f"dump header field {name!r} is malformed")
    return field[0], field[1], field[2]


def decode_dump(data: bytes) -> Dump:
    """Parse and verify a dump; raises DumpError on any inconsistency."""
    if len(data) < len(MAGIC) + _LEN.size + _DIGEST or not data.startswith(MAGIC):
        raise DumpError("not a keymgr raft dump (bad magic or too short)")
    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    if hashlib.sha256(body).digest() != digest:
        raise DumpError("dump checksum mismatch")
    pos = len(MAGIC)
    (head_len,) = _LEN.unpack_from(body, pos)
    pos += _LEN.size
    if head_len > MAX_HEADER or pos + head_len > len(body):
        raise DumpError("dump header length out of range")
    try:
        header = json.loads(body[pos : pos + head_len])
    except ValueError as exc:
        raise DumpError("dump header is not JSON") from exc
    pos += head_len
    if not isinstance(header, dict) or header.get("version") != 1:
        raise DumpError("unknown dump version")
    p_idx, p_term, p_len = _entry(header.get("prev"), "prev")
    l_idx, l_term, l_len = _entry(header.get("last"), "last")
    cluster = header.get("cluster")
    snap_len = header.get("snapshot_len")
    if not isinstance(cluster, list) or not all(isinstance(a, str) for a in cluster):
        raise DumpError("dump header field 'cluster' is malformed")
    if not isinstance(snap_len, int) or snap_len < 0:
        raise DumpError("dump header field 'snapshot_len' is malformed")
    if pos + p_len + l_len + snap_len != len(body):
        raise DumpError("dump body length does not match its header")
    if l_idx != p_idx + 1 or l_term < p_term:
        raise DumpError("dump entries are not consecutive")
    prev = (bytes(body[pos : pos + p_len]), p_idx, p_term)
    pos += p_len
    last = (bytes(body[pos : pos + l_len]), l_idx, l_term)
    pos += l_len
    return Dump(prev=prev, last=last, cluster=tuple(cluster), snapshot=bytes(body[pos:]))
