"""Rotating the root key and re-keying the shares on a real 3-node cluster, under a
2-of-3 admin quorum: nothing changes before the quorum, every node follows after it
(file-sealed nodes across a restart too), old ciphertexts still decrypt everywhere,
old shares stop working and the new ones unseal."""

from __future__ import annotations

import pytest

from keymgr.client import FailedPrecondition, InvalidArgument
from keymgr.v1 import store_pb2
from tests.integration.conftest import MakeCluster
from tests.integration.helpers import client_for, eventually, principal

EXECUTED = store_pb2.OPERATION_STATE_EXECUTED
PENDING = store_pb2.OPERATION_STATE_PENDING


def test_root_rotation_under_two_of_three(make_cluster: MakeCluster) -> None:
    cluster = make_cluster(("file", "shamir", "file"))
    old_shares = cluster.bring_up(shares=3, threshold=2)
    ids = [n.id for n in cluster.spec.nodes]
    shamir_node = ids[1]
    with cluster.client() as alice:
        key = alice.create_key("rotation-proof")
        blob = alice.encrypt(key.name, b"written before the rotation", context={"v": "1"})
        for name in ("bob", "carol"):
            assert alice.set_roles(principal("admin", name), ["admin"]).state == EXECUTED
        assert alice.set_approval_rule("rotate-root", 2).state == EXECUTED

        response = alice.rotate_root(shares=4, threshold=3)
        assert response.operation_state == "pending" and response.approvals_required == 2
        new_shares = list(response.unseal_shares)
        assert len(new_shares) == 4 and response.secret_threshold == 3
        assert not set(new_shares) & set(old_shares)
        first = cluster.node(ids[0]).api
        assert alice.seal_status(endpoint=first).root_generation == 0  # nothing changed yet
        again = alice.approve(response.operation_id)  # the requester again: still one
        assert again.state == PENDING and len(again.approvals) == 1

        bob = client_for(cluster, "bob", "admin")
        with bob:
            done = bob.approve(response.operation_id)
            assert done.state == EXECUTED and done.kind == "rotate-root"
            with pytest.raises(FailedPrecondition, match="executed"):
                bob.approve(response.operation_id)  # runs exactly once

    for node_id in ids:  # every node follows and still decrypts what came before
        with cluster.client([node_id]) as client:
            status = client.seal_status(endpoint=cluster.node(node_id).api)
            assert status.root_generation == 1 and status.threshold == 3
            assert status.shares == 4 and not status.sealed
            plain = eventually(lambda c=client: c.decrypt(blob, context={"v": "1"}), timeout=15)
            assert plain == b"written before the rotation"

    # the Shamir node, sealed: the old shares are refused, the new ones unseal it
    endpoint = cluster.node(shamir_node).api
    with cluster.client([shamir_node]) as client:
        client.seal(endpoint=endpoint)
        with pytest.raises(InvalidArgument, match="share"):
            client.unseal(old_shares[0], endpoint=endpoint)
    cluster.unseal(shamir_node, new_shares[:3])
    with cluster.client([shamir_node]) as client:
        assert client.decrypt(blob, context={"v": "1"}) == b"written before the rotation"

    # a file-sealed node restarts on the root key it stored under its own seal
    cluster.stop(ids[2])
    cluster.start(ids[2])
    cluster.wait_serving([ids[2]])
    with cluster.client([ids[2]]) as client:
        assert not client.seal_status(endpoint=cluster.node(ids[2]).api).sealed
        assert client.decrypt(blob, context={"v": "1"}) == b"written before the rotation"
        fresh = client.encrypt(key.name, b"after", context={"v": "2"})
    with cluster.client([ids[0]]) as client:
        assert client.decrypt(fresh, context={"v": "2"}) == b"after"

    # the new shares were shown only to the requester: no node wrote them anywhere
    for node_id in ids:
        for path in cluster.data_dir(node_id).rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert not any(share.encode() in data for share in new_shares), path


def test_rotate_root_refuses_bad_input_and_non_admins(make_cluster: MakeCluster) -> None:
    cluster = make_cluster(("file",))
    cluster.bring_up(shares=1, threshold=1)
    with cluster.client() as admin:
        with pytest.raises(InvalidArgument, match="secret_threshold"):
            admin.rotate_root(shares=2, threshold=3)
        with pytest.raises(InvalidArgument, match="secret_shares"):
            admin.rotate_root(shares=17, threshold=1)
        with pytest.raises(InvalidArgument, match="ttl_seconds"):
            admin.rotate_root(ttl_seconds=10**9)
        assert admin.seal_status(endpoint=cluster.node("node1").api).root_generation == 0
    agent = client_for(cluster, "vm-1", "agent")
    with agent, pytest.raises(Exception, match="admin"):
        agent.rotate_root()
