"""Every listener keymgr runs against slow and idle clients (issue 12, the outside review).

For the node's gRPC port, its metrics endpoint, the Kubernetes KMS plugin's socket and
the volume key socket: while 100 idle and 100 slow connections are held (each replaced
as soon as the server closes it), a real client call still succeeds within a bound, and
the server closes every held connection when its deadline passes. The TDE gateway's
version, with a real MariaDB, is in test_tde.py; the bounds are in
keymgr/listen_limits.py and docs/threat-model.md (g)."""

from __future__ import annotations

import os
import secrets
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from keymgr.k8s_kms_v2 import api_pb2, api_pb2_grpc
from keymgr.listen_limits import KMS_PLUGIN, METRICS, NODE_API
from keymgr.ops.devcluster import LocalCluster, default_spec
from keymgr.v1 import keys_pb2, store_pb2
from tests.held_connections import (
    ENDLESS_HEADERS,
    HTTP2_PREFACE,
    Siege,
    client_hello,
    tcp,
    unix,
)
from tests.integration.clients_support import (
    Processes,
    connection_args,
    require_tools,
    wait_for,
)
from tests.integration.test_volume import CS, image, systemd_fetch, volume

BOUND_S = 3.0  # a real call while the siege is on


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A cluster of this module's own (its keys and policies stay here)."""
    local = LocalCluster(tmp_path_factory.mktemp("listener-limits"), default_spec(3))
    try:
        local.bring_up()
        yield local
    finally:
        local.close()


def grant(cluster: LocalCluster, policy: store_pb2.Policy) -> None:
    with cluster.client() as admin:
        assert admin.put_policy(policy).state == store_pb2.OPERATION_STATE_EXECUTED
        for node in cluster.spec.nodes:  # read barrier: the policy is applied everywhere
            admin.generate_data_key(policy.key_patterns[0], consistent=True, endpoint=node.api)


def timed(call, bound: float = BOUND_S):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    result = call()
    assert time.monotonic() - started < bound, "a real call was held up by the siege"
    return result


def test_node_api_serves_while_idle_and_slow_clients_are_held(cluster: LocalCluster) -> None:
    host, port = cluster.node("node1").api.rsplit(":", 1)
    with cluster.client() as admin:
        admin.create_key("held-api")
    siege = (
        Siege()
        .hold("idle", tcp(host, int(port)), 100)
        .hold("slow-hello", tcp(host, int(port)), 100, trickle=client_hello())
    )
    creds = cluster.credentials.channel_credentials()
    with siege, cluster.client(["node1"]) as client:
        assert siege.open_count() == 200
        for _ in range(3):
            with grpc.secure_channel(cluster.node("node1").api, creds) as channel:
                health = health_pb2_grpc.HealthStub(channel)
                timed(lambda h=health: h.Check(health_pb2.HealthCheckRequest(), timeout=5))
            timed(lambda: client.generate_data_key("held-api"))
        assert siege.open_count() >= 190
        lifetimes = siege.wait_every_one_closed(within=NODE_API.handshake_timeout_s + 5)
    assert max(lifetimes["idle"] + lifetimes["slow-hello"]) < NODE_API.handshake_timeout_s + 3


def test_metrics_endpoint_serves_while_idle_and_slow_clients_are_held(
    cluster: LocalCluster,
) -> None:
    address = cluster.node("node1").metrics
    host, port = address.rsplit(":", 1)
    siege = (
        Siege()
        .hold("idle", tcp(host, int(port)), 100)
        .hold(
            "slow-head",
            tcp(host, int(port)),
            100,
            first=b"GET /metrics HTTP/1.1\r\nHost: x\r\n",
            trickle=ENDLESS_HEADERS,
        )
    )

    def scrape() -> str:
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
            return str(response.read().decode())

    with siege:
        # 200 is above the cap (64): each newcomer closes the oldest idle connection,
        # so the siege churns, and a scrape still gets in
        for _ in range(3):
            assert "keymgr_raft_term" in timed(scrape)
        lifetimes = siege.wait_every_one_closed(within=METRICS.head_timeout_s + 5)
    assert max(lifetimes["idle"] + lifetimes["slow-head"]) < METRICS.head_timeout_s + 3
    node_log = cluster.log_path("node1").read_text()
    assert "metrics listener: turned away" in node_log  # the evictions, reported


def test_kms_plugin_serves_while_idle_and_slow_clients_are_held(
    cluster: LocalCluster, tmp_path: Path, processes: Processes
) -> None:
    with cluster.client() as admin:
        admin.create_key("held-k8s")
    grant(
        cluster,
        store_pb2.Policy(
            name="held-kms-plugin",
            principals=["spiffe://keymgr/service/held-kms"],
            operations=["encrypt", "decrypt"],
            key_patterns=["held-k8s"],
        ),
    )
    sock = tmp_path / "kms.sock"
    processes.start(
        [
            sys.executable,
            "-m",
            "keymgr",
            "kms-plugin",
            "--socket",
            str(sock),
            "--key",
            "held-k8s",
            *connection_args(cluster, "held-kms", kind="service", key_flag="--client-key"),
        ],
        tmp_path / "kms-plugin.log",
    )
    wait_for(sock.exists, timeout=20, what="plugin socket")
    siege = (
        Siege()
        .hold("idle", unix(sock), 100)
        .hold("slow-preface", unix(sock), 100, trickle=HTTP2_PREFACE + b"\x00" * 64)
    )
    with siege, grpc.insecure_channel(f"unix://{sock}") as channel:
        kms = api_pb2_grpc.KeyManagementServiceStub(channel)
        assert siege.open_count() == 200
        for _ in range(3):
            status = timed(lambda: kms.Status(api_pb2.StatusRequest(), timeout=5))
            assert status.healthz == "ok"
            sealed = timed(
                lambda: kms.Encrypt(api_pb2.EncryptRequest(plaintext=b"dek", uid="u"), timeout=5)
            )
            assert sealed.ciphertext
        assert siege.open_count() >= 190
        lifetimes = siege.wait_every_one_closed(within=KMS_PLUGIN.handshake_timeout_s + 5)
        # a message above the bound is refused, the plugin goes on
        with pytest.raises(grpc.RpcError) as big:
            kms.Encrypt(
                api_pb2.EncryptRequest(plaintext=b"x" * (KMS_PLUGIN.max_receive_bytes + 1)),
                timeout=5,
            )
        assert big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert kms.Status(api_pb2.StatusRequest(), timeout=5).healthz == "ok"
    assert max(lifetimes["idle"] + lifetimes["slow-preface"]) < (KMS_PLUGIN.handshake_timeout_s + 3)


def abstract(name: bytes) -> bytes:
    """systemd-cryptsetup's peer address form, with a fresh random part."""
    return b"\0" + secrets.token_hex(8).encode() + b"/cryptsetup/" + name


def test_volume_socket_serves_configured_names_only_while_besieged(
    cluster: LocalCluster, tmp_path: Path, processes: Processes
) -> None:
    require_tools()
    with cluster.client() as admin:
        admin.create_key("held-volumes", purpose=keys_pb2.KEY_PURPOSE_VOLUME)
    grant(
        cluster,
        store_pb2.Policy(
            name="held-volume-agent",
            principals=["spiffe://keymgr/agent/vol-held"],
            operations=["volume"],
            key_patterns=["held-volumes"],
            required_context={"volume_id": "${principal.name}"},
        ),
    )
    disk = image(tmp_path, "vol-held")
    volume(cluster, "vol-held", "format", str(disk), "--key", "held-volumes")
    sock_path = tmp_path / "keys.sock"
    log = tmp_path / "serve-socket.log"
    processes.start(
        [
            sys.executable,
            "-m",
            "keymgr",
            "volume",
            "serve-socket",
            str(sock_path),
            "--volume",
            f"data={disk}",
            "--host-id",
            "host-1",
            *connection_args(cluster, "vol-held", key_flag="--client-key"),
        ],
        log,
    )
    wait_for(sock_path.exists, timeout=15, what="key socket")

    # names that are not a configured volume, or not systemd's address form, get nothing
    for name in (
        b"other-volume",
        b"../data",
        b"data/../data",
        b"../../etc/shadow",
        b"data\0",
        b"DATA",
        b"data/cryptsetup/data",
    ):
        assert fetch_as(sock_path, abstract(name)) == b"", name
    assert fetch_as(sock_path, b"\0abc/cryptsetup-pkcs11/data") == b""
    assert fetch_as(sock_path, b"\0not-alnum!/cryptsetup/data") == b""
    bound_path = tmp_path / "peer" / "cryptsetup" / "data"  # a filesystem peer address
    bound_path.parent.mkdir(parents=True)
    assert fetch_as(sock_path, str(bound_path)) == b""
    assert fetch_as(sock_path, None) == b""  # no peer address at all

    siege = (
        Siege(reopen_after=1.0)
        .hold("idle", unix(sock_path), 100)
        .hold(
            "slow-unknown",
            unix(sock_path, bind=lambda: abstract(b"../../etc/shadow")),
            100,
            trickle=b"x" * 1000,
        )
    )
    with siege:
        for _ in range(3):
            key = timed(lambda: systemd_fetch(sock_path, "data"), bound=10.0)
            assert len(key) == 32 and CS.test_key(disk, key)
        siege.wait_every_one_closed(within=5)
        time.sleep(2)  # hundreds more refusals
    lines = log.read_text().splitlines()
    refusals = [line for line in lines if "turned away" in line]
    assert 1 <= len(refusals) <= 3, refusals  # at most one report per 10 s, not one a refusal
    assert not [line for line in lines if "Traceback" in line]


def fetch_as(path: Path, peer: bytes | str | None) -> bytes:
    """Connects from `peer` (an abstract or filesystem address, or none) and reads."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        if peer is not None:
            sock.bind(peer)
        sock.connect(str(path))
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
        if isinstance(peer, str):
            os.unlink(peer)
    return b"".join(chunks)
