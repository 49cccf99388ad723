"""Seal migration on a live cluster: node3 goes shamir -> pkcs11 -> shamir, approved by
two of two admins, while a client keeps decrypting on the other nodes (and on node3):
zero failed requests."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from keymgr import pki
from keymgr.client import Client, Credentials, FailedPrecondition, NotFound
from keymgr.ops.devcluster import LocalCluster
from keymgr.ops.softhsm import SOFTHSM_MODULE, SoftHsm
from keymgr.v1 import store_pb2
from tests.integration.conftest import MakeCluster
from tests.integration.helpers import eventually, leader_id, node_status
from tests.integration.hsm import KEY_LABEL, PIN, pin_file, token_label


class Decryptor:
    """Decrypts in a loop on fixed nodes, counting successes and failures per node."""

    def __init__(self, cluster: LocalCluster, nodes: list[str], blob: bytes, plain: bytes) -> None:
        self.ok = dict.fromkeys(nodes, 0)
        self.failed: dict[str, list[str]] = {n: [] for n in nodes}
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(cluster, n, blob, plain)) for n in nodes
        ]

    def _run(self, cluster: LocalCluster, node_id: str, blob: bytes, plain: bytes) -> None:
        api = cluster.node(node_id).api
        with cluster.client([node_id], attempts=1, timeout=5.0) as client:
            while not self._stop.is_set():
                try:
                    assert client.decrypt(blob, endpoint=api) == plain
                    self.ok[node_id] += 1
                except Exception as exc:
                    self.failed[node_id].append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.01)

    def __enter__(self) -> Decryptor:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)


def restart_node3(cluster: LocalCluster) -> None:
    """kill -9 and start node3, after moving leadership away from it (so that the
    restart, which is a proof step and not part of the migration, costs no election)."""
    if leader_id(cluster) == "node3":
        with cluster.client(["node3"]) as client:
            client.step_down(target_node_id="node1", endpoint=cluster.node("node3").api)
        eventually(lambda: leader_id(cluster) != "node3")
    cluster.stop("node3", kill=True)
    cluster.start("node3")


def approve_as(cluster: LocalCluster, creds: Credentials, operation_id: str) -> None:
    with Client([n.api for n in cluster.spec.nodes], credentials=creds) as other:
        assert other.approve(operation_id).state == store_pb2.OPERATION_STATE_EXECUTED


def test_seal_migration_shamir_pkcs11_shamir(make_cluster: MakeCluster, tmp_path: Path) -> None:
    cluster = make_cluster(seals=("file", "file", "shamir"))
    shares = cluster.bring_up()
    files = pki.issue_client_cert(
        pki.load_ca(cluster.certs), "admin2", kind="admin", out_dir=tmp_path / "admin2"
    )
    admin2 = Credentials(ca=cluster.credentials.ca, cert=files.cert, key=files.key)
    with cluster.client() as admin:
        admin.set_roles("spiffe://keymgr/admin/admin2", ["admin"])
        admin.set_approval_rule("migrate-seal", 2)
        key = admin.create_key("migrating")
        blob = admin.encrypt(key.name, b"still readable", consistent=True)
    api3 = cluster.node("node3").api

    hsm = SoftHsm(tmp_path / "hsm-node3").create()
    hsm.init_token(token_label("node3"), PIN)
    node3 = cluster.node("node3")
    with Decryptor(cluster, ["node1", "node2", "node3"], blob, b"still readable") as load:
        # --- shamir -> pkcs11 ---
        with cluster.client() as admin:
            request = admin.request_seal_migration("node3", "pkcs11")
            assert request.operation_state == "pending"  # needs the second admin
            with pytest.raises(NotFound, match="no approved seal migration"):
                admin.migrate_seal(request.migration_id, endpoint=api3)
            approve_as(cluster, admin2, request.migration_id)
            with pytest.raises(FailedPrecondition, match="edit the config first"):
                admin.migrate_seal(request.migration_id, endpoint=api3)
            node3.seal = "pkcs11"
            node3.seal_options = {
                "module": str(SOFTHSM_MODULE),
                "token_label": token_label("node3"),
                "key_label": KEY_LABEL,
                "pin_file": str(pin_file(tmp_path, "node3")),
                "module_env": hsm.env,
                "health_interval_s": 0.5,
                "retry_max_s": 1.0,
            }
            cluster.prepare()  # rewrites node3.yaml (the others' configs are unchanged)
            status = admin.migrate_seal(request.migration_id, endpoint=api3)
            assert status.seal_type == "pkcs11" and not status.sealed
            with pytest.raises(FailedPrecondition, match="already done"):
                admin.migrate_seal(request.migration_id, endpoint=api3)
            time.sleep(1.0)
        # node3 now unseals itself from its HSM
        restart_node3(cluster)
        assert not cluster.wait_answering("node3").sealed
        cluster.wait_serving(["node3"])

        # --- pkcs11 -> shamir ---
        with cluster.client() as admin:
            back = admin.request_seal_migration("node3", "shamir")
            approve_as(cluster, admin2, back.migration_id)
            node3.seal, node3.seal_options = "shamir", {}
            cluster.prepare()
            status = admin.migrate_seal(back.migration_id, endpoint=api3)
            assert status.seal_type == "shamir" and not status.sealed
        assert not (cluster.data_dir("node3") / "sealed-root-key.json").exists()
        time.sleep(1.0)
        restart_node3(cluster)
        status3 = cluster.wait_answering("node3")
        assert status3.sealed and status3.seal_type == "shamir"
        cluster.unseal("node3", shares[:2])
        with cluster.client(["node3"]) as client:
            eventually(lambda: node_status(client, api3).serving)
        time.sleep(1.0)

    assert load.failed["node1"] == [] and load.failed["node2"] == [], load.failed
    assert load.ok["node1"] > 50 and load.ok["node2"] > 50
    # node3 itself served throughout both migrations; it failed only while restarted
    assert load.ok["node3"] > 50
    log = cluster.log_path("node3").read_text()
    assert "seal migrated from shamir to pkcs11" in log
    assert "seal migrated from pkcs11 to shamir" in log
