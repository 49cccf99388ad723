"""Audit on a real cluster: one chained line per request (allowed or denied), nothing
secret in it, tampering detected, and a node whose audit sink cannot write refuses
every request (fail closed) while the others serve."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from keymgr.client import PermissionDenied, Unavailable
from keymgr.ops.devcluster import LocalCluster
from tests.integration.conftest import MakeCluster
from tests.integration.helpers import client_for


def audit_file(cluster: LocalCluster, node_id: str) -> Path:
    return cluster.data_dir(node_id) / "audit" / "audit.log"


def verify(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keymgr", "audit", "verify", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_requests_are_audited_without_secrets(cluster: LocalCluster, tmp_path: Path) -> None:
    secret_context = "tenant-SECRET-7f3a9c"
    with cluster.client([cluster.spec.nodes[0].id]) as admin:
        key = admin.create_key("audited-key")
        data_key = admin.generate_data_key(key.name, context={"tenant": secret_context})
        admin.decrypt(data_key.ciphertext_blob, context={"tenant": secret_context})
    with client_for(cluster, "stranger", "service") as stranger, pytest.raises(PermissionDenied):
        stranger.generate_data_key(key.name)  # denied by whichever node answers

    path = audit_file(cluster, "node1")
    records = [r for node in cluster.spec.nodes for r in lines(audit_file(cluster, node.id))]
    made = [
        r
        for r in records
        if r["operation"] == "GenerateDataKey" and r["result"] == "OK" and r.get("key_id") == key.id
    ]
    assert made and made[-1]["key_version"] == 1
    assert made[-1]["principal"] == "spiffe://keymgr/admin/admin"
    assert "tenant" in made[-1]["context"] and made[-1]["context"]["tenant"] != secret_context
    denied = [r for r in records if r["result"] == "PERMISSION_DENIED"]
    assert any(r["principal"] == "spiffe://keymgr/service/stranger" for r in denied)
    seqs = [r["seq"] for r in lines(path)]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))

    for node in cluster.spec.nodes:
        content = audit_file(cluster, node.id).read_bytes()
        for secret in (
            secret_context.encode(),
            data_key.plaintext,
            data_key.plaintext.hex().encode(),
            base64.b64encode(data_key.plaintext),
        ):
            assert secret not in content

    intact = verify(path)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "chain intact" in intact.stdout

    tampered = tmp_path / "audit.log"
    text = path.read_text().splitlines()
    text[2] = text[2].replace('"OK"', '"PERMISSION_DENIED"', 1)
    tampered.write_text("\n".join(text) + "\n")
    broken = verify(tampered)
    assert broken.returncode == 2
    assert ":3:" in broken.stdout + broken.stderr  # names the edited line


def test_unwritable_audit_sink_fails_closed(make_cluster: MakeCluster) -> None:
    cluster = make_cluster()
    cluster.spec.audit_files = {"node3": "/dev/full"}  # every write fails with ENOSPC
    cluster.prepare()
    cluster.start_all()
    for node_id in ("node1", "node2"):  # node3 refuses even SealStatus: it cannot audit
        cluster.wait_answering(node_id)
    shares = cluster.init()
    cluster.unseal("node2", shares[:2])
    cluster.wait_serving(["node1", "node2"])
    node3 = cluster.node("node3").api
    with cluster.client() as client:
        key = client.create_key("fail-closed")
        blob = client.encrypt(key.name, b"x", consistent=True)
        with pytest.raises(Unavailable, match="audit log unavailable"):
            client.decrypt(blob, endpoint=node3)
        with pytest.raises(Unavailable, match="audit log unavailable"):
            client.generate_data_key(key.name, endpoint=node3)
        assert client.decrypt(blob) == b"x"  # the other nodes serve
        status = client.cluster_status(endpoint=cluster.node("node1").api)
        third = next(n for n in status.nodes if n.node_id == "node3")
        assert "audit" in third.error
