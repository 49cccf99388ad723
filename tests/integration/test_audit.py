"""Audit on a real cluster: one chained line per request (allowed or denied), nothing
secret in it, tampering detected, a bounded line whatever a refused request carried,
and a node whose audit sink cannot write refuses every request (fail closed) while the
others serve."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from keymgr.audit.bounds import CONTEXT_CUT_KEY, REFUSED_LINE_BYTES
from keymgr.client import OutcomeUnknown, PermissionDenied, Unavailable
from keymgr.ops.devcluster import LocalCluster
from keymgr.server.validation import MAX_CONTEXT_ENTRIES, MAX_CONTEXT_TEXT
from keymgr.v1 import keys_pb2
from tests.integration import raw_grpc
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
        with pytest.raises(OutcomeUnknown, match="audit log unavailable"):  # keymgr-error
            client.decrypt(blob, endpoint=node3)
        with pytest.raises(Unavailable, match="audit log unavailable"):
            client.generate_data_key(key.name, endpoint=node3)
        assert client.decrypt(blob) == b"x"  # the other nodes serve
        status = client.cluster_status(endpoint=cluster.node("node1").api)
        third = next(n for n in status.nodes if n.node_id == "node3")
        assert "audit" in third.error


def new_lines(path: Path, offset: int) -> list[bytes]:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read().splitlines()


def test_refused_requests_write_bounded_lines(cluster: LocalCluster) -> None:
    """Finding 3 as the reviewer reproduced it, from a caller with no policy: a refused
    request with a 1,000,000-character request id wrote ~1 MB of audit, a ReEncrypt
    with two 10,000-entry contexts 1.7 MB. Each is now one line of at most 1 KiB, with
    the digest and length of what was cut, and the chain verifies."""
    node = cluster.spec.nodes[0].id
    path = audit_file(cluster, node)
    rid = "r" * 1_000_000
    huge = {f"k{i:05d}": f"value-{i}" for i in range(10_000)}
    cases = {
        "CreateKey": keys_pb2.CreateKeyRequest(name="bounded", request_id=rid),
        "ReEncrypt": keys_pb2.ReEncryptRequest(
            ciphertext_blob=b"\x01" * 64,
            source_encryption_context=huge,
            destination_key_name="bounded",
            destination_encryption_context=huge,
        ),
    }
    written = {}
    with raw_grpc.channel(cluster, node, "no-policy-bounds", "agent") as ch:
        for name, request in cases.items():
            offset = path.stat().st_size
            body = request.SerializeToString()
            code, _ = raw_grpc.call(ch, f"/keymgr.v1.KeyManagement/{name}", body)
            assert code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.INVALID_ARGUMENT)
            (line,) = new_lines(path, offset)
            assert len(line) <= REFUSED_LINE_BYTES, f"{name}: {len(line)} bytes of audit"
            written[name] = json.loads(line)
    create, reencrypt = written["CreateKey"], written["ReEncrypt"]
    assert create["principal"] == "spiffe://keymgr/agent/no-policy-bounds"
    assert "[cut 1000000 bytes sha256:" in create["request_id"]
    assert hashlib.sha256(rid.encode()).hexdigest()[:16] in create["request_id"]
    assert reencrypt["context"][CONTEXT_CUT_KEY].startswith("20000 entries, ")
    intact = verify(path)
    assert intact.returncode == 0, intact.stdout + intact.stderr


def _maximal_refused_requests(key_name: str) -> list[tuple[str, bytes]]:
    """Bodies that make the largest lines a caller with no policy can get written."""
    wide = "\U0001f511" * (MAX_CONTEXT_TEXT - 3)  # 4 bytes each in the line
    big_context = {f"{i:02d}-{wide}": "v" * MAX_CONTEXT_TEXT for i in range(MAX_CONTEXT_ENTRIES)}
    huge = {f"k{i:05d}" + "\x01" * 8: f"value-{i}" for i in range(10_000)}
    return [
        (  # a request id of 1 MB, escape-heavy, on a write
            "/keymgr.v1.KeyManagement/CreateKey",
            keys_pb2.CreateKeyRequest(name="n" * 128, request_id="\x01" * 1_000_000),
        ),
        (  # two 10,000-entry contexts
            "/keymgr.v1.KeyManagement/ReEncrypt",
            keys_pb2.ReEncryptRequest(
                ciphertext_blob=b"\x01" * 64,
                source_encryption_context=huge,
                destination_key_name=key_name,
                destination_encryption_context=huge,
            ),
        ),
        (  # the largest valid context, on an existing key: denied by policy
            "/keymgr.v1.KeyManagement/Encrypt",
            keys_pb2.EncryptRequest(
                key_name=key_name, plaintext=b"p" * 65536, encryption_context=big_context
            ),
        ),
        (  # the same as a data key request
            "/keymgr.v1.KeyManagement/GenerateDataKey",
            keys_pb2.GenerateDataKeyRequest(key_name=key_name, encryption_context=big_context),
        ),
    ]


def test_thousand_maximal_refused_requests_stay_within_a_kib_each(cluster: LocalCluster) -> None:
    """1,000 maximal requests from a caller with no policy: at most 1 KiB of audit each
    (before: ~1 MB for the first kind alone). The figure is printed for the record."""
    node = cluster.spec.nodes[0].id
    path = audit_file(cluster, node)
    with cluster.client([node]) as admin:
        key = admin.create_key("bound-target")
    bodies = [(p, r.SerializeToString()) for p, r in _maximal_refused_requests(key.name)]
    count = 1000
    offset = path.stat().st_size
    started = time.monotonic()
    codes: dict[str, int] = {}
    with raw_grpc.channel(cluster, node, "no-policy-bounds", "agent") as ch:
        for path_name, body in bodies:  # one of each first: fails fast on unbounded lines
            before = path.stat().st_size
            code, _ = raw_grpc.call(ch, path_name, body)
            codes[code.name] = codes.get(code.name, 0) + 1
            grown = path.stat().st_size - before
            assert grown <= REFUSED_LINE_BYTES, f"{path_name}: {grown} bytes of audit"
        pending: list[grpc.Future] = []
        for n in range(len(bodies), count):
            path_name, body = bodies[n % len(bodies)]
            pending.append(raw_grpc.method(ch, path_name).future(body, timeout=30))
            if len(pending) >= 16:
                codes_of(pending, codes)
        codes_of(pending, codes)
    elapsed = time.monotonic() - started
    lines = new_lines(path, offset)
    total = sum(len(line) + 1 for line in lines)
    print(
        f"\n{count} maximal refused requests: {total} bytes of audit, "
        f"{total / count:.0f} bytes/request, longest line {max(map(len, lines))} bytes, "
        f"codes {codes}, {elapsed:.1f} s"
    )
    assert len(lines) == count and "OK" not in codes
    assert max(map(len, lines)) <= REFUSED_LINE_BYTES
    assert total <= count * REFUSED_LINE_BYTES
    intact = verify(path)
    assert intact.returncode == 0, intact.stdout + intact.stderr


def codes_of(pending: list[grpc.Future], codes: dict[str, int]) -> None:
    for future in pending:
        try:
            future.result()
            name = "OK"
        except grpc.RpcError as exc:
            name = exc.code().name
        codes[name] = codes.get(name, 0) + 1
    pending.clear()
