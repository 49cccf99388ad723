"""Seals: Shamir nodes need the threshold of shares after a restart, a wrong share is
rejected and does not count, the file seal unseals by itself, and a sealed node keeps
taking part in Raft while refusing every crypto call."""

from __future__ import annotations

import pytest

from keymgr.client import InvalidArgument, PermissionDenied, Unavailable
from keymgr.crypto.shamir import decode_share, encode_share
from tests.integration.conftest import MakeCluster
from tests.integration.helpers import eventually, node_status


def test_shamir_node_needs_threshold_after_restart(make_cluster: MakeCluster) -> None:
    cluster = make_cluster(seals=("file", "file", "shamir"))
    shares = cluster.bring_up(shares=3, threshold=2)
    with cluster.client() as client:
        key = client.create_key("kept")
        data_key = client.generate_data_key(key.name, consistent=True)

    cluster.stop("node3", kill=True)
    cluster.start("node3")
    status = cluster.wait_answering("node3")
    assert status.sealed and status.seal_type == "shamir" and status.threshold == 2
    api = cluster.node("node3").api
    with cluster.client(["node3"], attempts=1) as client:
        with pytest.raises(Unavailable, match="sealed"):
            client.decrypt(data_key.ciphertext_blob, endpoint=api)

        # a wrong share (right shape, wrong bytes) is rejected and does not count
        real = decode_share(shares[0])
        forged = encode_share(type(real)(x=real.x, y=bytes(b ^ 1 for b in real.y)))
        with pytest.raises(InvalidArgument, match="share"):
            client.unseal(forged, endpoint=api)
        with pytest.raises(InvalidArgument, match="share"):
            client.unseal("not-a-share", endpoint=api)
        assert client.seal_status(endpoint=api).progress == 0

        assert client.unseal(shares[0], endpoint=api).progress == 1
        assert client.unseal(shares[0], endpoint=api).progress == 1  # same share counts once
        status = client.unseal(shares[2], endpoint=api)
        assert not status.sealed
        eventually(lambda: node_status(client, api).serving)
        assert client.decrypt(data_key.ciphertext_blob, endpoint=api) == data_key.plaintext


def test_file_seal_unseals_itself(make_cluster: MakeCluster) -> None:
    cluster = make_cluster()
    cluster.bring_up()
    for node in cluster.spec.nodes:
        cluster.stop(node.id)
    cluster.start_all()
    for node in cluster.spec.nodes:
        assert not cluster.wait_answering(node.id).sealed
    cluster.wait_serving()


def test_sealed_node_refuses_crypto_but_follows_raft(make_cluster: MakeCluster) -> None:
    cluster = make_cluster()
    shares = cluster.bring_up()
    api = cluster.node("node2").api
    with cluster.client() as client:
        key = client.create_key("before-seal")
        blob = client.encrypt(key.name, b"x", consistent=True)
        assert client.seal(endpoint=api).sealed
        for call in (
            lambda: client.decrypt(blob, endpoint=api),
            lambda: client.generate_data_key(key.name, endpoint=api),
            lambda: client.encrypt(key.name, b"y", endpoint=api),
        ):
            with pytest.raises(Unavailable, match="sealed"):
                call()
        applied = node_status(client, api).applied_index
        with cluster.client(["node1", "node3"]) as others:
            others.create_key("while-sealed")
        # the sealed node still applies what the others commit
        eventually(lambda: node_status(client, api).applied_index > applied)
    cluster.unseal("node2", shares[:2])
    with cluster.client(["node2"]) as client:
        eventually(lambda: node_status(client, api).serving)
        assert client.get_key("while-sealed").name == "while-sealed"
        assert client.decrypt(blob, endpoint=api) == b"x"


def test_operator_calls_need_an_admin(make_cluster: MakeCluster) -> None:
    from keymgr import pki
    from keymgr.client import Client, Credentials

    cluster = make_cluster()
    cluster.bring_up()
    files = pki.issue_client_cert(pki.load_ca(cluster.certs), "app1", kind="service")
    creds = Credentials(ca=cluster.credentials.ca, cert=files.cert, key=files.key)
    with Client([cluster.node("node1").api], credentials=creds) as app:
        with pytest.raises(PermissionDenied, match="not an admin"):
            app.seal(endpoint=cluster.node("node1").api)
        with pytest.raises(PermissionDenied):
            app.rotate_keyring()
        with pytest.raises(PermissionDenied):
            app.cluster_status()


def test_keyring_rotation_keeps_old_material(make_cluster: MakeCluster) -> None:
    cluster = make_cluster()
    cluster.bring_up()
    with cluster.client() as client:
        old = client.create_key("pre-rotation")
        blob = client.encrypt(old.name, b"x", consistent=True)
        assert client.rotate_keyring() == 2
        new = client.create_key("post-rotation")
        for node in cluster.spec.nodes:
            assert client.decrypt(blob, consistent=True, endpoint=node.api) == b"x"
            assert client.generate_data_key(new.name, consistent=True, endpoint=node.api)
    # after a restart the rotated keyring is still readable
    for node in cluster.spec.nodes:
        cluster.stop(node.id)
    cluster.start_all()
    cluster.wait_serving()
    with cluster.client() as client:
        assert client.decrypt(blob) == b"x"


def test_a_node_without_state_says_unavailable_not_permission_denied(
    make_cluster: MakeCluster,
) -> None:
    """Before init (or while a restarted node loads its state) the node cannot know who
    the admins are: its status answer is "try again / ask another node", never a final
    PermissionDenied that would stop a caller's retries."""
    cluster = make_cluster()
    cluster.prepare()
    cluster.start_all()
    for node in cluster.spec.nodes:
        cluster.wait_answering(node.id)
    api = cluster.node("node1").api
    with (
        cluster.client(["node1"], attempts=1) as client,
        pytest.raises(Unavailable, match="no cluster state yet"),
    ):
        node_status(client, api)
    shares = cluster.init()
    for node in cluster.spec.nodes[1:]:
        cluster.unseal(node.id, shares[:2])
    cluster.wait_serving()
    with cluster.client(["node1"], attempts=1) as client:
        assert eventually(lambda: node_status(client, api)).serving
