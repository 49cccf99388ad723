"""`keymgr bench-secrets`: KV v2 reads and writes per second, keymgr's gateway next to
OpenBao's KV v2 engine, in the same run and with the same load generator.

keymgr: a fresh local 3-node cluster (file seals, mTLS, fsync on, audit file), mount
`secret`, a token whose policy allows it, and `keymgr gateway` as its own process
(HTTPS, TLS 1.3) in front. OpenBao 2.7.2: a 3-node Raft cluster (integrated storage,
fsync on) as it runs in production (HTTPS listeners, a file audit device), KV v2 at
`secret/`, the root token. Each side has the machine to itself while it is measured.

Scenarios, each an HTTP request as `bao kv get` / `bao kv put` makes it (without the
CLI's preflight): `kv-read` GETs one of `PRELOADED` secrets in turn; `kv-write` POSTs a
new version of the worker's own secret (so writes do not fight over one path's cas).
Values are `VALUE_BYTES` of hex from a seeded RNG. Server CPU is the node processes'
(and, for keymgr, the gateway's).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from keymgr import pki
from keymgr.ops.devcluster import LocalCluster, default_spec
from keymgr.ops.ports import NotListening, free_port, wait_listening
from keymgr.tls13 import ssl_context
from keymgr.v1 import store_pb2
from keymgr_bench.loadgen import LoadResult, run_rounds

Op = Callable[[int], Awaitable[None]]
Results = dict[tuple[str, int], LoadResult]

SCENARIOS = ("kv-read", "kv-write")
MOUNT = "secret"
PRELOADED = 100
VALUE_BYTES = 64
BENCH_PRINCIPAL = "spiffe://keymgr/service/bench-secrets"
GATEWAY_START_TIMEOUT_S = 30.0
SECRET_OPERATIONS = [
    "secret-read",
    "secret-write",
    "secret-list",
    "secret-delete",
    "secret-destroy",
]


class BenchError(RuntimeError):
    """A side could not be set up, or answered a request with an error."""


@dataclass
class KvTarget:
    """A pooled keep-alive HTTPS session to one KV v2 endpoint."""

    base_url: str
    token: str
    context: ssl.SSLContext | None
    pool_size: int = 64
    _session: aiohttp.ClientSession | None = field(default=None, init=False, repr=False)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                ssl=self.context or False,
                limit=self.pool_size,
                limit_per_host=self.pool_size,
                keepalive_timeout=60.0,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=30.0),
                headers={"X-Vault-Token": self.token},
            )
        return self._session

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.base_url}/v1/{path}"
        async with self.session.request(method, url, json=body) as response:
            raw = await response.read()
            if response.status not in (200, 204):
                raise BenchError(f"{method} {path}: HTTP {response.status}: {raw[:200]!r}")
            return raw

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def kv_ops(target: KvTarget, seed: int) -> dict[str, Op]:
    """Preloads the read set; returns the scenario operations."""
    rng = random.Random(seed)

    def value() -> dict[str, str]:
        return {"value": rng.randbytes(VALUE_BYTES // 2).hex()}

    for i in range(PRELOADED):
        await target.call("POST", f"{MOUNT}/data/bench/r-{i}", {"data": value()})
    turn = itertools.count()
    payloads = [value() for _ in range(16)]

    async def read(worker: int) -> None:
        await target.call("GET", f"{MOUNT}/data/bench/r-{next(turn) % PRELOADED}")

    async def write(worker: int) -> None:
        body = {"data": payloads[worker % len(payloads)]}
        await target.call("POST", f"{MOUNT}/data/bench/w-{worker}", body)

    return {"kv-read": read, "kv-write": write}


async def measure(
    target: KvTarget,
    *,
    side: str,
    pids: Sequence[int],
    scenarios: Sequence[str],
    concurrencies: Sequence[int],
    duration_s: float,
    warmup_s: float,
    repeats: int,
    seed: int,
    progress: Callable[[str], None] | None,
) -> Results:
    try:
        ops = await kv_ops(target, seed)
        return await run_rounds(
            ops,
            side=side,
            scenarios=scenarios,
            concurrencies=concurrencies,
            duration_s=duration_s,
            warmup_s=warmup_s,
            repeats=repeats,
            pids=pids,
            progress=progress,
        )
    finally:
        await target.close()


def _gateway_config(cluster: LocalCluster, port: int) -> dict[str, Any]:
    ca = pki.load_ca(cluster.certs)
    pki.issue_server_cert(ca, "bench-gateway-tls", hosts=["127.0.0.1"])
    pki.issue_client_cert(ca, "bench-gateway", kind="service")
    return {
        "listen": f"127.0.0.1:{port}",
        "tls": {
            "cert": str(cluster.certs / "bench-gateway-tls.pem"),
            "key": str(cluster.certs / "bench-gateway-tls-key.pem"),
        },
        "cluster": {
            "addresses": [n.api for n in cluster.spec.nodes],
            "ca": str(cluster.credentials.ca),
            "cert": str(cluster.certs / "bench-gateway.pem"),
            "key": str(cluster.certs / "bench-gateway-key.pem"),
            "connections_per_node": 4,
        },
        "kv": {"mounts": [MOUNT]},
    }


def _start_gateway(cluster: LocalCluster, root: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = root / "gateway.yaml"
    config.write_text(yaml.safe_dump(_gateway_config(cluster, port)))
    log = root / "gateway.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "keymgr", "gateway", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        wait_listening(port, process, timeout=GATEWAY_START_TIMEOUT_S, log=log)
    except NotListening as exc:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        raise BenchError(f"the gateway: {exc}") from None
    return process, port


def _grant_token(cluster: LocalCluster) -> str:
    with cluster.client() as admin:
        admin.secrets.enable_mount(MOUNT)
        operation = admin.put_policy(
            store_pb2.Policy(
                name="bench-secrets",
                principals=[BENCH_PRINCIPAL],
                operations=SECRET_OPERATIONS,
                path_patterns=[f"{MOUNT}/*"],
            )
        )
        if operation.state != store_pb2.OPERATION_STATE_EXECUTED:
            raise BenchError(f"the bench policy was not applied: {operation}")
        token = admin.secrets.create_token(BENCH_PRINCIPAL, 3600, display_name="bench").token
        admin.create_key("bench-barrier")
        for node in cluster.spec.nodes:  # read barrier: policy and token applied everywhere
            admin.generate_data_key("bench-barrier", consistent=True, endpoint=node.api)
    return token


async def bench_keymgr_kv(**kwargs: Any) -> tuple[Results, str]:
    """The keymgr side; (results, a line saying what was measured)."""
    work_dir: Path | None = kwargs.pop("work_dir", None)
    with tempfile.TemporaryDirectory(prefix="keymgr-bench-kv-", dir=work_dir) as root:
        cluster = LocalCluster(Path(root) / "cluster", default_spec(3))
        gateway: subprocess.Popen[bytes] | None = None
        try:
            cluster.bring_up()
            token = _grant_token(cluster)
            gateway, port = _start_gateway(cluster, Path(root))
            pids = [cluster.pid(n.id) for n in cluster.spec.nodes]
            for node in cluster.spec.nodes:
                pids.extend(cluster.wait_workers(node.id))
            pids.append(gateway.pid)
            context = ssl_context("client")
            context.load_verify_locations(cafile=str(cluster.credentials.ca))
            target = KvTarget(
                f"https://127.0.0.1:{port}", token, context, pool_size=max(kwargs["concurrencies"])
            )
            results = await measure(target, side="keymgr", pids=pids, **kwargs)
            return (
                results,
                "keymgr 3-node cluster (mTLS, fsync, audit file) behind "
                "`keymgr gateway` (HTTPS, TLS 1.3), token auth",
            )
        finally:
            if gateway is not None and gateway.poll() is None:
                gateway.terminate()
                try:
                    gateway.wait(10)
                except subprocess.TimeoutExpired:
                    gateway.kill()
                    gateway.wait(10)
            cluster.close()


async def bench_openbao_kv(**kwargs: Any) -> tuple[Results, str]:
    """The OpenBao side: 3-node Raft, HTTPS listeners and a file audit device."""
    from keymgr_bench.openbao_peer import OpenBaoCluster, _http

    with OpenBaoCluster(production=True) as cluster:
        leader = cluster.leader_address
        status, body = _http(
            "POST",
            f"{leader}/v1/sys/mounts/{MOUNT}",
            token=cluster.root_token,
            body={"type": "kv", "options": {"version": "2"}},
            timeout=30.0,
            context=cluster.ssl_context,
        )
        if status not in (200, 204):
            raise BenchError(f"OpenBao: enabling kv-v2 answered {status}: {body}")
        target = KvTarget(
            leader, cluster.root_token, cluster.ssl_context, pool_size=max(kwargs["concurrencies"])
        )
        for _ in range(100):  # the new mount takes a moment to route
            try:
                await target.call("GET", f"{MOUNT}/config")
                break
            except BenchError:
                await asyncio.sleep(0.1)
        results = await measure(target, side="openbao", pids=cluster.pids, **kwargs)
        return results, f"{cluster.description}; KV v2 on the active node, root token"
