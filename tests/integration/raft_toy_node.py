"""A toy Raft member for the durability tests: RaftNode + an append-only dict.

Run: python raft_toy_node.py --self 127.0.0.1:P --peers A,B --data-dir D
The cluster secret comes from KEYMGR_TOY_PASSWORD. The process serves JSON lines on a
control port on 127.0.0.1 (chosen by the OS) and prints "READY <port>" once started.
With KEYMGR_TOY_FSYNC_LOG=path, every journal fsync appends "<monotonic> <index> <term>"
to that file (written before the messages the fsync guards are sent);
KEYMGR_TOY_FSYNC_DELAY=seconds makes each fsync on a follower that much slower (a slow
disk), so an acknowledgement sent before its fsync completes shows in the timestamps.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import signal
import socketserver
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pysyncobj.tcp_connection import CONNECTION_STATE, TcpConnection

from keymgr.raft.node import RaftError, RaftNode, RaftSettings


class ToyMachine:
    """key -> value, first write wins; results carry the Raft index for the tests."""

    def __init__(self) -> None:
        self.items: dict[str, str] = {}
        self.applies: dict[str, int] = {}  # command applications per key (batches: once)
        self.node: RaftNode | None = None
        self.lock = threading.Lock()

    def apply(self, command: bytes) -> bytes:
        cmd = json.loads(command)
        with self.lock:
            new = cmd["k"] not in self.items
            if new:
                self.items[cmd["k"]] = cmd["v"]
            self.applies[cmd["k"]] = self.applies.get(cmd["k"], 0) + 1
            size = len(self.items)
        index = self.node.applying_index if self.node is not None else 0
        return json.dumps({"idx": index, "new": new, "n": size}).encode()

    def snapshot(self) -> bytes:
        with self.lock:
            state = {"items": self.items, "applies": self.applies}
            return json.dumps(state, sort_keys=True, separators=(",", ":")).encode()

    def restore(self, snapshot: bytes) -> None:
        self.install_prepared(self.prepare_restore(snapshot))

    @staticmethod
    def prepare_restore(snapshot: bytes) -> dict[str, Any]:
        """Decoded off the Raft thread (a leader's snapshot): the live state untouched."""
        return json.loads(snapshot) if snapshot else {}

    def install_prepared(self, state: dict[str, Any]) -> None:
        with self.lock:
            self.items = state.get("items", {})
            self.applies = state.get("applies", {})

    def copy(self) -> dict[str, str]:
        with self.lock:
            return dict(self.items)


MESSAGES: collections.Counter[str] = collections.Counter()
DROPPED: collections.Counter[str] = collections.Counter()  # messages the adapter refused
EVENTS: collections.Counter[str] = collections.Counter()  # ticks, rounds, disconnects


def _count_messages(node: RaftNode) -> None:
    """Counts what each peer sends and what the adapter drops (failure messages only)."""
    before = node.before_message

    def counted(core: Any, peer: Any, message: Any) -> Any:
        kind = message.get("type") if isinstance(message, dict) else type(message).__name__
        term = message.get("term") if isinstance(message, dict) else None
        if isinstance(message, dict) and "serialized" in message:
            kind = f"{kind}/snapshot-chunk"
        elif isinstance(message, dict) and message.get("entries"):
            kind = f"{kind}/entries"
        MESSAGES[f"{peer.id} {kind} t{term}"] += 1
        out = before(core, peer, message)
        if out is None:
            DROPPED[f"{peer.id} {kind} t{term}"] += 1
        return out

    node.before_message = counted  # type: ignore[method-assign,assignment]


def _count_disconnects() -> None:
    """Counts why pysyncobj drops connections, by the function that dropped them."""
    original = TcpConnection.disconnect

    def counted(conn: Any) -> None:
        if conn.state != CONNECTION_STATE.DISCONNECTED:
            EVENTS[f"disconnect by {sys._getframe(1).f_code.co_name}"] += 1
        original(conn)

    TcpConnection.disconnect = counted


def _count_rounds() -> None:
    """Counts ticks, append rounds and what each snapshot read returned."""
    from keymgr.raft.core import Core

    on_tick = Core._onTick
    send_round = Core._SyncObj__sendAppendEntries

    def tick(core: Any, *args: Any) -> None:
        EVENTS["ticks"] += 1
        on_tick(core, *args)

    def round_(core: Any) -> None:
        EVENTS["append rounds"] += 1
        send_round(core)

    Core._onTick = tick  # type: ignore[method-assign,assignment]
    Core._SyncObj__sendAppendEntries = round_  # type: ignore[method-assign,assignment]


STALLS: collections.deque[float] = collections.deque()


def _stall_ticks() -> None:
    """`stall` holds this node's Raft tick thread once, as a long GC pass or a thread
    holding the GIL would (messages from peers queue in its sockets meanwhile)."""
    from keymgr.raft.core import Core

    on_tick = Core._onTick

    def tick(core: Any, *args: Any) -> None:
        if STALLS:
            time.sleep(STALLS.popleft())
        on_tick(core, *args)

    Core._onTick = tick  # type: ignore[method-assign,assignment]


def _raft_indexes(node: RaftNode) -> dict[str, object]:
    core = node._core
    if core is None:
        return {}
    log_ = core._SyncObj__raftLog
    return {
        "first": log_[0][1] if len(log_) else None,
        "next": {str(n.id): i for n, i in core._SyncObj__raftNextIndex.items()},
        "serializer_pid": core._SyncObj__serializer._Serializer__pid,
    }


def _snapshot_state(node: RaftNode) -> dict[str, object]:
    receiver = node._snapshot_receiver
    return {
        "pending": None if receiver is None else receiver.pending_source,
        "installed": None if receiver is None else receiver.installed,
        "discarded": None if receiver is None else receiver.discarded,
        "verified": node._verified,
        "indexes": _raft_indexes(node),
        "fatal": node._fatal,
        "messages": _take(MESSAGES),
        "dropped": _take(DROPPED),
        "events": _take(EVENTS),
    }


def _take(counter: collections.Counter[str]) -> dict[str, int]:
    """The counts since the last status read (and start again)."""
    counts = dict(counter)
    counter.clear()
    return counts


def _connection_states(node: RaftNode) -> dict[str, object]:
    """pysyncobj's own view of each peer connection (failure messages only)."""
    core = node._core
    if core is None:
        return {}
    transport = core._SyncObj__transport
    states: dict[str, object] = {
        str(n.id): [int(c.state), transport._lastConnectAttempt.get(n)]
        for n, c in transport._connections.items()
    }
    states["now"] = time.monotonic()
    return states


def _error(exc: RaftError) -> dict[str, Any]:
    return {
        "ok": False,
        "error": type(exc).__name__,
        "msg": str(exc),
        "unknown": exc.outcome_unknown,
    }


def handle(node: RaftNode, machine: ToyMachine, req: dict[str, Any]) -> dict[str, Any]:
    op = req.get("op")
    try:
        if op == "put":
            cmd = json.dumps({"k": req["k"], "v": req["v"]}, sort_keys=True).encode()
            out = node.propose(cmd, float(req.get("timeout", 5.0)))
            return {"ok": True, "result": json.loads(out)}
        if op == "barrier":
            node.read_barrier(float(req.get("timeout", 5.0)))
            return {"ok": True}
        if op == "state":
            items = machine.copy()
            blob = json.dumps(items, sort_keys=True, separators=(",", ":")).encode()
            return {
                "ok": True,
                "items": items,
                "digest": hashlib.sha256(blob).hexdigest(),
                "applied": node.status().applied_index,
                "applied_twice": sorted(k for k, n in machine.applies.items() if n > 1),
            }
        if op == "summary":  # `state` without the JSON of every item (large states)
            digest = hashlib.sha256()
            for key, value in sorted(machine.copy().items()):
                digest.update(key.encode() + b"\0" + value.encode() + b"\0")
            return {"ok": True, "count": len(machine.items), "digest": digest.hexdigest()}
        if op == "status":
            st = node.status()
            return {
                "ok": True,
                "role": st.role,
                "leader": st.leader_address,
                "term": st.term,
                "commit": st.commit_index,
                "applied": st.applied_index,
                "quorum": st.has_quorum,
                "contact": None
                if st.seconds_since_leader_contact == float("inf")
                else st.seconds_since_leader_contact,
                "log_entries": st.log_entries,
                "error": st.error,
                "recovering": st.recovering,
                "leader_commit": st.leader_commit_index,
                "batches": node.batches_applied,
                "peers": {a: [p.connected, p.match_index] for a, p in st.peers.items()},
                "connections": _connection_states(node),
                "adapter": _snapshot_state(node),
                "deadline_reads": node._deadline_reads,
            }
        if op == "stall":
            STALLS.append(float(req["seconds"]))
            return {"ok": True}
        if op == "compact":
            node.compact_log()
            return {"ok": True}
        if op == "transfer":
            node.transfer_leadership(req.get("target"))
            return {"ok": True}
        return {"ok": False, "error": "BadRequest", "msg": f"unknown op {op!r}"}
    except RaftError as exc:
        return _error(exc)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--self", dest="self_address", required=True)
    ap.add_argument("--peers", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--compact-entries", type=int, default=5000)
    ap.add_argument("--dial", default="", help="peer=address,... (through a proxy)")
    args = ap.parse_args()

    sync_log_path = os.environ.get("KEYMGR_TOY_FSYNC_LOG")
    on_sync = None
    if sync_log_path:
        sync_log = open(sync_log_path, "a", buffering=1)  # noqa: SIM115 (lives as long as the process)
        delay = float(os.environ.get("KEYMGR_TOY_FSYNC_DELAY", "0"))

        def on_sync(index: int, term: int) -> None:
            if delay and machine.node is not None and machine.node.status().role != "leader":
                time.sleep(delay)
            sync_log.write(f"{time.monotonic():.6f} {index} {term}\n")

    machine = ToyMachine()
    settings = RaftSettings(
        self_address=args.self_address,
        peer_addresses=tuple(p for p in args.peers.split(",") if p),
        data_dir=Path(args.data_dir),
        password=os.environ["KEYMGR_TOY_PASSWORD"],
        log_compaction_min_entries=args.compact_entries,
        dial_overrides=tuple(
            (pair.split("=", 1)[0], pair.split("=", 1)[1]) for pair in args.dial.split(",") if pair
        ),
    )
    node = RaftNode(settings, machine, on_journal_sync=on_sync)
    _count_messages(node)
    _count_disconnects()
    _count_rounds()
    _stall_ticks()
    machine.node = node
    node.start()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            for line in self.rfile:
                reply = handle(node, machine, json.loads(line))
                self.wfile.write(json.dumps(reply).encode() + b"\n")
                self.wfile.flush()

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), Handler)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"READY {server.server_address[1]}", flush=True)
    stop.wait()
    server.shutdown()
    node.close()


if __name__ == "__main__":
    main()
