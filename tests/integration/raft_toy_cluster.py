"""Toy Raft clusters for the durability and recovery tests: real processes on 127.0.0.1.

Each node is `raft_toy_node.py` (RaftNode + an append-only dict) with a JSON-line control
port; nodes are restartable after kill -9 and always killed by their PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from keymgr.ops.ports import free_port

TOY = Path(__file__).with_name("raft_toy_node.py")
REPO = Path(__file__).resolve().parents[2]
PASSWORD = "toy-cluster-secret-0123456789"


def call(port: int, request: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """One JSON-line request to a toy node's control port."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(json.dumps(request).encode() + b"\n")
        with s.makefile("rb") as f:
            line = f.readline()
    if not line:
        raise ConnectionError("toy node closed the connection")
    reply: dict[str, Any] = json.loads(line)
    return reply


class ToyCluster:
    """N toy nodes with fixed Raft ports and data dirs, restartable after kill -9."""

    def __init__(self, root: Path, size: int = 3, compact_entries: int = 5000) -> None:
        self.root = root
        self.addresses = [f"127.0.0.1:{free_port()}" for _ in range(size)]
        self.compact_entries = compact_entries
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * size
        self.ctl: list[int] = [0] * size
        self.fsync_logs: list[Path] | None = None
        self.fsync_delay = 0.0
        self.dial: list[dict[str, str]] = [{} for _ in range(size)]  # per node: peer -> via

    def data_dir(self, i: int) -> Path:
        return self.root / f"node{i}"

    def start(self, i: int) -> None:
        assert self.procs[i] is None
        peers = ",".join(a for a in self.addresses if a != self.addresses[i])
        env = dict(os.environ, KEYMGR_TOY_PASSWORD=PASSWORD, PYTHONPATH=str(REPO))
        if self.fsync_logs is not None:
            env["KEYMGR_TOY_FSYNC_LOG"] = str(self.fsync_logs[i])
            env["KEYMGR_TOY_FSYNC_DELAY"] = str(self.fsync_delay)
        with open(self.root / f"node{i}.log", "ab") as stderr:
            proc = subprocess.Popen(
                [sys.executable, str(TOY), "--self", self.addresses[i], "--peers", peers,
                 "--data-dir", str(self.data_dir(i)),
                 "--compact-entries", str(self.compact_entries),
                 "--dial", ",".join(f"{p}={v}" for p, v in self.dial[i].items())],
                stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, env=env,
            )  # fmt: skip
        self.procs[i] = proc
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20.0)
        line = proc.stdout.readline().decode() if ready else ""
        if not line.startswith("READY "):
            self.kill(i)
            raise RuntimeError(f"toy node {i} did not start: {line!r}")
        self.ctl[i] = int(line.split()[1])

    def start_all(self) -> None:
        for i in range(len(self.addresses)):
            self.start(i)

    def kill(self, i: int) -> None:
        proc = self.procs[i]
        if proc is None:
            return
        self.procs[i] = None
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()

    def kill_all(self, order: list[int] | None = None) -> None:
        for i in order or list(range(len(self.addresses))):
            self.kill(i)

    def alive(self) -> list[int]:
        return [i for i, p in enumerate(self.procs) if p is not None]

    def call(self, i: int, request: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        return call(self.ctl[i], request, timeout)

    def wait_leader(self, timeout: float = 15.0, among: list[int] | None = None) -> int:
        nodes = among if among is not None else self.alive()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i in nodes:
                try:
                    st = self.call(i, {"op": "status"}, timeout=2.0)
                except OSError:
                    continue
                if st["role"] == "leader" and st["quorum"]:
                    return i
            time.sleep(0.02)
        raise TimeoutError("no leader elected")

    def barrier(self, i: int, timeout: float = 15.0) -> None:
        """read_barrier on node i, retried through elections (bounded)."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            last = self.call(i, {"op": "barrier", "timeout": 2.0})
            if last["ok"]:
                return
            time.sleep(0.05)
        raise TimeoutError(
            f"read barrier on node {i} never succeeded: {last}; status: {self.statuses()}"
        )

    def statuses(self) -> dict[int, object]:
        """Every live node's `status` reply (or why there is none): for failure messages."""
        found: dict[int, object] = {}
        for i in self.alive():  # the message counts cover the second before the last read
            with contextlib.suppress(OSError, ValueError):
                self.call(i, {"op": "status"}, timeout=2.0)
        time.sleep(1.0)
        for i in self.alive():
            try:
                found[i] = self.call(i, {"op": "status"}, timeout=2.0)
            except (OSError, ValueError) as exc:
                found[i] = repr(exc)
        return found

    def wait_state(self, nodes: list[int], timeout: float = 30.0) -> list[dict[str, Any]]:
        """The `state` replies of `nodes` once all hold identical items (bounded)."""
        deadline = time.monotonic() + timeout
        states: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            try:
                states = [self.call(i, {"op": "state"}, timeout=2.0) for i in nodes]
            except OSError:
                time.sleep(0.1)
                continue
            if len({s["digest"] for s in states}) == 1:
                return states
            time.sleep(0.1)
        sizes = [len(s.get("items", {})) for s in states]
        raise TimeoutError(f"nodes {nodes} never converged (items per node: {sizes})")

    def log_text(self, i: int) -> str:
        return (self.root / f"node{i}.log").read_text(errors="replace")

    def close(self) -> None:
        self.kill_all()


def put(cluster: ToyCluster, i: int, key: str, value: str, timeout: float = 3.0) -> Any:
    """A put through node i; returns the result dict, or None if not acknowledged."""
    try:
        reply = cluster.call(i, {"op": "put", "k": key, "v": value, "timeout": timeout})
    except (OSError, ValueError):
        return None
    return reply["result"] if reply["ok"] else None
