"""The TDE gateway's listener against idle and slow clients, in process, with a stand-in
for the cluster (the real-MariaDB version is tests/integration/test_tde.py).

The outside review's reproduction first: one TCP connection that sends nothing used to
stop the gateway, because the TLS handshake ran inside the single accept loop without a
timeout, so every MariaDB key fetch timed out while it was open."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from keymgr import pki
from keymgr.client import Credentials, MasterKey
from keymgr.gateway.config import GatewayConfig, hash_token
from keymgr.gateway.server import Gateway, build_server
from keymgr.gateway.tde import TdeGateway
from keymgr.listen_limits import TDE_GATEWAY
from tests.held_connections import ENDLESS_HEADERS, Siege, client_hello, tcp, tls

TOKEN = "gateway-test-token"


class StandInCluster:
    """Answers GetMasterKey like the cluster would (no network)."""

    def __init__(self) -> None:
        self.calls = 0

    def get_master_key(self, db_id: str, name: str, *, version: int = 0) -> MasterKey:
        self.calls += 1
        return MasterKey(bytes(range(32)), "key-1", name, version or 1, 1)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[int, ssl.SSLContext, StandInCluster]]:
    certs = tmp_path / "certs"
    pki.create_ca(certs)
    ca = pki.load_ca(certs)
    pki.issue_server_cert(ca, "gw", hosts=["127.0.0.1"])
    pki.issue_client_cert(ca, "gw-client", kind="service")
    config = GatewayConfig(
        listen_host="127.0.0.1",
        listen_port=0,
        tls_cert=certs / "gw.pem",
        tls_key=certs / "gw-key.pem",
        mount="keymgr",
        addresses=["127.0.0.1:1"],
        credentials=Credentials(
            ca=certs / "ca.pem", cert=certs / "gw-client.pem", key=certs / "gw-client-key.pem"
        ),
        tokens={hash_token(TOKEN): "shop-db"},
    )
    cluster = StandInCluster()
    tde = TdeGateway(config, client=cluster)  # type: ignore[arg-type]
    server = build_server(Gateway(config, tde=tde))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    try:
        yield server.server_address[1], context, cluster
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def fetch(port: int, context: ssl.SSLContext, timeout: float = 3.0) -> tuple[int, dict]:
    """What MariaDB's plugin asks; raises (e.g. TimeoutError) if no answer in time."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=timeout)
    try:
        conn.request("GET", "/v1/keymgr/data/1", headers={"X-Vault-Token": TOKEN})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_one_idle_connection_does_not_stop_the_gateway(gateway) -> None:
    port, context, _ = gateway
    assert fetch(port, context)[0] == 200
    with socket.create_connection(("127.0.0.1", port)):  # connects, sends nothing
        time.sleep(0.2)  # the listener has accepted it
        started = time.monotonic()
        status, body = fetch(port, context)
        assert status == 200 and body["data"]["metadata"]["version"] == 1
        assert time.monotonic() - started < 2.0


def test_fetches_go_on_while_idle_and_slow_clients_are_held(gateway) -> None:
    port, context, cluster = gateway
    siege = (
        Siege()
        .hold(
            "slow-head",
            tls("127.0.0.1", port, context),
            50,
            first=b"GET /v1/keymgr/data/1 HTTP/1.1\r\nHost: x\r\n",
            trickle=ENDLESS_HEADERS,
        )
        .hold("idle", tcp("127.0.0.1", port), 100)
        .hold("slow-hello", tcp("127.0.0.1", port), 50, trickle=client_hello())
    )
    with siege:
        assert siege.open_count() == 200
        for _ in range(5):
            started = time.monotonic()
            assert fetch(port, context)[0] == 200
            assert time.monotonic() - started < 2.0
        assert siege.open_count() >= 190  # the fetches happened while they were held
        bound = TDE_GATEWAY.handshake_timeout_s + TDE_GATEWAY.head_timeout_s
        lifetimes = siege.wait_every_one_closed(within=bound + 5)
        assert fetch(port, context)[0] == 200
    # each held connection was closed by the server at its deadline, not before much
    assert max(lifetimes["idle"]) < TDE_GATEWAY.handshake_timeout_s + 2
    assert max(lifetimes["slow-hello"]) < TDE_GATEWAY.handshake_timeout_s + 2
    assert min(lifetimes["slow-head"]) > TDE_GATEWAY.head_timeout_s - 1
    assert max(lifetimes["slow-head"]) < TDE_GATEWAY.head_timeout_s + 2
    assert cluster.calls == 6
