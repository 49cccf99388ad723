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
        state = json.loads(snapshot) if snapshot else {}
        with self.lock:
            self.items = state.get("items", {})
            self.applies = state.get("applies", {})

    def copy(self) -> dict[str, str]:
        with self.lock:
            return dict(self.items)


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
            }
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
