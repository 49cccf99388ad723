"""The pysyncobj subclasses behind `RaftNode`: where the durability hooks sit.

`DurableTransport` never sends a message when pysyncobj asks: it queues it (an outbox)
and the queue is flushed at two points of every tick, each time right after
`journal.sync()`:

1. at the start of `Core._onTick`: replies produced while handling the previous poll
   (a follower's AppendEntries acknowledgements, vote grants) wait for the fsync of the
   entries they acknowledge, and the leader's own entries are durable before the commit
   computation (which runs next in the tick and counts the leader itself);
2. in a tick callback just before the poll: the leader's AppendEntries for entries it
   appended this tick leave only once those entries are durable.

So every message leaving the node describes durable state, and all entries appended
between two flush points share one fsync (group commit). The transport also reports
every received message to the adapter, which uses it to time leader contact, and lets
the adapter rewrite overlapping AppendEntries so pysyncobj never truncates entries that
do not conflict (`rewrite_append_entries`).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pysyncobj import SyncObj, replicated
from pysyncobj.node import TCPNode
from pysyncobj.transport import TCPTransport

from keymgr.raft.durable_journal import StorageFailure

log = logging.getLogger(__name__)


class CoreHooks(Protocol):
    """What the adapter provides to the tick thread."""

    def apply(self, payload: bytes, index: int) -> bytes | None: ...
    def sync_journal(self) -> None: ...
    def on_tick(self, core: Core) -> None: ...
    def on_message(self, core: Core, node: Any, message: Any) -> None: ...
    def before_message(self, core: Core, node: Any, message: Any) -> Any: ...
    def may_send(self) -> bool: ...
    def outgoing(self, node: Any, message: Any) -> Any: ...
    def send_failed(self, core: Core, node: Any) -> None: ...
    def before_tick(self, core: Core) -> None: ...
    def append_entries_round(self, core: Core, starting: bool) -> None: ...
    def storage_failed(self, core: Core, error: StorageFailure) -> None: ...
    def incoming_allowed(self, conn: Any, message: Any) -> bool: ...
    def proposals_held(self) -> bool: ...


class _RepeatedErrors:
    """Logs the traceback of a tick error once per cause and interval, counts the rest."""

    LOG_EVERY_S = 10.0

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def report(self) -> None:
        cause = traceback.format_exc(limit=3).splitlines()[-1]
        now = time.monotonic()
        if now - self._last.get(cause, -self.LOG_EVERY_S) < self.LOG_EVERY_S:
            self._suppressed[cause] = self._suppressed.get(cause, 0) + 1
            return
        self._last[cause] = now
        log.exception(
            "Raft tick failed (%d times since the last report)", self._suppressed.pop(cause, 0)
        )


class _DialNode(TCPNode):  # type: ignore[misc]
    """A peer reached at another address (a fault-injecting proxy) under its own identity."""

    def __init__(self, identity: str, target: str) -> None:
        super().__init__(target)  # host and port of the target
        self._id = identity
        self._TCPNode__address = identity


class DurableTransport(TCPTransport):  # type: ignore[misc]
    """TCP transport that sends only after the journal is durable (see module doc)."""

    def __init__(self, syncObj: Any, selfNode: Any, otherNodes: Any) -> None:
        self._outbox: list[tuple[Any, Any]] = []
        self._core: Core = syncObj
        super().__init__(syncObj, selfNode, otherNodes)
        syncObj._km_transport = self
        # Registered after TCPTransport's own callback, so it runs last, right before
        # the poll: pysyncobj runs tick callbacks in registration order.
        syncObj.addOnTickCallback(self._before_poll)

    def send(self, node: Any, message: Any) -> bool:
        self._outbox.append((node, self._core._km_hooks.outgoing(node, message)))
        return True

    def _connectIfNecessarySingle(self, node: Any) -> bool:
        if not self._shouldConnect(node):
            return False
        target = self._core._km_dial(str(node.id))
        if target is not None:
            node = _DialNode(str(node.id), target)
        return bool(super()._connectIfNecessarySingle(node))

    def _onIncomingMessageReceived(self, conn: Any, message: Any) -> None:
        # With the cluster secret, the first message is the random-key exchange; the
        # next one names the peer's address: bind it to the certificate behind it.
        key_exchange = self._syncObj.encryptor and not conn.sendRandKey
        if not key_exchange and not self._core._km_hooks.incoming_allowed(conn, message):
            self._unknownConnections.discard(conn)
            conn.disconnect()
            return
        super()._onIncomingMessageReceived(conn, message)

    def flush(self) -> None:
        """fsync the journal, then send everything queued (in order)."""
        hooks = self._core._km_hooks
        hooks.sync_journal()
        if not self._outbox:
            return
        queued, self._outbox = self._outbox, []
        if not hooks.may_send():
            return
        failed: set[Any] = set()
        for node, message in queued:
            if node in failed:
                continue  # after a gap, later messages (snapshot chunks) would mislead
            if not super().send(node, message):
                failed.add(node)
                hooks.send_failed(self._core, node)

    def _before_poll(self) -> None:
        self._core._km_hooks.on_tick(self._core)
        self.flush()

    def setOnMessageReceivedCallback(self, callback: Callable[[Any, Any], None] | None) -> None:
        if callback is None:
            super().setOnMessageReceivedCallback(None)
            return

        def observed(node: Any, message: Any) -> None:
            message = self._core._km_hooks.before_message(self._core, node, message)
            if message is None:
                return  # refused by the adapter (a vote it may not give, a conflict)
            callback(node, message)
            self._core._km_hooks.on_message(self._core, node, message)

        super().setOnMessageReceivedCallback(observed)


class Core(SyncObj):  # type: ignore[misc]
    """SyncObj with one replicated entry point; everything else is the adapter's."""

    def __init__(
        self,
        self_address: str,
        peers: list[str],
        conf: Any,
        hooks: CoreHooks,
        dial: Callable[[str], str | None] | None = None,
    ) -> None:
        # Set before SyncObj.__init__: it starts the tick thread, which uses them.
        self._km_hooks = hooks
        self._km_dial: Callable[[str], str | None] = dial or (lambda _peer: None)
        self._km_tick_errors = _RepeatedErrors()
        self._km_transport: DurableTransport | None = None
        super().__init__(self_address, peers, conf, transportClass=DurableTransport)

    @replicated  # type: ignore[untyped-decorator]
    def _km_apply(self, payload: bytes) -> bytes | None:
        # pysyncobj increments raftLastApplied after this returns.
        return self._km_hooks.apply(payload, self.raftLastApplied + 1)

    def _checkCommandsToApply(self) -> None:
        """Appends queued commands (ours and those followers forwarded), unless the
        adapter holds them back (a leadership transfer is pending)."""
        if not self._km_hooks.proposals_held():
            super()._checkCommandsToApply()

    def _SyncObj__sendAppendEntries(self) -> None:
        """pysyncobj's heartbeat round, bracketed so the adapter can pace snapshot chunks
        (SyncObj calls `self.__sendAppendEntries`, which resolves to this override)."""
        self._km_hooks.append_entries_round(self, True)
        try:
            super()._SyncObj__sendAppendEntries()
        finally:
            self._km_hooks.append_entries_round(self, False)

    def _onTick(self, timeToWait: float = 0.0) -> None:
        try:
            self._km_hooks.before_tick(self)
            transport = self._km_transport
            if transport is not None:
                transport.flush()
            super()._onTick(timeToWait)
        except StorageFailure as exc:
            self._km_hooks.storage_failed(self, exc)
        except Exception:
            # pysyncobj would log a traceback and retry every tick (a flood); one
            # traceback per cause every LOG_EVERY_S, a count of the rest
            self._km_tick_errors.report()
            time.sleep(timeToWait or 0.01)


@dataclass(frozen=True)
class AppendPlan:
    """What to hand pysyncobj for one AppendEntries, and how to cap its reply.

    `message`: the (possibly rewritten) message; `covered`: the highest index this
    message proves our log matches the leader's (None if it proves nothing);
    `ack_cap`: the success reply may claim at most this next index (None: as is);
    `conflict`: the first index where our log conflicts with the leader's.
    """

    message: dict[str, Any]
    covered: int | None = None
    ack_cap: int | None = None
    conflict: int | None = None


def plan_append(
    message: dict[str, Any],
    term_at: Callable[[int], int | None],
    last_index: int,
    verified: tuple[int, int],
) -> AppendPlan:
    """Make pysyncobj follow the Raft rule: truncate only at a real conflict.

    pysyncobj deletes every entry after `prevLogIdx` before appending, even entries that
    match the leader's (frequent when AppendEntries overlap), so a follower could drop
    entries it already acknowledged, or applied. Here a message whose entries all match
    our log appends nothing and deletes nothing; if it leaves part of our tail unproven
    (not covered by it, nor `verified`: (term, index) known to match that term's
    leader), the success reply is capped to what the message proves and the commit
    index it carries is capped too, so an unproven tail is neither counted by the leader
    nor applied here. A conflicting message is cut to start at the conflict.
    """
    if "transmission" in message or "prevLogIdx" not in message:
        return AppendPlan(message)
    prev = int(message["prevLogIdx"])
    if prev > last_index or term_at(prev) != message["prevLogTerm"]:
        return AppendPlan(message)  # pysyncobj rejects it: nothing is proven
    entries = list(message.get("entries", []))
    covered = entries[-1][1] if entries else prev
    for position, (_command, index, term) in enumerate(entries):
        if index <= last_index and term_at(index) != term:
            rewritten = dict(message)
            rewritten["prevLogIdx"] = index - 1
            rewritten["prevLogTerm"] = term_at(index - 1)
            rewritten["entries"] = entries[position:]
            return AppendPlan(rewritten, covered=covered, conflict=index)
    if covered >= last_index and prev >= last_index:
        return AppendPlan(message, covered=covered)
    rewritten = dict(message)
    rewritten["prevLogIdx"] = last_index
    rewritten["prevLogTerm"] = term_at(last_index)
    rewritten["entries"] = [e for e in entries if e[1] > last_index]
    proven_tail = verified[0] == message["term"] and verified[1] >= last_index
    if covered >= last_index or proven_tail:
        return AppendPlan(rewritten, covered=covered)
    rewritten["commit_index"] = min(int(message["commit_index"]), covered)
    return AppendPlan(rewritten, covered=covered, ack_cap=covered + 1)
