"""The Kubernetes KMS v2 plugin, driven by a client built from the upstream proto over
its unix socket: encrypt/decrypt, key_id changes on rotation, old ciphertexts still
decrypt, and healthz is "ok" only while a quorum-connected, unsealed node answers."""

from __future__ import annotations

import secrets
import stat
import sys
from pathlib import Path

import grpc
import pytest

from keymgr.k8s_kms_v2 import api_pb2, api_pb2_grpc
from keymgr.ops.devcluster import LocalCluster
from keymgr.v1 import keys_pb2, store_pb2
from tests.integration.clients_support import Processes, connection_args, wait_for
from tests.integration.conftest import MakeCluster
from tests.integration.test_cli import cluster_env, keymgr, one_line_error

PLUGIN = "spiffe://keymgr/service/kms-plugin"


def test_kms_v2_plugin(make_cluster: MakeCluster, tmp_path: Path, processes: Processes) -> None:
    cluster = make_cluster()
    cluster.bring_up()
    with cluster.client() as admin:
        admin.create_key("k8s-secrets", purpose=keys_pb2.KEY_PURPOSE_ENCRYPT)
        operation = admin.put_policy(
            store_pb2.Policy(
                name="kms-plugin",
                principals=[PLUGIN],
                operations=["encrypt", "decrypt"],
                key_patterns=["k8s-secrets"],
            )
        )
        assert operation.state == store_pb2.OPERATION_STATE_EXECUTED
        for node in cluster.spec.nodes:  # read barrier: the policy is applied everywhere
            admin.generate_data_key("k8s-secrets", consistent=True, endpoint=node.api)
    sock = tmp_path / "run" / "kms" / "kms.sock"  # directories not made yet, as on a new host
    processes.start(
        [
            sys.executable,
            "-m",
            "keymgr",
            "kms-plugin",
            "--socket",
            str(sock),
            "--key",
            "k8s-secrets",
            "--timeout",
            "2",
            *connection_args(cluster, "kms-plugin", kind="service", key_flag="--client-key"),
        ],
        tmp_path / "kms-plugin.log",
    )
    wait_for(sock.exists, timeout=20, what="plugin socket")
    assert stat.S_IMODE(sock.stat().st_mode) & 0o077 == 0  # owner only
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700  # made owner-only
    probed = keymgr("kms-probe", "--socket", str(sock))  # no Kubernetes needed
    assert probed.returncode == 0, probed.stderr
    assert "healthz ok" in probed.stdout.decode() and "Decrypt  returned the DEK" in (
        probed.stdout.decode()
    )
    with grpc.insecure_channel(f"unix://{sock}") as channel:
        kms = api_pb2_grpc.KeyManagementServiceStub(channel)
        status = kms.Status(api_pb2.StatusRequest(), timeout=15)
        assert (status.version, status.healthz) == ("v2", "ok")
        first_key_id = status.key_id

        dek = secrets.token_bytes(32)
        sealed = kms.Encrypt(api_pb2.EncryptRequest(plaintext=dek, uid="u1"), timeout=15)
        assert sealed.key_id == first_key_id and dek not in sealed.ciphertext
        opened = kms.Decrypt(
            api_pb2.DecryptRequest(ciphertext=sealed.ciphertext, uid="u2", key_id=sealed.key_id),
            timeout=15,
        )
        assert opened.plaintext == dek

        with pytest.raises(grpc.RpcError) as bad:
            kms.Decrypt(api_pb2.DecryptRequest(ciphertext=b"\x01garbage"), timeout=15)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        with cluster.client() as admin:
            admin.rotate_key("k8s-secrets")

        def rotated() -> bool:
            return kms.Status(api_pb2.StatusRequest(), timeout=15).key_id != first_key_id

        wait_for(rotated, timeout=20, what="key_id changes after rotation")
        new_key_id = kms.Status(api_pb2.StatusRequest(), timeout=15).key_id
        assert new_key_id.endswith("/v2")
        resealed = kms.Encrypt(api_pb2.EncryptRequest(plaintext=dek, uid="u3"), timeout=15)
        assert resealed.key_id == new_key_id
        old = kms.Decrypt(api_pb2.DecryptRequest(ciphertext=sealed.ciphertext), timeout=15)
        assert old.plaintext == dek  # ciphertexts from before the rotation still decrypt

        # no quorum: with two nodes down the last one stops serving; healthz says so
        cluster.stop("node1", kill=True)
        cluster.stop("node2", kill=True)

        def unhealthy() -> bool:
            return kms.Status(api_pb2.StatusRequest(), timeout=30).healthz != "ok"

        wait_for(unhealthy, timeout=30, what="healthz not ok without quorum", interval=0.5)
        status = kms.Status(api_pb2.StatusRequest(), timeout=30)
        assert "unavailable" in status.healthz and status.key_id == new_key_id


def test_kms_plugin_socket_errors_are_one_line(cluster: LocalCluster, tmp_path: Path) -> None:
    """A socket directory that cannot be made names it (not `internal error:
    RuntimeError: Failed to bind`); a probe of a missing socket says so."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    bad = keymgr(
        "kms-plugin",
        "--socket",
        str(blocker / "kms" / "kms.sock"),
        "--key",
        "k8s-secrets",
        env=cluster_env(cluster),
    )
    err = one_line_error(bad)
    assert "internal error" not in err and "--socket" in err and str(blocker) in err, err
    missing = one_line_error(keymgr("kms-probe", "--socket", str(tmp_path / "none.sock")))
    assert "no such socket" in missing and "none.sock" in missing
