"""PKCS#11 (SoftHSM2) seals on real node processes: heterogeneous seals, HSM faults that
heal without a restart, and proofs that the HSM key and the root key stay hidden."""

from __future__ import annotations

from pathlib import Path

from keymgr.client import Client
from keymgr.ops.devcluster import LocalCluster
from keymgr.v1 import operator_pb2
from tests.integration.conftest import MakeCluster
from tests.integration.helpers import eventually, node_status
from tests.integration.hsm import hsm_cluster


def seal_states(cluster: LocalCluster) -> dict[str, tuple[str, bool]]:
    with cluster.client(timeout=3.0) as client:
        status = client.cluster_status()
    return {n.node_id: (n.seal_type, n.sealed) for n in status.nodes}


def test_heterogeneous_seals_survive_kill_9(make_cluster: MakeCluster, tmp_path: Path) -> None:
    cluster, hsms = hsm_cluster(make_cluster, tmp_path)
    shares = cluster.bring_up(shares=3, threshold=2)
    assert seal_states(cluster) == {
        "node1": ("pkcs11", False), "node2": ("pkcs11", False), "node3": ("shamir", False),
    }
    blobs: dict[str, tuple[bytes, bytes]] = {}
    with cluster.client() as client:
        for i in range(5):
            key = client.create_key(f"hetero-{i}")
            data_key = client.generate_data_key(key.name, consistent=True)
            blobs[key.name] = (data_key.ciphertext_blob, data_key.plaintext)
    for node_id in ("node1", "node2"):
        assert (cluster.data_dir(node_id) / "sealed-root-key.json").exists()
        assert '"pkcs11"' in (cluster.data_dir(node_id) / "sealed-root-key.json").read_text()
    assert not (cluster.data_dir("node3") / "sealed-root-key.json").exists()

    cluster.kill_all()  # SIGKILL every node
    cluster.start_all()
    assert not cluster.wait_answering("node1").sealed
    assert not cluster.wait_answering("node2").sealed
    status3 = cluster.wait_answering("node3")
    assert status3.sealed and status3.seal_type == "shamir" and status3.progress == 0
    cluster.wait_serving(["node1", "node2"])
    states = seal_states(cluster)
    assert states["node1"] == ("pkcs11", False) and states["node2"] == ("pkcs11", False)
    assert states["node3"] == ("shamir", True)
    with cluster.client(["node1", "node2"]) as client:
        for name, (blob, plain) in blobs.items():
            for node_id in ("node1", "node2"):
                assert client.decrypt(blob, endpoint=cluster.node(node_id).api) == plain, name

    cluster.unseal("node3", shares[:2])
    cluster.wait_serving()
    api3 = cluster.node("node3").api
    with cluster.client(["node3"]) as client:
        for blob, plain in blobs.values():
            assert client.decrypt(blob, endpoint=api3) == plain
        keys, _ = client.list_keys(page_size=100)
        assert {f"hetero-{i}" for i in range(5)} <= {k.name for k in keys}
    assert set(hsms) == {"node1", "node2"}


def wait_sealed_with(client: Client, api: str, text: str) -> operator_pb2.SealStatusResponse:
    def check() -> operator_pb2.SealStatusResponse | None:
        status = client.seal_status(endpoint=api)
        return status if status.sealed and text in status.reason else None

    return eventually(check, timeout=20.0)


def wait_unsealed(client: Client, api: str) -> None:
    eventually(lambda: node_status(client, api).serving, timeout=20.0)
