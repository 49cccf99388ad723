"""Leader loss: a new leader is elected, writes resume, nothing acknowledged is lost,
and the old leader catches up when it comes back."""

from __future__ import annotations

from keymgr.client import Client
from keymgr.ops.devcluster import LocalCluster
from tests.integration.conftest import MakeCluster
from tests.integration.helpers import eventually, leader_id, node_status


def test_kill_leader_then_rejoin(make_cluster: MakeCluster) -> None:
    cluster: LocalCluster = make_cluster()
    cluster.bring_up()
    ids = [n.id for n in cluster.spec.nodes]
    with cluster.client() as client:
        before = [client.create_key(f"before-{i}") for i in range(5)]
        blobs = {k.name: client.generate_data_key(k.name) for k in before}
    old_leader = leader_id(cluster)
    cluster.stop(old_leader, kill=True)
    survivors = [i for i in ids if i != old_leader]

    new_leader = leader_id(cluster, survivors)
    assert new_leader != old_leader
    with cluster.client(survivors) as client:
        after = [client.create_key(f"after-{i}") for i in range(5)]
        for key in before:
            assert client.get_key(key.id).name == key.name
            data_key = blobs[key.name]
            assert client.decrypt(data_key.ciphertext_blob) == data_key.plaintext

    cluster.start(old_leader)
    cluster.wait_answering(old_leader)
    old = cluster.node(old_leader).api
    with cluster.client([old_leader], attempts=1) as client:
        # the file seal unseals it; it catches up on what it missed and serves it
        eventually(lambda: node_status(client, old).serving, timeout=20)
        for key in before + after:
            assert client.get_key(key.id).name == key.name
        for data_key in blobs.values():
            assert client.decrypt(data_key.ciphertext_blob, endpoint=old) == data_key.plaintext


def test_client_fails_over_when_a_node_dies(make_cluster: MakeCluster) -> None:
    cluster = make_cluster()
    cluster.bring_up()
    first = cluster.spec.nodes[0]
    with cluster.client() as client:
        key = client.create_key("failover")
        data_key = client.generate_data_key(key.name, consistent=True)
        cluster.stop(first.id, kill=True)
        # the client's preferred node is gone: the same client moves on by itself
        assert client.decrypt(data_key.ciphertext_blob) == data_key.plaintext
        assert client.rotate_key(key.name).current_version == 2


def test_step_down_moves_leadership(make_cluster: MakeCluster) -> None:
    cluster = make_cluster()
    cluster.bring_up()
    before = leader_id(cluster)
    with cluster.client([before]) as client:
        assert client.step_down(endpoint=cluster.node(before).api).previous_leader_id == before
    eventually(lambda: leader_id(cluster) != before, timeout=10)
    with cluster.client() as client:
        assert client.create_key("after-step-down").current_version == 1


def check_lag_reported(client: Client) -> None:
    status = client.cluster_status()
    assert len(status.nodes) == 3
