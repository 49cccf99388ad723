"""Runtime membership: add a 4th and 5th node while a client writes, remove one, and
replace a failed node (the procedure in docs/runbook.md)."""

from __future__ import annotations

import threading

from keymgr.client import Client, KeymgrError
from keymgr.ops.devcluster import LocalCluster, NodeSpec
from keymgr.ops.ports import free_port
from tests.integration.conftest import MakeCluster
from tests.integration.helpers import eventually, leader_id


def _leader_api(cluster: LocalCluster) -> str:
    return cluster.node(leader_id(cluster, _live(cluster))).api


def _live(cluster: LocalCluster) -> list[str]:
    return [n.id for n in cluster.spec.nodes if cluster.alive(n.id)]


def _join(
    cluster: LocalCluster, client: Client, node_id: str, zone: str, shares: list[str]
) -> None:
    """Runbook steps 2-4: config + cert, add-peer on the leader, start, unseal."""
    spec = NodeSpec(
        id=node_id,
        zone=zone,
        seal="file",
        api=f"127.0.0.1:{free_port()}",
        raft=f"127.0.0.1:{free_port()}",
    )
    cluster.spec.nodes.append(spec)
    cluster.prepare()
    client.add_peer(node_id, api=spec.api, raft=spec.raft, zone=zone, endpoint=_leader_api(cluster))
    cluster.start(node_id)
    cluster.wait_answering(node_id)
    cluster.unseal(node_id, shares)
    cluster.wait_serving([node_id])


def _remove(cluster: LocalCluster, client: Client, node_id: str) -> None:
    client.remove_peer(node_id, endpoint=_leader_api(cluster))
    cluster.stop(node_id)
    cluster.spec.nodes = [n for n in cluster.spec.nodes if n.id != node_id]


def test_add_remove_replace_under_writes(make_cluster: MakeCluster) -> None:
    cluster = make_cluster()
    shares = cluster.bring_up()
    stop = threading.Event()
    acked: list[str] = []
    errors: list[str] = []

    def writer() -> None:
        with cluster.client(["node1", "node2"], timeout=1.0, attempts=10) as c:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    acked.append(c.create_key(f"member-load-{n}").id)
                except KeymgrError as exc:
                    errors.append(str(exc))
                stop.wait(0.02)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        with cluster.client(["node1", "node2"], timeout=15.0) as client:
            _join(cluster, client, "node4", "zone-d", shares)
            _join(cluster, client, "node5", "zone-b", shares)
            peers = client.list_peers()
            assert sorted(p.id for p in peers.peers) == [f"node{i}" for i in range(1, 6)]
            assert any("share zone zone-b" in w for w in peers.warnings)
            status = client.cluster_status()
            assert len(status.nodes) == 5 and any("zone-b" in w for w in status.warnings)

            _remove(cluster, client, "node5")
            # replace a failed node: node3 dies, is removed, node6 takes its zone
            cluster.stop("node3", kill=True)
            _remove(cluster, client, "node3")
            _join(cluster, client, "node6", "zone-c", shares)
            peers = client.list_peers()
            assert sorted(p.id for p in peers.peers) == ["node1", "node2", "node4", "node6"]
            assert not any("share zone" in w for w in peers.warnings)
            assert all(p.connected for p in peers.peers)
    finally:
        stop.set()
        thread.join(10)
    assert acked
    with cluster.client(["node6"]) as client:
        eventually(lambda: all(client.get_key(k).id == k for k in acked[-5:]), timeout=15)
        names: set[str] = set()
        token = ""
        while True:
            keys, token = client.list_keys(page_size=1000, page_token=token)
            names |= {k.id for k in keys}
            if not token:
                break
    assert set(acked) <= names, "acknowledged writes lost during membership changes"

    # the new membership survives a restart of a node that joined at runtime
    cluster.stop("node4")
    cluster.start("node4")
    cluster.wait_serving(["node4"])
    with cluster.client(["node4"]) as client:
        assert sorted(p.id for p in client.list_peers().peers) == [
            "node1",
            "node2",
            "node4",
            "node6",
        ]
