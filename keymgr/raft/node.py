"""Raft adapter: a pysyncobj node, hardened for a key manager.

The state machine is bytes in, bytes out (`StateMachine`). pysyncobj replicates one
entry point that carries an encoded command; everything else here is about making what
pysyncobj acknowledges durable and making restarts lossless.

Ordering duties (like etcd-raft's `Ready` contract), enforced by `raft_core`:

1. Entries appended to the journal are fsynced (group commit: one msync + fsync for
   everything appended since the last one) before any message leaves the node. Hence a
   follower's AppendEntries acknowledgement always covers durable entries only, a vote
   grant is sent after the vote is durable, and the leader's entries are durable before
   followers even receive them.
2. The leader fsyncs at the start of every tick, before the commit computation in which
   it counts its own log: an entry is committed only once a majority holds it on disk.
3. Term and vote are written atomically and durably (temp, fsync, rename, dir fsync)
   before the message that reflects them (pysyncobj stores them synchronously).
4. A dump (snapshot) is fsynced before the rename, and the directory is fsynced after it
   and before the journal entries the dump covers are removed; journal rewrites are
   atomic (build beside, fsync, rename). The state is cut in the tick thread and the
   dump written by a worker thread (`dump_writer`): the tick never waits on the disk.
5. On start, the journal is reconciled with the dump before pysyncobj compares them, so
   entries newer than the dump are kept (pysyncobj alone would drop the whole journal).
   A dump that fails its checksum, or a journal with a gap after the dump, stops the
   node (fail closed) rather than silently losing acknowledged writes.

Threads: pysyncobj runs one tick thread. `StateMachine.apply`, `snapshot`, `restore` and
every `on_done` callback run in it: keep them fast, never block, never call `propose`
or `read_barrier` from them (they would wait on the thread they block).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import heapq
import itertools
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pysyncobj import FAIL_REASON, SyncObjConf
from pysyncobj import syncobj as _syncobj_module
from pysyncobj.config import SERIALIZER_STATE
from pysyncobj.monotonic import monotonic as raft_clock
from pysyncobj.node import TCPNode

from keymgr.durable_files import fsync_dir, fsync_file, replace_file, write_all
from keymgr.ops.ports import private_port
from keymgr.raft import proposal_batch
from keymgr.raft.core import Core, plan_append
from keymgr.raft.dump_writer import DumpWriter, Frozen, FrozenBytes
from keymgr.raft.durable_journal import (
    Dump,
    DumpError,
    DurableJournal,
    JournalError,
    StorageFailure,
    SyncObserver,
    decode_dump,
    encode_dump,
    plan_load,
)
from keymgr.raft.leadership_transfer import PendingTransfer, Step
from keymgr.raft.settings import RaftSettings, check_address, validate_settings
from keymgr.raft.snapshot_install import Prepared
from keymgr.raft.snapshot_transfer import SnapshotReceiver, SnapshotSender
from keymgr.raft.tls import RaftTls, RaftTlsFiles
from keymgr.raft.wire_codec import install as install_wire_codec

__all__ = [
    "NoLeader",
    "PeerStatus",
    "ProposalRejected",
    "ProposalTimeout",
    "RaftError",
    "RaftNode",
    "RaftSettings",
    "RaftStatus",
    "StateMachine",
]

log = logging.getLogger(__name__)
install_wire_codec()  # nothing pysyncobj decodes may build an arbitrary object

_COMMAND = b"\x01"
_BARRIER = b"\x02"
_ROLES = {0: "follower", 1: "candidate", 2: "leader"}
_CREATE_JOURNAL_LOCK = threading.Lock()

OnDone = Callable[[bytes | None, "RaftError | None"], None]
T = TypeVar("T")
MEMBERS_FILE = "members.json"
TRANSFER_KEEPALIVE_S = 0.1  # a follower's "still here" while a snapshot arrives


class StateMachine(Protocol):
    """A machine may also offer `freeze() -> Frozen` (a cut encoded later in another
    thread); without it, `snapshot()` runs in the tick thread at each compaction."""

    def apply(self, command: bytes) -> bytes: ...
    def snapshot(self) -> bytes: ...
    def restore(self, snapshot: bytes) -> None: ...


class ApplyListener(Protocol):
    """Told, in the tick thread, of every Raft entry once it is applied and of every
    restore: worker processes replay the same stream into their own replicas."""

    def entry_applied(self, index: int, payload: bytes) -> None: ...
    def state_restored(self, index: int) -> None: ...


@dataclass(frozen=True)
class _Preloaded:
    """A dump restored before the Raft core started (so its first tick is short)."""

    identity: tuple[int, int, int]  # (inode, size, mtime_ns) of the file restored
    prev: tuple[bytes, int, int]
    last: tuple[bytes, int, int]
    cluster: tuple[str, ...]
    swap_in: Callable[[], None] | None = None  # a leader's snapshot, prepared off the tick


def _file_identity(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class RaftError(Exception):
    """Base of Raft failures. `outcome_unknown`: the command may still be applied."""

    outcome_unknown = False

    def __init__(self, reason: str, *, outcome_unknown: bool | None = None) -> None:
        super().__init__(reason)
        if outcome_unknown is not None:
            self.outcome_unknown = outcome_unknown


class NoLeader(RaftError):
    """Retryable: no leader, no quorum, or the leader changed (see outcome_unknown)."""


class ProposalTimeout(RaftError):
    """The outcome is unknown; retry with the same request id."""

    outcome_unknown = True


class ProposalRejected(RaftError):
    """Not applied: queue full, entry discarded by a new leader, request denied."""


@dataclass(frozen=True)
class PeerStatus:
    address: str
    connected: bool
    match_index: int | None  # known on the leader only


@dataclass(frozen=True)
class RaftStatus:
    role: str
    self_address: str
    leader_address: str | None
    term: int
    commit_index: int
    applied_index: int
    has_quorum: bool
    seconds_since_leader_contact: float
    peers: dict[str, PeerStatus] = field(default_factory=dict)
    log_entries: int = 0
    error: str | None = None  # set once the node stopped itself (fail closed)
    # The leader's commit index as last heard (a follower's own commit index is clamped
    # to its log, so it cannot show lag); the leader's own commit index on a leader.
    leader_commit_index: int = 0
    # How old this node's view may be: seconds since it last confirmed it had applied
    # everything the leader had committed (a follower: the send time, on its own clock,
    # of the reply the leader had seen when it sent the newest heartbeat whose commit
    # index it has applied, so network delay counts; a leader: its majority contact).
    seconds_since_caught_up: float = math.inf
    recovering: str | None = None  # why the node rebuilds its log from the leader


def commands_in(payload: bytes) -> list[bytes]:
    """The state-machine commands a Raft entry carries, in order (none for a barrier):
    how a replica outside the Raft process replays an entry. BatchError if malformed."""
    if payload[:1] == proposal_batch.BATCH:
        return [c for part in proposal_batch.decode(payload[1:]) for c in commands_in(part)]
    if payload[:1] == _COMMAND:
        return [payload[1:]]
    if payload[:1] == _BARRIER:
        return []
    raise proposal_batch.BatchError(f"unknown Raft payload kind {payload[:1]!r}")


def _error_for(code: int) -> RaftError:
    if code in (FAIL_REASON.MISSING_LEADER, FAIL_REASON.NOT_LEADER):
        return NoLeader("no leader to accept the command", outcome_unknown=False)
    if code == FAIL_REASON.LEADER_CHANGED:
        return NoLeader("leader changed before the outcome was known", outcome_unknown=True)
    if code == FAIL_REASON.UNKNOWN_OUTCOME:
        return ProposalTimeout("outcome unknown after a leader change")
    if code == FAIL_REASON.QUEUE_FULL:
        return ProposalRejected("command queue full")
    if code == FAIL_REASON.DISCARDED:
        return ProposalRejected("entry discarded by a new leader")
    if code == FAIL_REASON.REQUEST_DENIED:
        return ProposalRejected("request denied")
    return RaftError(f"unexpected pysyncobj failure code {code}", outcome_unknown=True)


@dataclass(frozen=True)
class _Recovery:
    """Why this node must catch up with a leader before it votes again.

    `fresh`: an empty log (a new member, a bootstrap, or a lost data directory): it may
    vote only for a candidate whose log is empty too (a cluster being bootstrapped).
    Otherwise local storage was damaged: it may have lost entries it acknowledged, so
    it neither votes nor stands for election until its log reaches a leader's commit
    index (it could otherwise help elect a leader that lacks a committed entry).
    """

    reason: str
    fresh: bool


@dataclass(eq=False)
class _Pending:
    on_done: OnDone
    done: bool = False


class RaftNode:
    """One Raft member. Create, `start()`, use, `close()` (see module doc for threads)."""

    def __init__(
        self,
        settings: RaftSettings,
        machine: StateMachine,
        *,
        on_journal_sync: SyncObserver | None = None,
    ) -> None:
        validate_settings(settings)
        self._settings = settings
        self._machine = machine
        self._on_journal_sync = on_journal_sync
        self._peers = [a for a in settings.peer_addresses if a != settings.self_address]
        self._lock = threading.Lock()
        self._core: Core | None = None
        self._journal: DurableJournal | None = None
        self._closed = False
        self._fatal: str | None = None
        self._tick_thread: threading.Thread | None = None
        self._deadlines: list[tuple[float, int, _Pending]] = []
        self._seq = itertools.count()
        self._pending: set[_Pending] = set()
        self._tasks: list[Callable[[Core], None]] = []
        self._queue: list[tuple[bytes, _Pending]] = []  # proposals for the next tick
        self._leadership_transfer: PendingTransfer | None = None  # holds the queue back
        self.batches_applied = 0  # entries that carried several proposals (tests, metrics)
        self._status: RaftStatus = self._empty_status()
        self._last_leader_contact = -math.inf
        # (receipt time, leader commit index) of heartbeats not yet covered by our apply
        self._leader_commits: collections.deque[tuple[float, int]] = collections.deque(maxlen=256)
        self._leader_commit_index = 0
        self._stamps: dict[str, float] = {}  # leader: each follower's newest reply stamp
        self._caught_up_at = -math.inf
        self._recovery: _Recovery | None = None
        self._heard_commit: int | None = None
        self._ack_cap: int | None = None
        self._message_source: tuple[str, int] | None = None
        self._stale_replies = 0  # follower replies ignored: made in another term
        self._deadline_reads = 0  # ticks that read the network before an election check
        self._transfer_keepalive = 0.0  # when this follower last said "still here"
        self._transfer_node: Any = None  # the leader sending us a snapshot
        self._snapshot_receiver: SnapshotReceiver | None = None
        self._snapshot_sender: SnapshotSender | None = None
        self._refused_votes = 0
        self._storage_error: str | None = None
        self._initial_snapshot = b""
        self._tls: RaftTls | None = None
        self._identity_resolver: Callable[[str], str | None] | None = None
        self._static_ids = dict(settings.node_ids)
        self._refused_peers = 0
        self._peer_response: dict[str, float] = {}
        self._votes: dict[str, float] = {}  # vote grants received in `_votes_term`
        self._votes_term = -1
        self._was_leader = False
        self._verified = (-1, 0)  # (term, index): our log matches that term's leader to index
        self._expect_success: tuple[int, int] | None = None
        self._startup_load_pending = False
        self._first_tick = threading.Event()
        self._applying_index = 0
        self._apply_listener: ApplyListener | None = None
        self._persisted_peers: tuple[str, ...] | None = None
        self._dump_writer: DumpWriter | None = None
        self._preloaded: _Preloaded | None = None
        self.restore_seconds = 0.0  # duration of the last state machine restore (bench)

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Open the journal, bind the Raft port and start the tick thread."""
        if self._core is not None or self._closed:
            raise RaftError("start() may be called once")
        self._initial_snapshot = self._machine.snapshot()
        self._bind_address = self._settings.self_address
        if self._settings.tls is not None:
            self._start_tls(self._settings.tls)
        try:
            self._start_core()
        except BaseException:
            if self._tls is not None:
                self._tls.close()
            raise

    def set_apply_listener(self, listener: ApplyListener | None) -> None:
        """Set before `start`; see `ApplyListener`."""
        self._apply_listener = listener

    def set_identity_resolver(self, resolver: Callable[[str], str | None]) -> None:
        """Maps a member's Raft address to its node id (the replicated registry)."""
        self._identity_resolver = resolver

    def identity_of(self, address: str) -> str | None:
        resolver = self._identity_resolver
        if resolver is not None:
            try:
                found = resolver(address)
            except Exception:  # a registry read racing an apply: fall back below
                found = None
            if found is not None:
                return found
        return self._static_ids.get(address)

    def _start_tls(self, files: RaftTlsFiles) -> None:
        """Public Raft port behind mutual TLS; pysyncobj moves to a private loopback port."""
        self._bind_address = f"127.0.0.1:{private_port()}"
        overrides = dict(self._settings.dial_overrides)
        tls = RaftTls(
            files=files,
            public_address=self._settings.self_address,
            inner_address=self._bind_address,
            identity_of=self.identity_of,
            member_addresses=lambda: list(self._peers),
            dial_target=lambda peer: overrides.get(peer, peer),
        )
        try:
            tls.start()
        except OSError as exc:
            tls.close()
            raise RaftError(f"cannot bind the Raft address {self._settings.self_address}") from exc
        self._tls = tls

    def _dial(self, peer: str) -> str | None:
        if self._tls is not None:
            return self._tls.forwarder_for(peer)
        return dict(self._settings.dial_overrides).get(peer)

    def _start_core(self, *, rewrite_journal: bool = False) -> None:
        s = self._settings
        s.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(s.data_dir, 0o700)
        self._load_members()
        journal_path = str(s.data_dir / "raft.journal")
        dump_path = str(s.data_dir / "raft.dump")
        if self._dump_writer is not None:
            self._dump_writer.wait()  # a restart: the old core's dump lands first
        self._dump_writer = DumpWriter(dump_path, self._cut_state)
        damaged_dump, dump = self._check_dump(dump_path, journal_path)
        self._startup_load_pending = os.path.isfile(dump_path)
        self._preloaded = None
        if dump is not None:
            self._preload(dump_path, dump)
        try:
            journal = DurableJournal(journal_path, on_sync=self._on_journal_sync)
        except (JournalError, OSError) as exc:
            raise RaftError(f"cannot open the Raft journal: {exc}") from exc
        self._journal = journal
        if rewrite_journal:
            # after a failed fsync the page cache cannot be trusted to reach the disk
            journal.replace_entries(journal.entries())
        self._snapshot_receiver = SnapshotReceiver(
            dump_path, off_tick=True, prepare=getattr(self._machine, "prepare_restore", None)
        )
        if damaged_dump is not None:
            self._recovery = _Recovery(f"local Raft dump was corrupt ({damaged_dump})", False)
        elif journal.damage is not None:
            self._recovery = _Recovery(f"local Raft journal was damaged ({journal.damage})", False)
        elif not self._startup_load_pending and len(journal) == 0:
            self._recovery = _Recovery("empty Raft log (new member or new cluster)", True)
        if self._storage_error is not None:
            self._recovery = _Recovery(self._storage_error, False)
            self._storage_error = None
        if self._recovery is not None and not self._recovery.fresh:
            log.error(
                "Raft node %s: %s; rebuilding from the leader, not voting until caught up",
                s.self_address,
                self._recovery.reason,
            )
        conf = SyncObjConf(
            password=s.password,
            journalFile=journal_path,
            fullDumpFile=dump_path,
            useFork=False,
            appendEntriesUseBatch=False,
            raftMinTimeout=s.election_timeout_min,
            raftMaxTimeout=s.election_timeout_max,
            appendEntriesPeriod=s.append_entries_period,
            connectionTimeout=s.connection_timeout,
            connectionRetryTime=s.connection_retry_time,
            autoTickPeriod=s.auto_tick_period,
            logCompactionMinEntries=s.log_compaction_min_entries,
            logCompactionMinTime=s.log_compaction_min_time,
            leaderFallbackTimeout=s.connection_timeout,
            dynamicMembershipChange=True,
            commandsWaitLeader=True,
            bindAddress=self._bind_address,
            bindRetryTime=0.2,
            maxBindRetries=25,
            serializer=self._write_dump,
            deserializer=self._read_dump,
        )
        # pysyncobj builds its journal with the `createJournal` name it imported; swap
        # it for the duration of the constructor (which calls it synchronously).
        with _CREATE_JOURNAL_LOCK:
            original = _syncobj_module.createJournal
            _syncobj_module.createJournal = lambda _path=None: journal
            try:
                core = Core(s.self_address, list(self._peers), conf, self, self._dial)
            finally:
                _syncobj_module.createJournal = original
        # pysyncobj stops ticking when the thread that built it ends: a restart after a
        # storage failure builds it from a short-lived thread
        core._SyncObj__mainThread = threading.main_thread()
        self._core = core
        # a failed first start closes the node; a failed restart is retried by the caller
        give_up = core.destroy if rewrite_journal else self.close
        try:
            core.waitBinded()
        except Exception as exc:
            give_up()
            raise RaftError(f"cannot bind the Raft address {s.self_address}") from exc
        # The first tick loads the dump: fail start() if that stopped the node.
        self._first_tick.wait(10.0)
        if self._fatal is not None:
            give_up()
            raise RaftError(f"Raft node stopped during start: {self._fatal}")

    def close(self) -> None:
        """Stop the tick thread, close the journal, fail pending proposals. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        core = self._core
        if core is not None:
            if threading.current_thread() is self._tick_thread:
                raise RuntimeError("close() must not be called from the Raft tick thread")
            core.destroy()
            thread = self._tick_thread
            deadline = time.monotonic() + 5.0
            while core.tick_thread_alive() and time.monotonic() < deadline:
                if thread is not None:
                    thread.join(0.05)
                else:
                    time.sleep(0.01)
        elif self._journal is not None:
            self._journal._destroy()
        if self._dump_writer is not None:
            self._dump_writer.wait()
        if self._tls is not None:
            self._tls.close()
        self._fail_all(NoLeader("node closed", outcome_unknown=True))

    # -- proposals ------------------------------------------------------------------

    def propose(self, command: bytes, timeout: float) -> bytes:
        """Replicate and apply `command`; returns the state machine's result.

        Raises NoLeader, ProposalTimeout (outcome unknown: retry with the same request
        id) or ProposalRejected. Never call from the tick thread.
        """
        result = self._wait(_COMMAND + bytes(command), timeout)
        assert result is not None
        return result

    def propose_async(
        self, command: bytes, on_done: OnDone, *, timeout: float | None = None
    ) -> None:
        """Like propose, but calls `on_done(result, error)` exactly once.

        `on_done` runs in the tick thread (or in the caller's thread when the command is
        refused at once): it must be fast and must not block. With `timeout`, on_done
        gets ProposalTimeout if there is no outcome by then.
        """
        self._submit(_COMMAND + bytes(command), on_done, timeout)

    def read_barrier(self, timeout: float) -> None:
        """Return once this node has applied everything committed before the call.

        Proposes a no-op that the adapter never passes to the state machine and waits
        until this node applies it.
        """
        self._wait(_BARRIER, timeout)

    def _wait(self, payload: bytes, timeout: float) -> bytes | None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if threading.current_thread() is self._tick_thread:
            raise RuntimeError("blocking Raft calls must not run in the tick thread")
        event = threading.Event()
        box: list[tuple[bytes | None, RaftError | None]] = []

        def done(result: bytes | None, error: RaftError | None) -> None:
            box.append((result, error))
            event.set()

        pending = self._submit(payload, done, None)
        if not event.wait(timeout) and self._finish(pending):
            raise ProposalTimeout(f"no outcome within {timeout:.3f}s")
        event.wait()
        result, error = box[0]
        if error is not None:
            raise error
        return result

    def _submit(self, payload: bytes, on_done: OnDone, timeout: float | None) -> _Pending:
        pending = _Pending(on_done)
        core = self._core
        with self._lock:
            error: RaftError | None = None
            if self._fatal is not None:
                error = RaftError(f"node stopped: {self._fatal}")
            elif self._storage_error is not None:
                error = NoLeader(self._storage_error, outcome_unknown=False)
            elif core is None or self._closed:
                error = NoLeader("node not running", outcome_unknown=False)
            else:
                self._pending.add(pending)
                if timeout is not None:
                    deadline = time.monotonic() + timeout
                    heapq.heappush(self._deadlines, (deadline, next(self._seq), pending))
        if error is not None:
            self._complete(pending, None, error)
            return pending
        assert core is not None
        with self._lock:
            self._queue.append((payload, pending))
        core._SyncObj__pipeNotifier.notify()  # wake the tick thread: it drains the queue
        return pending

    def proposals_held(self) -> bool:
        """Tick thread: while a leadership transfer is pending nothing is appended, so
        the target can catch up (proposals wait in the queues)."""
        return self._leadership_transfer is not None

    def _drain_queue(self, core: Core) -> None:
        """Tick thread: queued proposals go to pysyncobj, several per entry (batches)."""
        if self.proposals_held():
            return
        with self._lock:
            queue, self._queue = self._queue, []
        while queue:
            count = proposal_batch.take(queue)
            group, queue = queue[:count], queue[count:]
            if count == 1:
                payload, pending = group[0]
                core._km_apply(
                    payload, callback=lambda res, err, p=pending: self._on_result(p, res, err)
                )
                continue
            entry = proposal_batch.BATCH + proposal_batch.encode([p for p, _ in group])
            waiting = [pending for _, pending in group]
            core._km_apply(
                entry, callback=lambda res, err, w=waiting: self._on_batch_result(w, res, err)
            )

    def _on_batch_result(self, waiting: list[_Pending], result: Any, code: int) -> None:
        if code != FAIL_REASON.SUCCESS or not isinstance(result, bytes):
            for pending in waiting:
                self._on_result(pending, None if code == FAIL_REASON.SUCCESS else result, code)
            return
        try:
            parts = proposal_batch.decode(result)
        except proposal_batch.BatchError:
            parts = []
        if len(parts) != len(waiting):
            for pending in waiting:
                self._complete(pending, None, RaftError("batch result does not match"))
            return
        for pending, part in zip(waiting, parts, strict=True):
            self._complete(pending, part, None)

    def _on_result(self, pending: _Pending, result: Any, code: int) -> None:
        if code == FAIL_REASON.SUCCESS:
            if isinstance(result, bytes):
                self._complete(pending, result, None)
            else:
                self._complete(pending, None, RaftError("state machine failed to apply"))
        else:
            self._complete(pending, None, _error_for(code))

    def _finish(self, pending: _Pending) -> bool:
        with self._lock:
            if pending.done:
                return False
            pending.done = True
            self._pending.discard(pending)
            return True

    def _complete(self, pending: _Pending, result: bytes | None, error: RaftError | None) -> None:
        if not self._finish(pending):
            return
        try:
            pending.on_done(result, error)
        except Exception:
            log.exception("Raft on_done callback raised")

    def _fail_all(self, error: RaftError) -> None:
        with self._lock:
            self._queue.clear()  # told they failed: never submitted later
            pending = list(self._pending)
        for p in pending:
            self._complete(p, None, error)

    # -- status and control ---------------------------------------------------------

    @property
    def applying_index(self) -> int:
        """Inside `StateMachine.apply`: the Raft log index of the command being applied."""
        return self._applying_index

    def status(self) -> RaftStatus:
        """A snapshot of this node's view (refreshed every tick; cheap, any thread)."""
        status = self._status
        contact = self._contact_age(status.role)
        caught_up = contact if status.role == "leader" else time.monotonic() - self._caught_up_at
        return dataclasses.replace(
            status,
            seconds_since_leader_contact=contact,
            seconds_since_caught_up=caught_up,
            error=self._fatal or self._storage_error,
            recovering=None if self._recovery is None else self._recovery.reason,
        )

    def transfer_leadership(self, target: str | None = None) -> None:
        """Ask the leader to hand over to `target` (or the most caught-up peer).

        New proposals wait until the target has caught up and Raft's TimeoutNow is sent
        (at most `transfer_bound_s`); returns then; poll `status()` to see the new
        leader. Raises NoLeader if this node is not the leader, ProposalRejected if the
        target is not a peer or did not catch up in time.
        """
        if target is not None and target not in self._peers:
            raise ProposalRejected(f"{target} is not a peer")
        done = threading.Event()
        box: list[int] = []

        def report(code: int) -> None:
            box.append(code)
            done.set()

        bound = self.transfer_bound_s

        def begin(core: Core) -> None:
            if self._leadership_transfer is not None:
                report(FAIL_REASON.QUEUE_FULL)  # one at a time
                return
            self._leadership_transfer = PendingTransfer(target, raft_clock() + bound, report)
            self._advance_transfer(core)

        self._run_in_tick(begin)
        if not done.wait(bound + 2.0):
            raise ProposalTimeout("leadership transfer request not processed")
        if box[0] != FAIL_REASON.SUCCESS:
            if box[0] == FAIL_REASON.NOT_LEADER:
                raise NoLeader("this node is not the leader")
            if box[0] == FAIL_REASON.QUEUE_FULL:
                raise ProposalRejected("a leadership transfer is already in progress")
            raise ProposalRejected("no peer caught up in time to take over leadership")

    @property
    def transfer_bound_s(self) -> float:
        """How long a transfer may hold proposals back: a few election timeouts."""
        return max(1.0, 3 * self._settings.election_timeout_max)

    def _advance_transfer(self, core: Core) -> None:
        """Tick thread: one step of a pending leadership transfer (see leadership_transfer)."""
        transfer = self._leadership_transfer
        if transfer is None:
            return
        step = transfer.step(is_leader=bool(core._isLeader()), now=raft_clock())
        if step is Step.ASK:
            codes: list[int] = []
            core.transferLeadership(transfer.target, lambda _res, code: codes.append(code))
            step = transfer.asked(codes[0] if codes else FAIL_REASON.REQUEST_DENIED)
        if step is Step.DONE:
            self._leadership_transfer = None

    def call_in_tick(self, fn: Callable[[Core], T], timeout: float) -> T:
        """Runs `fn` in the tick thread (atomic with respect to applies); returns its value."""
        done = threading.Event()
        box: list[tuple[T | None, BaseException | None]] = []

        def task(core: Core) -> None:
            try:
                box.append((fn(core), None))
            except BaseException as exc:
                box.append((None, exc))
            done.set()

        self._run_in_tick(task)
        if not done.wait(timeout):
            raise ProposalTimeout("the Raft thread did not run the task in time")
        value, error = box[0]
        if error is not None:
            raise error
        return value  # type: ignore[return-value]

    def add_member(self, address: str, timeout: float) -> None:
        """Adds a voter (leader only; one change at a time). Returns once committed."""
        check_address(address, "address")
        if address == self._settings.self_address or address in self._peers:
            raise ProposalRejected(f"{address} is already a member")
        self._change_membership("add", address, timeout)

    def remove_member(self, address: str, timeout: float) -> None:
        """Removes a voter (leader only, not itself; one change at a time)."""
        if address == self._settings.self_address:
            raise ProposalRejected("the leader cannot remove itself: transfer leadership first")
        if address not in self._peers:
            raise ProposalRejected(f"{address} is not a member")
        self._change_membership("rem", address, timeout)

    def _change_membership(self, kind: str, address: str, timeout: float) -> None:
        if self.status().role != "leader":
            raise NoLeader("this node is not the leader", outcome_unknown=False)
        done = threading.Event()
        box: list[int] = []

        def callback(_res: Any, code: int) -> None:
            box.append(code)
            done.set()

        def task(core: Core) -> None:
            if kind == "add":
                core.addNodeToCluster(address, callback)
            else:
                core.removeNodeFromCluster(address, callback)

        self._run_in_tick(task)
        if not done.wait(timeout):
            raise ProposalTimeout("membership change not committed in time; check list-peers")
        code = box[0]
        if code == FAIL_REASON.REQUEST_DENIED:
            raise ProposalRejected(
                "another membership change is pending (one at a time): retry when it has committed"
            )
        if code != FAIL_REASON.SUCCESS:
            raise _error_for(code)

    @staticmethod
    def _check_dump(dump_path: str, journal_path: str) -> tuple[str | None, Dump | None]:
        """(why the dump was set aside, or None; the dump if it is intact).

        A dump that fails its checks is moved aside with the journal it anchors: the
        journal's entries cannot be applied without the state the dump held, so both go
        (kept as *.damaged for inspection); term and vote stay.
        """
        try:
            with open(dump_path, "rb") as f:
                return None, decode_dump(f.read())
        except FileNotFoundError:
            return None, None
        except (DumpError, OSError) as exc:
            reason = str(exc)
        for path in (dump_path, journal_path):
            with contextlib.suppress(FileNotFoundError):
                os.replace(path, f"{path}.damaged")
        fsync_dir(os.path.dirname(os.path.abspath(dump_path)))
        return reason, None

    def _preload(self, dump_path: str, dump: Dump) -> None:
        """Restores the machine from the dump before the core starts: pysyncobj loads
        the dump in its first tick, where a long restore would delay the node's first
        heartbeat answers and then start an election at once."""
        identity = _file_identity(dump_path)
        self._restore_machine(dump.snapshot)
        if identity is not None:
            self._preloaded = _Preloaded(identity, dump.prev, dump.last, dump.cluster)

    def _restore_machine(self, snapshot: bytes) -> None:
        started = time.monotonic()
        try:
            self._machine.restore(snapshot)
        except Exception as exc:
            raise RaftError(f"state machine restore failed: {type(exc).__name__}") from exc
        self.restore_seconds = time.monotonic() - started
        log.info(
            "Raft node %s restored the state machine (%d bytes) in %.3f s",
            self._settings.self_address,
            len(snapshot),
            self.restore_seconds,
        )

    def _cut_state(self) -> Frozen:
        freeze = getattr(self._machine, "freeze", None)
        if callable(freeze):
            frozen: Frozen = freeze()
            return frozen
        return FrozenBytes(bytes(self._machine.snapshot()))

    def _load_members(self) -> None:
        """Peers as last seen (runtime changes survive restarts; config is the seed)."""
        path = self._settings.data_dir / MEMBERS_FILE
        try:
            peers = json.loads(path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise RaftError(f"cannot read {path}: {exc}") from exc
        if not isinstance(peers, list) or not all(isinstance(p, str) for p in peers):
            raise RaftError(f"{path}: expected a list of 'host:port'")
        self._peers = [p for p in peers if p != self._settings.self_address]
        self._persisted_peers = tuple(sorted(self._peers))

    def _save_members(self, peers: tuple[str, ...]) -> None:
        replace_file(self._settings.data_dir / MEMBERS_FILE, json.dumps(list(peers)).encode())

    def compact_log(self) -> None:
        """Take a snapshot and trim the journal at the next tick (tests, operators)."""
        self._run_in_tick(lambda core: core.forceLogCompaction())

    def _run_in_tick(self, task: Callable[[Core], None]) -> None:
        with self._lock:
            if self._core is None or self._closed or self._fatal is not None:
                raise NoLeader("node not running", outcome_unknown=False)
            self._tasks.append(task)

    def _contact_age(self, role: str) -> float:
        now = time.monotonic()
        if role == "leader":
            if not self._peers:
                return 0.0
            needed = (len(self._peers) + 1) // 2  # peers that, with us, form a majority
            times = sorted(self._peer_response.values(), reverse=True)
            return now - times[needed - 1] if len(times) >= needed else math.inf
        return now - self._last_leader_contact

    def _empty_status(self) -> RaftStatus:
        peers = {a: PeerStatus(a, False, None) for a in self._peers}
        return RaftStatus(
            "follower", self._settings.self_address, None, 0, 0, 0, False, math.inf, peers
        )

    # -- tick-thread hooks (CoreHooks) ----------------------------------------------

    def apply(self, payload: bytes, index: int) -> bytes | None:
        result = self._apply_entry(payload, index)
        listener = self._apply_listener
        if listener is not None and result is not None:
            listener.entry_applied(index, payload)
        return result

    def _apply_entry(self, payload: bytes, index: int) -> bytes | None:
        self._applying_index = index
        if payload[:1] != proposal_batch.BATCH:
            return self._apply_one(payload, index)
        try:
            parts = proposal_batch.decode(payload[1:])
        except proposal_batch.BatchError as exc:
            self._set_fatal(f"malformed batch at index {index}: {exc}")
            return None
        self.batches_applied += 1
        results: list[bytes] = []
        for part in parts:
            result = self._apply_one(part, index)
            if result is None:
                return None  # the node stopped (see _apply_one)
            results.append(result)
        return proposal_batch.encode(results)

    def _apply_one(self, payload: bytes, index: int) -> bytes | None:
        kind = payload[:1]
        if kind == _BARRIER:
            return b""
        if kind != _COMMAND:
            self._set_fatal(f"unknown Raft payload kind at index {index}")
            return None
        try:
            result = self._machine.apply(payload[1:])
        except Exception as exc:
            self._set_fatal(f"state machine raised {type(exc).__name__} at index {index}")
            return None
        if not isinstance(result, bytes):
            self._set_fatal(f"state machine returned {type(result).__name__} at index {index}")
            return None
        return result

    def _restored(self, index: int) -> None:
        self._applying_index = index
        listener = self._apply_listener
        if listener is not None:
            listener.state_restored(index)

    def sync_journal(self) -> None:
        journal = self._journal
        if journal is not None and self.may_send():
            journal.sync()

    def may_send(self) -> bool:
        return self._fatal is None and self._storage_error is None

    def outgoing(self, node: Any, message: Any) -> Any:
        """Caps a success reply to what the AppendEntries being handled proved; stamps
        replies with our clock and our term, and echoes a follower's newest stamp back
        to it."""
        if not isinstance(message, dict):
            return message
        kind = message.get("type")
        if kind == "next_node_idx":
            core = self._core
            term = int(core.raftCurrentTerm) if core is not None else None
            message = dict(message, km_stamp=time.monotonic(), km_term=term)
            cap = self._ack_cap
            if cap is not None and message.get("success") and message["next_node_idx"] > cap:
                message["next_node_idx"] = cap
        elif kind == "append_entries":
            echo = self._stamps.get(str(node.id))
            if echo is not None:
                message = dict(message, km_echo=echo)
        return message

    def incoming_allowed(self, conn: Any, message: Any) -> bool:
        """A peer's announced address must be the member its TLS certificate names."""
        tls = self._tls
        if tls is None:
            return True
        if not isinstance(message, str):
            return self._refuse_peer(f"a {type(message).__name__} instead of an address")
        try:
            port = int(conn._TcpConnection__socket.getpeername()[1])
        except (OSError, AttributeError):
            return False
        certified = tls.identity_of_inner(port)
        claimed = self.identity_of(message)
        if certified is None or claimed != certified:
            return self._refuse_peer(f"{certified or 'unknown'} claimed to be {message}")
        return True

    def _refuse_peer(self, why: str) -> bool:
        self._refused_peers += 1
        if self._refused_peers == 1 or self._refused_peers % 100 == 0:
            log.warning(
                "Raft node %s refused a peer connection: %s (%d so far)",
                self._settings.self_address,
                why,
                self._refused_peers,
            )
        return False

    def send_failed(self, core: Core, node: Any) -> None:
        """A message was not sent: a snapshot transfer to that node starts over."""
        core._SyncObj__serializer.cancelTransmisstion(node)
        if self._snapshot_sender is not None:
            self._snapshot_sender.reset(node)

    def before_tick(self, core: Core) -> None:
        if self._tick_thread is None:
            # before pysyncobj's first tick can compact: a node restarted with a long
            # journal compacted through pysyncobj's own serializer, which then stayed
            # marked busy under our hooks, and as leader it never sent a snapshot again
            self._tick_thread = threading.current_thread()
            self._wrap_snapshot_transfer(core)
        self._install_prepared_snapshot(core)
        self._advance_transfer(core)
        self._drain_queue(core)
        recovery = self._recovery
        if recovery is not None and not recovery.fresh:
            # never stand for election while entries may be missing
            core._SyncObj__raftElectionDeadline = raft_clock() + self._settings.election_timeout_max
        self._read_before_electing(core)

    def _read_before_electing(self, core: Core) -> None:
        """pysyncobj checks the election deadline at the start of a tick and reads the
        network at its end. A tick thread held up past the election timeout (a long GC
        pass, a dump writer holding the GIL, a slow disk) then started an election while
        the leader's AppendEntries sat unread in its socket, and the cluster changed
        leader for nothing. So a follower whose deadline has passed reads what has
        arrived first; pysyncobj then decides on a deadline the leader's messages may
        have moved. A pending TimeoutNow (a leadership transfer) still starts its
        election: heartbeats do not move it."""
        if core._isLeader() or core._SyncObj__raftElectionDeadline >= raft_clock():
            return
        self._deadline_reads += 1
        core._poller.poll(0)

    def _may_vote(self, message: dict[str, Any]) -> bool:
        recovery = self._recovery
        if recovery is None:
            return True
        return recovery.fresh and int(message.get("last_log_index", 0)) <= 1

    def before_message(self, core: Core, node: Any, message: Any) -> Any:
        self._expect_success = None
        self._ack_cap = None
        self._heard_commit = None
        self._message_source = None
        if not isinstance(message, dict):
            return message
        kind = message.get("type")
        if kind == "next_node_idx" and self._stale_reply(core, message):
            return None
        if kind == "request_vote" and not self._may_vote(message):
            self._refused_votes += 1
            if self._refused_votes == 1 or self._refused_votes % 1000 == 0:
                log.warning(
                    "Raft node %s refuses votes until caught up with a leader (%d refused)",
                    self._settings.self_address,
                    self._refused_votes,
                )
            return None
        term = message.get("term", -1)
        if kind != "append_entries" or not isinstance(term, int) or term < core.raftCurrentTerm:
            return message
        if self._installing_from(core, node, term):
            return None
        self._message_source = (str(node.id), term)
        commit = message.get("commit_index")
        if isinstance(commit, int):
            self._heard_commit = commit
        journal = self._journal
        if journal is None or "prevLogIdx" not in message or "transmission" in message:
            return message
        first = journal[0][1] if len(journal) else 1
        last_index = journal[-1][1] if len(journal) else 0

        def term_at(index: int) -> int | None:
            pos = index - first
            return int(journal[pos][2]) if 0 <= pos < len(journal) else None

        plan = plan_append(message, term_at, last_index, self._verified)
        if plan.conflict is not None and plan.conflict <= core.raftLastApplied:
            self._set_fatal(
                f"the leader's log conflicts with entry {plan.conflict}, already applied "
                "here: this node's state diverged; it stops rather than roll back "
                "(replace it through a secure join)"
            )
            return None
        self._ack_cap = plan.ack_cap
        if plan.covered is not None:
            self._expect_success = (term, plan.covered)
        return plan.message

    def on_message(self, core: Core, node: Any, message: Any) -> None:
        self._ack_cap = None
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        if kind == "append_entries" and core._getLeader() == node:
            now = time.monotonic()
            self._last_leader_contact = now
            self._keep_transfer_alive(core, node, message, now)
            commit = self._heard_commit
            echo = message.get("km_echo")
            if commit is not None:
                self._leader_commit_index = commit
                if isinstance(echo, float) and echo <= now:
                    # the leader had our reply sent at `echo` when it sent this: its
                    # commit index is at least as fresh as that instant, however slow
                    # the network (receipt time would hide a delay)
                    self._leader_commits.append((echo, commit))
            if self._expect_success is not None:
                term, covered = self._expect_success
                if self._verified[0] != term:
                    self._verified = (term, covered)
                else:
                    self._verified = (term, max(self._verified[1], covered))
                if (
                    self._recovery is not None
                    and commit is not None
                    and term == core.raftCurrentTerm
                    and self._verified[1] >= commit
                ):
                    log.log(
                        logging.INFO if self._recovery.fresh else logging.WARNING,
                        "Raft node %s caught up with the leader at index %d (%s): voting again",
                        self._settings.self_address,
                        commit,
                        self._recovery.reason,
                    )
                    self._recovery = None
        elif kind == "response_vote" and message.get("term") == core.raftCurrentTerm:
            if self._votes_term != core.raftCurrentTerm:
                self._votes_term, self._votes = core.raftCurrentTerm, {}
            self._votes[str(node.id)] = time.monotonic()
        elif kind == "next_node_idx" and core._isLeader():
            self._peer_response[str(node.id)] = time.monotonic()
            stamp = message.get("km_stamp")
            if isinstance(stamp, float):
                self._stamps[str(node.id)] = stamp

    def _stale_reply(self, core: Core, message: dict[str, Any]) -> bool:
        """A follower's reply made in another term than ours (pysyncobj's replies carry
        no term): Raft ignores it. Counted as a match, a reply held up across two
        elections could claim entries that a leader in between overwrote on that
        follower, and so commit an entry a majority does not hold. A reply without a
        term stamp (a peer from before the stamp) is taken as pysyncobj takes it."""
        stamped = message.get("km_term")
        if not isinstance(stamped, int) or stamped == core.raftCurrentTerm:
            return False
        self._stale_replies += 1
        if self._stale_replies == 1 or self._stale_replies % 1000 == 0:
            log.info(
                "Raft node %s ignores replies made in another term (%d so far)",
                self._settings.self_address,
                self._stale_replies,
            )
        return True

    def _installing_from(self, core: Core, node: Any, term: int) -> bool:
        """While a snapshot from this leader is decoded off the tick, its AppendEntries
        wait (they follow the snapshot, which pysyncobj does not have yet: it would
        refuse them and the leader would send the whole snapshot again). The leader is
        still heard: no election, and a "still here" reply keeps its link up."""
        receiver = self._snapshot_receiver
        pending = receiver.pending_source if receiver is not None else None
        if pending is None:
            return False
        if pending != (str(node.id), term):
            receiver.cancel_pending(f"{node.id} leads at term {term}")  # type: ignore[union-attr]
            return False
        self._transfer_node = node
        core._SyncObj__raftElectionDeadline = raft_clock() + self._settings.election_timeout_max
        self._last_leader_contact = time.monotonic()
        self._send_keepalive(core, node, time.monotonic())
        return True

    def _install_prepared_snapshot(self, core: Core) -> None:
        """Swaps in a snapshot prepared off the tick (see snapshot_install), in the tick."""
        receiver = self._snapshot_receiver
        if receiver is None or receiver.pending_source is None:
            return
        writer = self._dump_writer
        with writer.install_lock if writer is not None else contextlib.nullcontext():
            prepared = receiver.take_prepared(int(core.raftLastApplied))
            if prepared is None:
                return
            if writer is not None:
                writer.supersede()
        dump = prepared.dump
        identity = _file_identity(str(self._settings.data_dir / "raft.dump"))
        if identity is None:
            self._set_fatal("the installed snapshot vanished")
            return
        install = getattr(self._machine, "install_prepared", None)
        swap_in: Callable[[], None]
        if prepared.state is not None and callable(install):
            swap_in = functools.partial(self._swap_machine, install, identity[1], prepared)
        else:
            swap_in = functools.partial(self._restore_machine, dump.snapshot)
        self._preloaded = _Preloaded(identity, dump.prev, dump.last, dump.cluster, swap_in)
        core._SyncObj__loadDumpFile(clearJournal=True)
        leader = self._transfer_node
        if leader is not None:
            core._SyncObj__sendNextNodeIdx(leader, success=True)

    def _swap_machine(self, install: Callable[[Any], None], size: int, prepared: Prepared) -> None:
        started = time.monotonic()
        install(prepared.state)
        self.restore_seconds = time.monotonic() - started
        log.info(
            "Raft node %s restored the state machine (%d bytes) in %.3f s "
            "(decoded off the Raft thread in %.3f s)",
            self._settings.self_address,
            size,
            self.restore_seconds,
            prepared.seconds,
        )

    def _keep_transfer_alive(self, core: Core, node: Any, message: Any, now: float) -> None:
        """A follower sends nothing back during a snapshot transfer, and a paced one
        lasts longer than the leader's connection timeout (it would drop the link and
        start over): answer a reply that means "still here" (no success, no reset)
        every `TRANSFER_KEEPALIVE_S` while chunks arrive."""
        chunk = message.get("serialized")
        if not isinstance(chunk, tuple) or len(chunk) < 3:
            return
        self._transfer_node = node
        self._send_keepalive(core, node, now)

    def _send_keepalive(self, core: Core, node: Any, now: float) -> None:
        if now - self._transfer_keepalive < TRANSFER_KEEPALIVE_S:
            return
        self._transfer_keepalive = now
        core._SyncObj__transport.send(
            node,
            {"type": "next_node_idx", "next_node_idx": 0, "reset": False, "success": False},
        )

    def append_entries_round(self, core: Core, starting: bool) -> None:
        """Paces snapshot chunks per heartbeat round (see snapshot_transfer)."""
        sender = self._snapshot_sender
        if sender is None:
            return
        if starting:
            sender.start_round()
            return
        held = sender.end_round()
        if held:
            core._SyncObj__connectedNodes.update(held)  # held only for this round

    def on_tick(self, core: Core) -> None:
        if self._fatal is not None:
            core.destroy()
            self._first_tick.set()
            return
        with self._lock:
            tasks, self._tasks = self._tasks, []
        for task in tasks:
            try:
                task(core)
            except Exception:
                log.exception("Raft tick task failed")
        self._expire_deadlines()
        self._refresh_status(core)
        self._first_tick.set()

    def _wrap_snapshot_transfer(self, core: Core) -> None:
        """Numbered chunks out, verified and durable install in (see snapshot_transfer)."""
        serializer = core._SyncObj__serializer
        sender = SnapshotSender(
            serializer.getTransmissionData,
            hold=lambda node: core._SyncObj__connectedNodes.discard(node),
        )
        self._snapshot_sender = sender
        serializer.getTransmissionData = sender.next_chunk
        receiver = self._snapshot_receiver

        def receive(chunk: Any) -> bool:
            if receiver is None:
                return False
            return receiver.receive(chunk, self._message_source, int(core.raftLastApplied))

        serializer.setTransmissionData = receive
        self._write_dumps_in_background(core)

    def _write_dumps_in_background(self, core: Core) -> None:
        """Compaction through `DumpWriter`; a leader's snapshot install supersedes it."""
        writer = self._dump_writer
        if writer is None:
            return
        serializer = core._SyncObj__serializer
        receive = serializer.setTransmissionData

        def check() -> tuple[int, int | None]:
            # the writer owns dumps: pysyncobj's own busy mark must never block transfers
            serializer._Serializer__pid = 0
            state, entry = writer.check()
            if state == SERIALIZER_STATE.SUCCESS:
                # as pysyncobj does after a dump: transfers restart from the new file
                transfers = serializer._Serializer__transmissions
                for transfer in transfers.values():
                    with contextlib.suppress(Exception):
                        transfer["file"].close()
                transfers.clear()
            return state, entry

        def install(chunk: Any) -> bool:
            with writer.install_lock:
                installed = bool(receive(chunk))
                if installed:
                    writer.supersede()
                return installed

        serializer.serialize = writer.start
        serializer.checkSerializing = check
        serializer.setTransmissionData = install

    def _expire_deadlines(self) -> None:
        now = time.monotonic()
        expired: list[_Pending] = []
        with self._lock:
            while self._deadlines and self._deadlines[0][0] <= now:
                expired.append(heapq.heappop(self._deadlines)[2])
        for pending in expired:
            self._complete(pending, None, ProposalTimeout("no outcome before the deadline"))

    def _refresh_status(self, core: Core) -> None:
        raw = core.getStatus()
        role = _ROLES.get(int(raw["state"]), "follower")
        leader = raw["leader"]
        if role == "leader" and not self._was_leader:
            # the votes that elected us are the first contact with a majority: a new
            # leader does not refuse reads until its first heartbeat round trip
            term = int(raw["raft_term"])
            self._peer_response = dict(self._votes) if self._votes_term == term else {}
            if self._recovery is not None and self._recovery.fresh:
                self._recovery = None  # elected by a majority: nothing to catch up with
        self._was_leader = role == "leader"
        members = tuple(sorted(str(n.id) for n in core.otherNodes))
        if members != self._persisted_peers:
            try:
                self._save_members(members)
                self._persisted_peers = members
            except OSError:
                log.exception("cannot persist the Raft membership")
            self._peers = list(members)
        peers: dict[str, PeerStatus] = {}
        for node in core.otherNodes:
            address = str(node.id)
            match = raw.get(f"match_idx_server_{address}") if role == "leader" else None
            peers[address] = PeerStatus(address, bool(core.isNodeConnected(node)), match)
        applied = int(raw["last_applied"])
        commits = self._leader_commits
        if role == "leader":
            commits.clear()
            self._leader_commit_index = int(raw["commit_idx"])
        while commits and commits[0][1] <= applied:
            self._caught_up_at = max(self._caught_up_at, commits.popleft()[0])
        self._status = RaftStatus(
            role=role,
            self_address=self._settings.self_address,
            leader_address=None if leader is None else str(leader.id),
            term=int(raw["raft_term"]),
            commit_index=int(raw["commit_idx"]),
            applied_index=int(raw["last_applied"]),
            has_quorum=bool(raw["has_quorum"]),
            seconds_since_leader_contact=math.inf,
            peers=peers,
            log_entries=int(raw["log_len"]),
            leader_commit_index=self._leader_commit_index,
        )

    def storage_failed(self, core: Core, error: StorageFailure) -> None:
        """The journal could not be written or synced (disk full, I/O error).

        Nothing more leaves this node (nothing not durable is acknowledged); its Raft
        core stops and restarts in-process from what is on disk once the disk takes
        writes again, then rebuilds from the leader before it votes.
        """
        reason = f"Raft storage failed: {error}"
        with self._lock:
            if self._storage_error is not None or self._closed:
                return
            self._storage_error = reason
        log.error(
            "Raft node %s: %s; not acknowledging anything, restarting from the durable "
            "state once the disk accepts writes",
            self._settings.self_address,
            reason,
        )
        core.destroy()
        self._fail_all(NoLeader(reason, outcome_unknown=True))
        threading.Thread(
            target=self._restart_after_storage_failure, args=(core,), daemon=True
        ).start()

    def _restart_after_storage_failure(self, core: Core | None) -> None:
        """Waits for the old core to stop and the disk to take writes, then restarts;
        retries (every second, one log line per failure) while the restart fails."""
        while True:
            if core is not None:
                deadline = time.monotonic() + 10.0
                while core.tick_thread_alive() and time.monotonic() < deadline:
                    time.sleep(0.02)
            while not self._closed and not self._storage_writable():
                time.sleep(1.0)
            with self._lock:
                if self._closed:
                    return
                self._core = None
            self._tick_thread = None
            self._first_tick = threading.Event()
            self._verified = (-1, 0)
            self._peer_response.clear()
            self._leader_commits.clear()
            self._was_leader = False
            self._machine.restore(self._initial_snapshot)
            self._restored(0)
            try:
                self._start_core(rewrite_journal=True)
                return
            except (RaftError, StorageFailure, OSError) as exc:
                log.error(
                    "Raft node %s could not restart yet: %s", self._settings.self_address, exc
                )
                core = self._core
                if core is not None:
                    core.destroy()
                with self._lock:
                    self._fatal = None  # a failed start is retried, not final
                    if self._storage_error is None:
                        self._storage_error = f"Raft storage failed: {exc}"
                time.sleep(1.0)

    def _storage_writable(self) -> bool:
        probe = self._settings.data_dir / ".write-probe"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                write_all(fd, b"\0" * (1 << 20))
                os.fsync(fd)
            finally:
                os.close(fd)
            return True
        except OSError:
            return False
        finally:
            with contextlib.suppress(OSError):
                os.unlink(probe)

    def _set_fatal(self, reason: str) -> None:
        """Stop the node: continuing could diverge or lose acknowledged writes."""
        log.error("Raft node %s stopping: %s", self._settings.self_address, reason)
        with self._lock:
            if self._fatal is None:
                self._fatal = reason
        core = self._core
        if core is not None:
            core.destroy()  # the tick thread exits at its next iteration
        self._fail_all(RaftError(f"node stopped: {reason}", outcome_unknown=True))

    # -- dump (snapshot) hooks, called by pysyncobj in the tick thread --------------

    def _write_dump(self, tmp_path: str, data: Any) -> None:
        """pysyncobj's own (synchronous) dump hook: used only if a compaction came before
        the first tick installed `DumpWriter` (see `_write_dumps_in_background`)."""
        last, prev, cluster = data
        dump = Dump(
            prev=(bytes(prev[0]), int(prev[1]), int(prev[2])),
            last=(bytes(last[0]), int(last[1]), int(last[2])),
            cluster=tuple(str(n.id) for n in cluster),
            snapshot=bytes(self._machine.snapshot()),
        )
        fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            write_all(fd, encode_dump(dump))
            os.fsync(fd)  # pysyncobj renames next; the journal fsyncs the directory
        finally:
            os.close(fd)

    def _read_dump(self, path: str) -> tuple[Any, Any, Any]:
        startup, self._startup_load_pending = self._startup_load_pending, False
        preloaded, self._preloaded = self._preloaded, None
        try:
            if (
                preloaded is not None
                and (startup or preloaded.swap_in is not None)
                and preloaded.identity == _file_identity(path)
            ):
                prev, last, cluster = preloaded.prev, preloaded.last, preloaded.cluster
                snapshot = None  # the machine holds it already (_preload) or swaps it in
                if preloaded.swap_in is not None:
                    preloaded.swap_in()
            else:
                with open(path, "rb") as f:
                    dump = decode_dump(f.read())
                prev, last, cluster, snapshot = dump.prev, dump.last, dump.cluster, dump.snapshot
                del dump
            with contextlib.suppress(OSError):
                fsync_file(path)  # a snapshot received from the leader was not synced
                fsync_dir(os.path.dirname(path))
            journal = self._journal
            if startup and journal is not None:
                plan = plan_load(journal.entries(), prev, last)
                if plan is not None:
                    log.warning(
                        "reconciling journal with dump at index %d: keeping %d newer entries",
                        last[1],
                        len(plan) - 2,
                    )
                    journal.replace_entries(plan)
            if snapshot is not None:
                self._restore_machine(snapshot)
                self._postpone_election()
            self._restored(last[1])  # preloaded or not, the machine is at `last` now
        except (DumpError, JournalError, OSError) as exc:
            self._set_fatal(f"cannot load the Raft dump: {exc}")
            raise
        except Exception as exc:
            self._set_fatal(f"state machine restore failed: {exc}")
            raise
        return last, prev, [TCPNode(a) for a in cluster]

    def _postpone_election(self) -> None:
        """After a restore in the tick thread (a snapshot from the leader): the time it
        took was not the leader's silence, so the election timer starts afresh."""
        core = self._core
        if core is not None:
            core._SyncObj__raftElectionDeadline = raft_clock() + self._settings.election_timeout_max
