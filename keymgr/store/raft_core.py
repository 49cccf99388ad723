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

from collections.abc import Callable
from typing import Any, Protocol

from pysyncobj import SyncObj, replicated
from pysyncobj.node import TCPNode
from pysyncobj.transport import TCPTransport


class CoreHooks(Protocol):
    """What the adapter provides to the tick thread."""

    def apply(self, payload: bytes, index: int) -> bytes | None: ...
    def sync_journal(self) -> None: ...
    def on_tick(self, core: Core) -> None: ...
    def on_message(self, core: Core, node: Any, message: Any) -> None: ...
    def before_message(self, core: Core, node: Any, message: Any) -> Any: ...
    def may_send(self) -> bool: ...


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
        self._outbox.append((node, message))
        return True

    def _connectIfNecessarySingle(self, node: Any) -> bool:
        target = self._core._km_dial.get(str(node.id))
        if target is not None:
            node = _DialNode(str(node.id), target)
        return bool(super()._connectIfNecessarySingle(node))

    def flush(self) -> None:
        """fsync the journal, then send everything queued (in order)."""
        hooks = self._core._km_hooks
        hooks.sync_journal()
        if not self._outbox:
            return
        queued, self._outbox = self._outbox, []
        if not hooks.may_send():
            return
        for node, message in queued:
            super().send(node, message)

    def _before_poll(self) -> None:
        self._core._km_hooks.on_tick(self._core)
        self.flush()

    def setOnMessageReceivedCallback(self, callback: Callable[[Any, Any], None] | None) -> None:
        if callback is None:
            super().setOnMessageReceivedCallback(None)
            return

        def observed(node: Any, message: Any) -> None:
            message = self._core._km_hooks.before_message(self._core, node, message)
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
        dial: dict[str, str] | None = None,
    ) -> None:
        # Set before SyncObj.__init__: it starts the tick thread, which uses them.
        self._km_hooks = hooks
        self._km_dial: dict[str, str] = dict(dial or {})
        self._km_transport: DurableTransport | None = None
        super().__init__(self_address, peers, conf, transportClass=DurableTransport)

    @replicated  # type: ignore[untyped-decorator]
    def _km_apply(self, payload: bytes) -> bytes | None:
        # pysyncobj increments raftLastApplied after this returns.
        return self._km_hooks.apply(payload, self.raftLastApplied + 1)

    def _onTick(self, timeToWait: float = 0.0) -> None:
        transport = self._km_transport
        if transport is not None:
            transport.flush()
        super()._onTick(timeToWait)


def rewrite_append_entries(
    message: dict[str, Any],
    term_at: Callable[[int], int | None],
    last_index: int,
    verified: tuple[int, int],
) -> dict[str, Any] | None:
    """Stop pysyncobj from truncating log entries that do not conflict.

    pysyncobj deletes every entry after `prevLogIdx` before appending, even entries that
    match the leader's (it happens when AppendEntries messages overlap, which is frequent
    without batching). A follower could so drop entries it already acknowledged, and the
    leader would still count it for them. Raft truncates only at a conflict; this returns
    an equivalent message that makes pysyncobj do that (prevLogIdx moved to our last
    matching entry), or None to leave the message alone. `verified` is (term, index):
    entries up to index are known to match the leader of that term.
    """
    if "transmission" in message or "prevLogIdx" not in message:
        return None
    prev = int(message["prevLogIdx"])
    if prev >= last_index or term_at(prev) != message["prevLogTerm"]:
        return None  # nothing after prev, or pysyncobj rejects the message anyway
    entries = list(message.get("entries", []))
    for _command, index, term in entries:
        if index <= last_index and term_at(index) != term:
            return None  # a real conflict: pysyncobj's truncation is the Raft rule
    covered = entries[-1][1] if entries else prev
    if covered < last_index and not (
        verified[0] == message["term"] and verified[1] >= last_index
    ):
        return None  # our tail is unverified and was never acknowledged to this leader
    rewritten = dict(message)
    rewritten["prevLogIdx"] = last_index
    rewritten["prevLogTerm"] = term_at(last_index)
    rewritten["entries"] = [e for e in entries if e[1] > last_index]
    return rewritten
