"""Secure join: a rebuilt node (new data dir, new HSM token) gets the root key from an
unsealed peer, sealed to its ephemeral X25519 key, with an approved one-use join token;
an unknown certificate or a token nobody approved is refused and audited."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from keymgr import pki
from keymgr.client import Client, Credentials, PermissionDenied
from keymgr.crypto.join import JoinKeyPair
from keymgr.ops.devcluster import LocalCluster
from keymgr.v1 import operator_pb2
from tests.integration.conftest import MakeCluster
from tests.integration.helpers import eventually, node_status
from tests.integration.hsm import PIN, hsm_cluster, token_label

FAKE_TOKEN = "kmj1-" + "0" * 16 + "-" + "1" * 64


def audit_lines(cluster: LocalCluster, node_id: str) -> list[dict[str, object]]:
    path = cluster.data_dir(node_id) / "audit" / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def exchange(client: Client, token: str) -> operator_pb2.ExchangeRootKeyResponse:
    response: operator_pb2.ExchangeRootKeyResponse = client._call(
        "operator",
        "ExchangeRootKey",
        operator_pb2.ExchangeRootKeyRequest(token=token, joiner_public_key=JoinKeyPair().public),
    )
    return response


def denied_exchanges(cluster: LocalCluster) -> list[dict[str, object]]:
    return [
        line
        for node in ("node1", "node2")
        for line in audit_lines(cluster, node)
        if line["operation"] == "ExchangeRootKey" and line["result"] == "PERMISSION_DENIED"
    ]


def test_rebuilt_node_joins_securely(make_cluster: MakeCluster, tmp_path: Path) -> None:
    cluster, hsms = hsm_cluster(make_cluster, tmp_path, ("file", "file", "pkcs11"))
    cluster.bring_up()
    with cluster.client() as client:
        key = client.create_key("before-join")
        samples = [
            (client.encrypt(key.name, f"old-{i}".encode(), consistent=True), f"old-{i}".encode())
            for i in range(5)
        ]

    # node3 is rebuilt: empty data dir and a brand-new HSM token
    cluster.stop("node3", kill=True)
    shutil.rmtree(cluster.data_dir("node3"))
    hsm = hsms["node3"]
    shutil.rmtree(hsm.token_root)
    hsm.create().init_token(token_label("node3"), PIN)
    cluster.start("node3")
    api3 = cluster.node("node3").api
    with cluster.client(["node3"], attempts=1) as client:
        eventually(lambda: client.seal_status(endpoint=api3).initialized, timeout=30)
        status = client.seal_status(endpoint=api3)
        assert status.sealed and "no root key sealed for this node yet" in status.reason

        # a token nobody approved is refused (by the peers), and audited there
        with pytest.raises(PermissionDenied, match="no approved join token"):
            client.join(FAKE_TOKEN, endpoint=api3)
        assert client.seal_status(endpoint=api3).sealed

    # a certificate from the cluster CA for a node that is not a member is refused
    with cluster.client(["node1"]) as admin:
        token = admin.create_join_token("node3", ttl_seconds=600)
    assert token.operation_state == "executed"  # one approval required: the requester's
    files = pki.issue_node_cert(pki.load_ca(cluster.certs), "node9", out_dir=tmp_path / "intruder")
    intruder = Credentials(ca=cluster.credentials.ca, cert=files.cert, key=files.key)
    with (
        Client([cluster.node("node1").api], credentials=intruder, attempts=1) as stranger,
        pytest.raises(PermissionDenied, match="not another member"),
    ):
        exchange(stranger, token.token)
    denied = denied_exchanges(cluster)
    principals = {str(line["principal"]) for line in denied}
    assert any(p.endswith("/node/node9") for p in principals), principals
    assert any(p.endswith("/node/node3") for p in principals), principals
    assert all(token.token not in json.dumps(line) for line in denied)

    # the approved token works once
    with cluster.client(["node3"], attempts=1) as client:
        joined = client.join(token.token, endpoint=api3)
        assert joined.peer_id in {"node1", "node2"} and not joined.status.sealed
        eventually(lambda: node_status(client, api3).serving)
        for blob, plain in samples:
            assert client.decrypt(blob, endpoint=api3) == plain
    node3 = Credentials(
        ca=cluster.credentials.ca,
        cert=cluster.certs / "node3.pem",
        key=cluster.certs / "node3-key.pem",
    )
    with (
        Client([cluster.node("node1").api], credentials=node3, attempts=1) as as_node3,
        pytest.raises(PermissionDenied, match="already used"),
    ):
        exchange(as_node3, token.token)

    # node3 sealed the joined root key with its new HSM: it unseals itself after kill -9
    cluster.stop("node3", kill=True)
    cluster.start("node3")
    assert not cluster.wait_answering("node3").sealed
    cluster.wait_serving(["node3"])
    with cluster.client(["node3"]) as client:
        assert client.decrypt(samples[0][0], endpoint=api3) == samples[0][1]
    assert "joined: root key received from" in cluster.log_path("node3").read_text()
