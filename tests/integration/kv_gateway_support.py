"""A running `keymgr gateway` in front of a real cluster, and what the KV v2 tests need
around it: tokens with scoped policies, the real `bao` binary and hvac as clients."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac
import yaml

from keymgr import pki
from keymgr.client import AlreadyExists, Client
from keymgr.ops.devcluster import LocalCluster
from keymgr.ops.ports import free_port, wait_listening
from keymgr.v1 import store_pb2
from keymgr_bench.openbao_peer import bao_binary
from tests.integration.clients_support import Processes, agent_cert

GATEWAY_NAME = "kv-gateway"
GATEWAY = f"spiffe://keymgr/service/{GATEWAY_NAME}"
ALL_SECRET_OPERATIONS = [
    "secret-read",
    "secret-write",
    "secret-list",
    "secret-delete",
    "secret-destroy",
]


@dataclass
class RunningGateway:
    port: int
    ca: Path
    home: Path  # HOME for bao (its token helper file stays in the test's directory)
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def hvac(self, token: str | None = None, cert: tuple[str, str] | None = None) -> hvac.Client:
        return hvac.Client(url=self.url, token=token, verify=str(self.ca), cert=cert, timeout=60)

    def bao(self, *args: str, token: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.home),
            "BAO_ADDR": self.url,
            "BAO_TOKEN": token,
            "BAO_CACERT": str(self.ca),
        }
        return subprocess.run(
            [bao_binary(), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )


def gateway_config(
    cluster: LocalCluster,
    port: int,
    *,
    tde: dict[str, Any] | None = None,
    mounts: list[str] | None = None,
) -> dict[str, Any]:
    """A unified gateway: KV v2 (client certificates verified against the cluster CA) and,
    if given, a `tde:` section; node1 first in the addresses."""
    ca = pki.load_ca(cluster.certs)
    if not (cluster.certs / "kv-gateway-tls.pem").exists():
        pki.issue_server_cert(ca, "kv-gateway-tls", hosts=["127.0.0.1"])
    cert, key = agent_cert(cluster, GATEWAY_NAME, "service")
    config: dict[str, Any] = {
        "listen": f"127.0.0.1:{port}",
        "tls": {
            "cert": str(cluster.certs / "kv-gateway-tls.pem"),
            "key": str(cluster.certs / "kv-gateway-tls-key.pem"),
            "client_ca": str(cluster.credentials.ca),
        },
        "cluster": {
            "addresses": [n.api for n in cluster.spec.nodes],
            "ca": str(cluster.credentials.ca),
            "cert": str(cert),
            "key": str(key),
        },
        "failover_deadline_s": 20,
        "kv": {"mounts": mounts} if mounts else {},
    }
    if tde is not None:
        config["tde"] = tde
    return config


def start_gateway(
    cluster: LocalCluster,
    root: Path,
    processes: Processes,
    *,
    tde: dict[str, Any] | None = None,
    command: str = "gateway",
    config: dict[str, Any] | None = None,
) -> RunningGateway:
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    body = config or gateway_config(cluster, port, tde=tde)
    body["listen"] = f"127.0.0.1:{port}"
    path = root / "gateway.yaml"
    path.write_text(yaml.safe_dump(body))
    log = root / "gateway.log"
    process = processes.start([sys.executable, "-m", "keymgr", command, "--config", str(path)], log)

    wait_listening(port, process, log=log)
    return RunningGateway(port, cluster.credentials.ca, root, process, log)


def grant(
    admin: Client, name: str, principal: str, operations: list[str], path_patterns: list[str]
) -> None:
    operation = admin.put_policy(
        store_pb2.Policy(
            name=name,
            principals=[principal],
            operations=operations,
            path_patterns=path_patterns,
        )
    )
    assert operation.state == store_pb2.OPERATION_STATE_EXECUTED, operation


def token_for(admin: Client, principal: str, ttl_s: int = 3600) -> str:
    return admin.secrets.create_token(principal, ttl_s, display_name="test").token


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(3)}"


def applied_everywhere(cluster: LocalCluster, admin: Client) -> None:
    """A read barrier on every node: what `admin` wrote (policies, tokens, mounts) is
    applied everywhere before another client (the gateway) relies on it."""
    with contextlib.suppress(AlreadyExists):  # made by an earlier test on this cluster
        admin.create_key("kv-barrier")
    for node in cluster.spec.nodes:
        if cluster.alive(node.id):
            admin.generate_data_key("kv-barrier", consistent=True, endpoint=node.api)
