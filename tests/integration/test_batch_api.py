"""Batch calls end to end on the shared 3-node cluster (real processes, TCP, mTLS):
per-item results and errors, per-item authorization, round trips with the single
calls, the item limit, the batch's one audit line, the CLI, and the SDK data-key cache."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from keymgr.client import (
    Client,
    DataKeyCache,
    DataKeyItem,
    DecryptItem,
    EncryptItem,
    FailedPrecondition,
    InvalidArgument,
    ItemResult,
    NotFound,
    PermissionDenied,
)
from keymgr.ops.devcluster import LocalCluster
from keymgr.v1 import store_pb2
from tests.integration.helpers import client_for, grant, principal


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def audit_lines(cluster: LocalCluster, node_id: str) -> list[dict[str, object]]:
    path = cluster.data_dir(node_id) / "audit" / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def error_types(results: list[ItemResult[object]]) -> list[type | None]:
    return [None if r.ok else type(r.error) for r in results]


@pytest.fixture
def admin(cluster: LocalCluster) -> Iterator[Client]:
    with cluster.client() as c:
        yield c


@pytest.fixture
def app(cluster: LocalCluster, admin: Client) -> Iterator[tuple[Client, str]]:
    """A service whose policy covers keys `<prefix>-*` only: (its client, the prefix)."""
    prefix = unique("batchapp")
    grant(
        admin,
        store_pb2.Policy(
            name=f"{prefix}-use",
            principals=[principal("service", prefix)],
            operations=["encrypt", "decrypt", "generate-data-key"],
            key_patterns=[f"{prefix}-*"],
        ),
    )
    with client_for(cluster, prefix, "service") as c:
        yield c, prefix


def test_good_and_bad_items_each_get_their_own_outcome(
    admin: Client, app: tuple[Client, str]
) -> None:
    client, prefix = app
    good = admin.create_key(f"{prefix}-good")
    off = admin.create_key(f"{prefix}-off")
    admin.disable_key(off.name)
    foreign = admin.create_key(unique("not-granted"))
    ctx = {"tenant": "t1"}
    results = client.batch_encrypt(
        [
            EncryptItem(key_name=good.name, plaintext=b"one", context=ctx),
            EncryptItem(key_name=f"{prefix}-missing", plaintext=b"x"),
            EncryptItem(key_name=off.name, plaintext=b"x"),
            EncryptItem(key_name=foreign.name, plaintext=b"x"),
            EncryptItem(key_name="k" * 300, plaintext=b"x"),
            EncryptItem(key_name=good.name, plaintext=b"x", context={"c": "v" * 2000}),
            EncryptItem(key_name=good.name, plaintext=b"x" * (64 * 1024 + 1)),
            EncryptItem(key_name=good.name, plaintext=b"two", context=ctx),
        ],
        consistent=True,
    )
    assert error_types(results) == [  # type: ignore[arg-type]
        None,
        NotFound,
        FailedPrecondition,
        PermissionDenied,
        InvalidArgument,
        InvalidArgument,
        InvalidArgument,
        None,
    ]
    assert "items[1].key_name" in str(results[1].error)
    assert "disabled" in str(results[2].error)
    assert "items[4].key_name" in str(results[4].error)
    assert "items[5].encryption_context" in str(results[5].error)
    assert "items[6].plaintext" in str(results[6].error)
    denied = results[3].error
    assert denied is not None and denied.code == grpc.StatusCode.PERMISSION_DENIED
    first, last = results[0].unwrap(), results[7].unwrap()
    assert first.key_id == good.id and first.key_version == 1
    with pytest.raises(NotFound):
        results[1].unwrap()

    flipped = first.ciphertext_blob[:-1] + bytes([first.ciphertext_blob[-1] ^ 1])
    decrypted = client.batch_decrypt(
        [
            DecryptItem(ciphertext_blob=first.ciphertext_blob, context=ctx),
            DecryptItem(ciphertext_blob=first.ciphertext_blob, context={"tenant": "t2"}),
            DecryptItem(ciphertext_blob=flipped),
            DecryptItem(ciphertext_blob=b"\x07garbage"),
            DecryptItem(ciphertext_blob=b""),
            DecryptItem(ciphertext_blob=admin.encrypt(foreign.name, b"theirs", consistent=True)),
            DecryptItem(ciphertext_blob=last.ciphertext_blob, context=ctx),
        ]
    )
    assert error_types(decrypted) == [  # type: ignore[arg-type]
        None,
        InvalidArgument,
        InvalidArgument,
        InvalidArgument,
        InvalidArgument,
        PermissionDenied,
        None,
    ]
    assert "items[1].ciphertext_blob: decryption failed" in str(decrypted[1].error)
    assert "items[3].ciphertext_blob" in str(decrypted[3].error)
    assert [decrypted[0].unwrap().plaintext, decrypted[6].unwrap().plaintext] == [b"one", b"two"]


def test_items_sharing_a_key_each_get_their_own_check_and_error(
    admin: Client, app: tuple[Client, str]
) -> None:
    """A batch works out what items share once per key and version (`batch_memo`,
    `crypto_ops.KeyUse`), never a failure: a refused item names its own position, the
    items after it under the same key are checked again, and each version of one key
    is decided for itself."""
    client, prefix = app
    key = admin.create_key(f"{prefix}-versions")
    ctx = {"row": "1"}
    v1 = client.encrypt(key.name, b"old", context=ctx, consistent=True)
    admin.rotate_key(key.name)
    v2 = client.encrypt(key.name, b"new", context=ctx, consistent=True)
    admin.set_key_rotation(key.name, min_decryption_version=2)
    results = client.batch_decrypt(
        [
            DecryptItem(ciphertext_blob=v1, context=ctx),
            DecryptItem(ciphertext_blob=v2, context=ctx),
            DecryptItem(ciphertext_blob=v1, context=ctx),
            DecryptItem(ciphertext_blob=v2, context={"row": "2"}),
            DecryptItem(ciphertext_blob=v2, context=ctx),
        ],
        consistent=True,
    )
    assert error_types(results) == [  # type: ignore[arg-type]
        FailedPrecondition,
        None,
        FailedPrecondition,
        InvalidArgument,
        None,
    ]
    assert "no longer decrypts version 1" in str(results[0].error)
    assert "no longer decrypts version 1" in str(results[2].error)
    assert "items[3].ciphertext_blob: decryption failed" in str(results[3].error)
    assert results[1].unwrap().plaintext == results[4].unwrap().plaintext == b"new"
    assert results[4].unwrap().key_version == 2

    missing = f"{prefix}-missing"
    encrypted = client.batch_encrypt(
        [
            EncryptItem(key_name=missing, plaintext=b"a"),
            EncryptItem(key_name=key.name, plaintext=b"b"),
            EncryptItem(key_name=missing, plaintext=b"c"),
            EncryptItem(key_name=key.name, plaintext=b"d", context=ctx),
        ]
    )
    assert error_types(encrypted) == [NotFound, None, NotFound, None]  # type: ignore[arg-type]
    assert "items[0].key_name" in str(encrypted[0].error)
    assert "items[2].key_name" in str(encrypted[2].error)
    assert [encrypted[1].unwrap().key_version, encrypted[3].unwrap().key_version] == [2, 2]


def test_batch_and_single_calls_read_each_other(client: Client) -> None:
    key = client.create_key(unique("batch-rt"))
    contexts = [{"row": str(i)} for i in range(20)]
    sealed = client.batch_encrypt(
        [
            EncryptItem(key_name=key.name, plaintext=f"p{i}".encode(), context=c)
            for i, c in enumerate(contexts)
        ],
        consistent=True,
    )
    for i, (result, ctx) in enumerate(zip(sealed, contexts, strict=True)):
        assert client.decrypt(result.unwrap().ciphertext_blob, context=ctx) == f"p{i}".encode()
    singles = [
        client.encrypt(key.name, f"s{i}".encode(), context=c) for i, c in enumerate(contexts)
    ]
    opened = client.batch_decrypt(
        [DecryptItem(ciphertext_blob=b, context=c) for b, c in zip(singles, contexts, strict=True)]
    )
    assert [r.unwrap().plaintext for r in opened] == [f"s{i}".encode() for i in range(20)]
    keys = client.batch_generate_data_key(
        [DataKeyItem(key_name=key.name, context=c, number_of_bytes=16) for c in contexts[:3]]
        + [DataKeyItem(key_name=key.name, without_plaintext=True)]
    )
    for made, ctx in zip(keys[:3], contexts, strict=False):
        data_key = made.unwrap()
        assert len(data_key.plaintext) == 16
        assert client.decrypt(data_key.ciphertext_blob, context=ctx) == data_key.plaintext
    bare = keys[3].unwrap()
    assert bare.plaintext == b"" and len(client.decrypt(bare.ciphertext_blob)) == 32


def test_more_than_a_thousand_items_are_refused(client: Client) -> None:
    key = client.create_key(unique("batch-limit"))
    items = [DecryptItem(ciphertext_blob=b"\x01" * 60)] * 1001
    with pytest.raises(InvalidArgument, match=r"items: 1\.\.1000 items per call, got 1001"):
        client.batch_decrypt(items)
    with pytest.raises(InvalidArgument, match=r"items: 1\.\.1000 items per call, got 0"):
        client.batch_encrypt([])
    full = client.batch_encrypt(
        [EncryptItem(key_name=key.name, plaintext=b"x")] * 1000, consistent=True
    )
    assert len(full) == 1000 and all(r.ok for r in full)


def test_one_audit_line_names_every_item_and_is_bounded(
    cluster: LocalCluster, admin: Client
) -> None:
    node = cluster.spec.nodes[1]
    first = admin.create_key(unique("audit-a"))
    second = admin.create_key(unique("audit-b"))
    admin.rotate_key(second.name)
    blob_a = admin.encrypt(first.name, b"a", consistent=True)
    blob_b = admin.encrypt(second.name, b"b", consistent=True)
    items = [
        DecryptItem(ciphertext_blob=blob_a),
        DecryptItem(ciphertext_blob=blob_a),
        DecryptItem(ciphertext_blob=blob_b),
        DecryptItem(ciphertext_blob=blob_b, context={"wrong": "ctx"}),
        DecryptItem(ciphertext_blob=b"\x09nonsense"),
    ]
    results = admin.batch_decrypt(items, consistent=True, endpoint=node.api)
    assert [r.ok for r in results] == [True, True, True, False, False]
    line = next(
        r for r in reversed(audit_lines(cluster, node.id)) if r["operation"] == "BatchDecrypt"
    )
    assert line["result"] == "OK" and line["principal"] == "spiffe://keymgr/admin/admin"
    assert line["batch"] == [
        f"{first.id}:1:OK*2",
        f"{second.id}:2:OK",
        f"{second.id}:2:INVALID_ARGUMENT",
        "-:-:INVALID_ARGUMENT",
    ]

    # worst case: 1,000 items alternating between two keys, none merged
    worst = [DecryptItem(ciphertext_blob=(blob_a, blob_b)[i % 2]) for i in range(1000)]
    assert all(r.ok for r in admin.batch_decrypt(worst, endpoint=node.api))
    raw = next(
        text
        for text in reversed(
            (cluster.data_dir(node.id) / "audit" / "audit.log").read_text().splitlines()
        )
        if '"operation":"BatchDecrypt"' in text
    )
    entries = json.loads(raw)["batch"]
    assert len(entries) == 1000 and entries[0] == f"{first.id}:1:OK"
    assert len(raw.encode()) < 100_000
    assert b"nonsense" not in raw.encode() and base64.b64encode(blob_a).decode() not in raw
    verified = subprocess.run(
        [
            sys.executable,
            "-m",
            "keymgr",
            "audit",
            "verify",
            str(cluster.data_dir(node.id) / "audit" / "audit.log"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_agent_certificate_limited_per_item_by_policy(cluster: LocalCluster, admin: Client) -> None:
    me = unique("vol")
    key = admin.create_key(unique("batch-volumes"))
    grant(
        admin,
        store_pb2.Policy(
            name=f"{me}-own-volume",
            principals=[principal("agent", me)],
            operations=["generate-data-key", "decrypt"],
            key_patterns=[key.name],
            required_context={"volume_id": "${principal.name}"},
        ),
    )
    other = admin.generate_data_key(key.name, context={"volume_id": "vol-other"}, consistent=True)
    with client_for(cluster, me, "agent") as agent:
        made = agent.batch_generate_data_key(
            [
                DataKeyItem(key_name=key.name, context={"volume_id": me}),
                DataKeyItem(key_name=key.name, context={"volume_id": "vol-other"}),
                DataKeyItem(key_name=key.name),
            ],
            consistent=True,
        )
        assert error_types(made) == [None, PermissionDenied, PermissionDenied]  # type: ignore[arg-type]
        mine = made[0].unwrap()
        opened = agent.batch_decrypt(
            [
                DecryptItem(ciphertext_blob=mine.ciphertext_blob, context={"volume_id": me}),
                DecryptItem(
                    ciphertext_blob=other.ciphertext_blob, context={"volume_id": "vol-other"}
                ),
                DecryptItem(ciphertext_blob=other.ciphertext_blob, context={"volume_id": me}),
            ]
        )
        assert error_types(opened) == [None, PermissionDenied, InvalidArgument]  # type: ignore[arg-type]
        assert opened[0].unwrap().plaintext == mine.plaintext
        with pytest.raises(PermissionDenied):  # encrypt was never granted
            agent.batch_encrypt(
                [EncryptItem(key_name=key.name, plaintext=b"x", context={"volume_id": me})]
            )[0].unwrap()


def _keymgr(cluster: LocalCluster, *args: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    creds = cluster.credentials
    env = {
        **os.environ,
        "KEYMGR_ADDR": ",".join(n.api for n in cluster.spec.nodes),
        "KEYMGR_CACERT": str(creds.ca),
        "KEYMGR_CLIENT_CERT": str(creds.cert),
        "KEYMGR_CLIENT_KEY": str(creds.key),
    }
    return subprocess.run(
        [sys.executable, "-m", "keymgr", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=60,
    )


def test_cli_batch_round_trip_and_item_errors(
    cluster: LocalCluster, client: Client, tmp_path: Path
) -> None:
    key = client.create_key(unique("batch-cli"))
    client.generate_data_key(key.name, consistent=True)
    rows = [
        {
            "key": key.name,
            "plaintext": base64.b64encode(f"row{i}".encode()).decode(),
            "context": {"row": str(i)},
        }
        for i in range(5)
    ]
    source = tmp_path / "items.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    encrypted = _keymgr(cluster, "batch-encrypt", str(source), "--batch-size", "2", stdin=b"")
    assert encrypted.returncode == 0, encrypted.stderr
    decrypted = _keymgr(cluster, "batch-decrypt", stdin=encrypted.stdout)
    assert decrypted.returncode == 0, decrypted.stderr
    out = [json.loads(line) for line in decrypted.stdout.splitlines()]
    assert [base64.b64decode(o["plaintext"]) for o in out] == [f"row{i}".encode() for i in range(5)]
    assert [o["index"] for o in out] == list(range(5))

    mixed = (
        json.dumps({"key": key.name, "context": {"a": "b"}})
        + "\n"
        + json.dumps({"key": "no-such-key-here"})
        + "\n"
    ).encode()
    made = _keymgr(cluster, "batch-datakey", "-", stdin=mixed)
    assert made.returncode == 2
    first, second = (json.loads(line) for line in made.stdout.splitlines())
    assert first["ok"] and len(base64.b64decode(first["plaintext"])) == 32
    assert not second["ok"] and second["error"] == "NotFound" and second["code"] == "NOT_FOUND"
    assert made.stderr.decode().strip() == "keymgr: 1 of 2 items failed"

    bad = _keymgr(cluster, "batch-decrypt", stdin=b'{"ciphertext": "%%%"}\n')
    assert bad.returncode == 1
    assert bad.stderr.decode().strip() == "keymgr: line 1: ciphertext: not valid base64"


def test_data_key_cache_makes_fewer_server_calls(cluster: LocalCluster, client: Client) -> None:
    key = client.create_key(unique("cached"))
    client.generate_data_key(key.name, consistent=True)

    def server_calls() -> int:
        return sum(
            1
            for node in cluster.spec.nodes
            for r in audit_lines(cluster, node.id)
            if r["operation"] == "GenerateDataKey" and r["key_id"] == key.id
        )

    before = server_calls()
    for _ in range(30):
        client.generate_data_key(key.name, context={"t": "1"})
    uncached = server_calls() - before
    with DataKeyCache(client, max_age_s=300, max_messages=10, max_bytes=1 << 20) as cache:
        used = {
            cache.generate_data_key(key.name, context={"t": "1"}, message_bytes=100).plaintext
            for _ in range(30)
        }
        cache.generate_data_key(key.name, context={"t": "2"})
    cached = server_calls() - before - uncached
    assert uncached == 30
    assert cached == 4  # 30 messages at 10 per key, and one more context
    assert len(used) == 3
    for plaintext in used:
        assert len(plaintext) == 32
