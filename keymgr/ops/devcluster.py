"""A local cluster of node processes on loopback: `keymgr dev up` and the test suite.

Everything a real deployment has is made for real: a CA, node and admin certificates,
a cluster secret, one YAML config per node, one OS process per node. Processes are
stopped by the PIDs started here, never by name.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from keymgr import pki
from keymgr.client import Client, Credentials, KeymgrError
from keymgr.ops.ports import free_port
from keymgr.private_files import owner_only_append
from keymgr.v1 import operator_pb2

READY_TIMEOUT_S = 30.0
ENV_FILE = "env"


class NodeExited(RuntimeError):
    """A node process ended while we waited for it (its own output says why)."""


@dataclass
class NodeSpec:
    id: str
    zone: str
    seal: str  # "file" | "shamir" | "pkcs11"
    api: str = ""
    raft: str = ""
    metrics: str = ""  # Prometheus listener; "" = a free loopback port is picked
    seal_options: dict[str, Any] = field(default_factory=dict)  # merged into `seal:`
    # peer raft address -> address this node dials instead (`raft.dial_overrides`): a
    # fault-injecting proxy on the link (keymgr drill chaos)
    dial_overrides: dict[str, str] = field(default_factory=dict)


@dataclass
class ClusterSpec:
    nodes: list[NodeSpec]
    min_deletion_window_s: int = 604800
    min_rotation_period_s: int = 3600
    log_compaction_min_entries: int = 5000
    max_leader_silence_s: float = 3.0
    max_staleness_s: float = 1.0
    extra_raft: dict[str, Any] = field(default_factory=dict)
    processes: int = 1  # serving processes per node (`serving.processes`); 0: one per core
    audit_files: dict[str, str] = field(default_factory=dict)  # node id -> audit log path


DEV_SECRETS_MOUNT = "secret"


def default_spec(count: int = 3, *, seal: str = "file", ports: Sequence[int] = ()) -> ClusterSpec:
    """`count` nodes in zones a, b, c...; fixed ports if given (API, then Raft = API+100)."""
    nodes = []
    for i in range(count):
        api_port = ports[i] if ports else free_port()
        raft_port = api_port + 100 if ports else free_port()
        nodes.append(
            NodeSpec(
                id=f"node{i + 1}",
                zone=f"zone-{chr(ord('a') + i)}",
                seal=seal,
                api=f"127.0.0.1:{api_port}",
                raft=f"127.0.0.1:{raft_port}",
            )
        )
    return ClusterSpec(nodes=nodes)


def wait_until_serving(client: Client, endpoints: Mapping[str, str], timeout: float) -> None:
    """Waits until every node (id -> API address) says it serves crypto calls."""
    deadline = time.monotonic() + timeout
    for node_id, endpoint in endpoints.items():
        while True:
            reason = "no answer"
            try:
                status = client.local_status(endpoint=endpoint)
                if status.serving:
                    break
                reason = status.error
            except KeymgrError as exc:
                reason = str(exc)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{node_id} does not serve: {reason}")
            time.sleep(0.1)


class LocalCluster:
    """Node processes under `root`: certs/, secrets/, nodeN.yaml, data/, logs/."""

    def __init__(self, root: Path, spec: ClusterSpec) -> None:
        self.root = root.resolve()
        self.spec = spec
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.foreign: dict[str, int] = {}  # node id -> PID started by another process
        # node id -> size of its stderr and log files when it was last started, so an
        # error shows what this run wrote, not lines left by an earlier one
        self._output_start: dict[str, dict[Path, int]] = {}

    @classmethod
    def attach(cls, root: Path) -> LocalCluster:
        """A cluster directory made by `keymgr dev up`: specs from the node configs,
        PIDs from run/<id>.pid (checked against /proc so a reused PID is never hit)."""
        root = root.resolve()
        nodes = []
        for path in sorted(root.glob("node*.yaml")):
            data = yaml.safe_load(path.read_text())
            nodes.append(
                NodeSpec(
                    id=data["node"]["id"],
                    zone=data["node"].get("zone", ""),
                    seal=data["seal"]["type"],
                    api=data["api"]["listen"],
                    raft=data["raft"]["listen"],
                    metrics=(data.get("metrics") or {}).get("listen") or "",
                )
            )
        if not nodes:
            raise FileNotFoundError(f"no node*.yaml in {root}")
        cluster = cls(root, ClusterSpec(nodes=nodes))
        for node in nodes:
            pid = cluster._running_pid(node.id)
            if pid is not None:
                cluster.foreign[node.id] = pid
        return cluster

    def _running_pid(self, node_id: str) -> int | None:
        pid_file = self.root / "run" / f"{node_id}.pid"
        try:
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if str(self.config_path(node_id)).encode() in cmdline else None

    # --- files ------------------------------------------------------------------

    @property
    def certs(self) -> Path:
        return self.root / "certs"

    @property
    def credentials(self) -> Credentials:
        return Credentials(
            ca=self.certs / "ca.pem",
            cert=self.certs / "admin.pem",
            key=self.certs / "admin-key.pem",
        )

    def write_env_file(self) -> Path:
        """`<root>/env`: sourced by a shell (`. dev-cluster/env`), it puts this Python's
        `keymgr` on PATH and points KEYMGR_* at the cluster by absolute paths, so the
        CLI works in any directory of that shell."""
        creds = self.credentials
        bin_dir = Path(sys.executable).parent
        if (bin_dir / "keymgr").exists():
            command = f'export PATH={shlex.quote(str(bin_dir))}:"$PATH"'
        else:  # not an installed environment (e.g. PYTHONPATH): a shell function
            command = f'keymgr() {{ {shlex.quote(sys.executable)} -m keymgr "$@"; }}'
        lines = [
            f"# keymgr dev cluster in {self.root}: `. {self.root / ENV_FILE}` in any shell",
            command,
            f"export KEYMGR_ADDR={','.join(n.api for n in self.spec.nodes)}",
            f"export KEYMGR_CACERT={shlex.quote(str(creds.ca))}",
            f"export KEYMGR_CLIENT_CERT={shlex.quote(str(creds.cert))}",
            f"export KEYMGR_CLIENT_KEY={shlex.quote(str(creds.key))}",
        ]
        path = self.root / ENV_FILE
        path.write_text("\n".join(lines) + "\n")
        return path

    def config_path(self, node_id: str) -> Path:
        return self.root / f"{node_id}.yaml"

    def last_output(self, node_id: str, lines: int = 5) -> str:
        """The end of a node's stderr and log, for an error message about its exit."""
        tail: list[str] = []
        starts = self._output_start.get(node_id, {})
        for path in self._output_files(node_id):
            try:
                with path.open("rb") as out:
                    out.seek(starts.get(path, 0))
                    text = out.read().decode(errors="replace")
            except OSError:
                continue
            tail += text.splitlines()[-lines:]
        return " | ".join(line.strip() for line in tail) or "(none)"

    def _output_files(self, node_id: str) -> tuple[Path, Path]:
        return (self.log_path(node_id).with_suffix(".stderr"), self.log_path(node_id))

    def log_path(self, node_id: str) -> Path:
        return self.root / "logs" / f"{node_id}.log"

    def data_dir(self, node_id: str) -> Path:
        return self.root / "data" / node_id

    def prepare(self) -> None:
        """Writes PKI, the cluster secret and configs (keeps an existing CA)."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        for directory in ("logs", "data", "run"):
            (self.root / directory).mkdir(mode=0o700, exist_ok=True)
            os.chmod(self.root / directory, 0o700)
        secrets_dir = self.root / "secrets"
        secrets_dir.mkdir(mode=0o700, exist_ok=True)
        if not (self.certs / "ca.pem").exists():
            pki.create_ca(self.certs)
        ca = pki.load_ca(self.certs)
        if not (self.certs / "admin.pem").exists():
            pki.issue_client_cert(ca, "admin", kind="admin")
        secret = secrets_dir / "cluster-secret"
        if not secret.exists():
            pki.create_cluster_secret(secret)
        for node in self.spec.nodes:
            if not node.metrics:
                node.metrics = f"127.0.0.1:{free_port()}"
            if not (self.certs / f"{node.id}.pem").exists():
                pki.issue_node_cert(ca, node.id)
            self.config_path(node.id).write_text(yaml.safe_dump(self._config(node)))

    def _config(self, node: NodeSpec) -> dict[str, Any]:
        spec = self.spec
        raft: dict[str, Any] = {
            "listen": node.raft,
            "password_file": "secrets/cluster-secret",
            "log_compaction_min_entries": spec.log_compaction_min_entries,
            **spec.extra_raft,
        }
        if node.dial_overrides:
            raft["dial_overrides"] = dict(node.dial_overrides)
        seal: dict[str, Any] = {"type": node.seal}
        if node.seal == "file":
            seal["key_file"] = f"secrets/{node.id}-seal.key"
        seal.update(node.seal_options)
        return {
            "node": {"id": node.id, "zone": node.zone, "data_dir": f"data/{node.id}"},
            "api": {"listen": node.api},
            "tls": {
                "cert": f"certs/{node.id}.pem",
                "key": f"certs/{node.id}-key.pem",
                "ca": "certs/ca.pem",
            },
            "raft": raft,
            "peers": [
                {"id": p.id, "api": p.api, "raft": p.raft, "zone": p.zone}
                for p in spec.nodes
                if p.id != node.id
            ],
            "seal": seal,
            "serving": {
                "max_leader_silence_s": spec.max_leader_silence_s,
                "max_staleness_s": spec.max_staleness_s,
                "processes": spec.processes,
            },
            "keys": {
                "min_deletion_window_s": spec.min_deletion_window_s,
                "default_deletion_window_s": max(2592000, spec.min_deletion_window_s),
                "min_rotation_period_s": spec.min_rotation_period_s,
            },
            "logging": {"level": "info", "file": f"logs/{node.id}.log"},
            "metrics": {"listen": node.metrics},
            **(
                {"audit": {"file": {"path": spec.audit_files[node.id]}}}
                if node.id in spec.audit_files
                else {}
            ),
        }

    # --- processes ----------------------------------------------------------------

    def node(self, node_id: str) -> NodeSpec:
        for node in self.spec.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def start(self, node_id: str) -> None:
        if node_id in self.processes and self.processes[node_id].poll() is None:
            return
        self._output_start[node_id] = {
            path: path.stat().st_size if path.exists() else 0
            for path in self._output_files(node_id)
        }
        log = owner_only_append(self.log_path(node_id).with_suffix(".stderr"))
        self.processes[node_id] = subprocess.Popen(
            [sys.executable, "-m", "keymgr", "server", "--config", str(self.config_path(node_id))],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.foreign.pop(node_id, None)
        with owner_only_append(self.root / "run" / f"{node_id}.pid", truncate=True) as pid_file:
            pid_file.write(f"{self.processes[node_id].pid}\n".encode())

    def start_all(self) -> None:
        for node in self.spec.nodes:
            self.start(node.id)

    def stop(self, node_id: str, *, kill: bool = False, timeout: float = 10.0) -> None:
        """SIGTERM (or SIGKILL) the node's process, by the PID started here (or recorded
        in run/<id>.pid by the process that started it)."""
        if node_id not in self.processes and node_id in self.foreign:
            self._stop_foreign(node_id, kill=kill, timeout=timeout)
            return
        process = self.processes.pop(node_id, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def _stop_foreign(self, node_id: str, *, kill: bool, timeout: float) -> None:
        pid = self.foreign.pop(node_id)
        if self._running_pid(node_id) != pid:
            return
        os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            try:
                if Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z"):
                    return  # dead; its parent reaps it
            except (OSError, IndexError):
                return
            time.sleep(0.01)

    def alive(self, node_id: str) -> bool:
        process = self.processes.get(node_id)
        if process is not None:
            return process.poll() is None
        return node_id in self.foreign and self._running_pid(node_id) is not None

    def kill_all(self) -> None:
        for node_id in list(self.processes):
            self.stop(node_id, kill=True)

    def close(self) -> None:
        for node_id in list(self.processes):
            self.stop(node_id)

    def pid(self, node_id: str) -> int:
        return self.processes[node_id].pid

    def wait_workers(self, node_id: str, timeout: float = READY_TIMEOUT_S) -> list[int]:
        """Waits until every worker process of the node listens on its API port."""
        port = int(self.node(node_id).api.rsplit(":", 1)[1])
        expected = (self.spec.processes or 1) - 1
        deadline = time.monotonic() + timeout
        while True:
            pids = self.worker_pids(node_id)
            listening = _listening_inodes(port)
            if len(pids) >= expected and all(_socket_inodes(p) & listening for p in pids):
                return pids
            if time.monotonic() > deadline:
                raise TimeoutError(f"{node_id}: workers {pids} not all listening on {port}")
            time.sleep(0.05)

    def worker_pids(self, node_id: str) -> list[int]:
        """The node's worker processes (children of its Raft process), by PID."""
        pid = self.pid(node_id)
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return []
        return [int(c) for c in children]

    # --- cluster operations ---------------------------------------------------------

    def client(self, node_ids: Sequence[str] | None = None, **kwargs: Any) -> Client:
        ids = node_ids or [n.id for n in self.spec.nodes]
        return Client([self.node(i).api for i in ids], credentials=self.credentials, **kwargs)

    def wait_answering(
        self, node_id: str, timeout: float = READY_TIMEOUT_S
    ) -> operator_pb2.SealStatusResponse:
        """Waits until the node answers SealStatus; fails if its process died."""
        deadline = time.monotonic() + timeout
        endpoint = self.node(node_id).api
        with self.client([node_id], timeout=1.0, attempts=1) as client:
            while True:
                process = self.processes.get(node_id)
                if process is not None and process.poll() is not None:
                    raise NodeExited(
                        f"{node_id} exited with {process.returncode}; see "
                        f"{self.log_path(node_id)}; last output: {self.last_output(node_id)}"
                    )
                try:
                    return client.seal_status(endpoint=endpoint)
                except KeymgrError:
                    if time.monotonic() > deadline:
                        raise
                time.sleep(0.1)

    def wait_serving(self, node_ids: Sequence[str] | None = None, timeout: float = 30.0) -> None:
        """Waits until each node reports that it serves crypto calls."""
        ids = node_ids or [n.id for n in self.spec.nodes]
        with self.client(attempts=1, timeout=1.0) as client:
            wait_until_serving(client, {i: self.node(i).api for i in ids}, timeout)

    def init(self, *, shares: int = 3, threshold: int = 2) -> list[str]:
        """Initialises the cluster through the first node; returns the shares."""
        first = self.spec.nodes[0]
        deadline = time.monotonic() + READY_TIMEOUT_S
        with self.client([first.id], attempts=1) as client:
            while True:
                try:
                    response = client.init(shares=shares, threshold=threshold)
                    return list(response.unseal_shares)
                except KeymgrError as exc:
                    if time.monotonic() > deadline or "already initialized" in str(exc):
                        raise
                    time.sleep(0.2)

    def unseal(self, node_id: str, shares: Sequence[str]) -> operator_pb2.SealStatusResponse:
        """Submits shares to one node until it is unsealed (waits for the init record)."""
        endpoint = self.node(node_id).api
        deadline = time.monotonic() + READY_TIMEOUT_S
        with self.client([node_id], attempts=1) as client:
            status = client.seal_status(endpoint=endpoint)
            for share in shares:
                if not status.sealed:
                    break
                while True:
                    try:
                        status = client.unseal(share, endpoint=endpoint)
                        break
                    except KeymgrError as exc:  # init not replicated here yet
                        if time.monotonic() > deadline or "not initialized" not in str(exc):
                            raise
                        time.sleep(0.1)
            return status

    def enable_secrets_mount(self, mount: str = DEV_SECRETS_MOUNT) -> None:
        """The dev cluster's KV mount (as `bao server -dev` mounts `secret/`); kept if it
        exists already (a restarted dev cluster)."""
        with self.client() as client:
            if any(m.mount == mount for m in client.secrets.list_mounts()):
                return
            client.secrets.enable_mount(mount)

    def bring_up(self, *, shares: int = 3, threshold: int = 2) -> list[str]:
        """prepare, start, init, unseal every node, wait until all serve."""
        self.prepare()
        self.start_all()
        for node in self.spec.nodes:
            self.wait_answering(node.id)
        init_shares = self.init(shares=shares, threshold=threshold)
        for node in self.spec.nodes[1:]:
            self.unseal(node.id, init_shares[:threshold])
        self.wait_serving()
        return init_shares


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on TCP `port` (any address), from /proc/net."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.add(fields[9])
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes
