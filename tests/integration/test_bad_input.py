"""Bad input gets a precise status naming the field, and the node keeps serving; a body
that is not a valid message at all is INVALID_ARGUMENT, audited, without a traceback."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from keymgr import pki
from keymgr.client import Client, InvalidArgument, KeymgrError, NotFound
from keymgr.ops.devcluster import LocalCluster
from keymgr.v1 import keys_pb2, keys_pb2_grpc
from tests.integration import raw_grpc


@pytest.fixture(scope="module")
def key_and_blob(cluster: LocalCluster) -> tuple[keys_pb2.Key, bytes]:
    with cluster.client() as client:
        key = client.create_key(f"bad-input-{uuid.uuid4().hex[:6]}")
        blob = client.encrypt(key.name, b"payload", context={"c": "1"}, consistent=True)
    return key, blob


def flip(blob: bytes, index: int) -> bytes:
    data = bytearray(blob)
    data[index] ^= 0x01
    return bytes(data)


CASES: list[tuple[str, type[KeymgrError], str, Callable[..., object]]] = [
    ("empty name", InvalidArgument, "name: must not be empty", lambda c, k, b: c.create_key("")),
    ("long name", InvalidArgument, "name: at most 128", lambda c, k, b: c.create_key("n" * 200)),
    (
        "bad chars",
        InvalidArgument,
        "name: may hold only",
        lambda c, k, b: c.create_key("bad name!"),
    ),
    ("unknown key", NotFound, "no key", lambda c, k, b: c.generate_data_key("no-such-key")),
    ("unknown rotate", NotFound, "no key", lambda c, k, b: c.rotate_key("no-such-key")),
    (
        "wrong context",
        InvalidArgument,
        "decryption failed",
        lambda c, k, b: c.decrypt(b, context={"c": "2"}),
    ),
    ("missing context", InvalidArgument, "decryption failed", lambda c, k, b: c.decrypt(b)),
    (
        "tampered body",
        InvalidArgument,
        "decryption failed",
        lambda c, k, b: c.decrypt(flip(b, len(b) - 3), context={"c": "1"}),
    ),
    (
        "tampered version",
        NotFound,
        "no version",
        lambda c, k, b: c.decrypt(flip(b, 19), context={"c": "1"}),
    ),
    (
        "tampered key id",
        NotFound,
        "does not exist",
        lambda c, k, b: c.decrypt(flip(b, 3), context={"c": "1"}),
    ),
    (
        "truncated",
        InvalidArgument,
        "ciphertext_blob",
        lambda c, k, b: c.decrypt(b[:10], context={"c": "1"}),
    ),
    (
        "truncated tag",
        InvalidArgument,
        "ciphertext_blob",
        lambda c, k, b: c.decrypt(b[:40], context={"c": "1"}),
    ),
    (
        "unknown format",
        InvalidArgument,
        "ciphertext_blob",
        lambda c, k, b: c.decrypt(b"\x07" + b[1:], context={"c": "1"}),
    ),
    (
        "empty ciphertext",
        InvalidArgument,
        "ciphertext_blob: must not be empty",
        lambda c, k, b: c.decrypt(b""),
    ),
    (
        "huge plaintext",
        InvalidArgument,
        "plaintext: at most",
        lambda c, k, b: c.encrypt(k.name, b"x" * (64 * 1024 + 1)),
    ),
    (
        "huge data key",
        InvalidArgument,
        "number_of_bytes",
        lambda c, k, b: c.generate_data_key(k.name, number_of_bytes=5000),
    ),
    ("zero random", InvalidArgument, "number_of_bytes", lambda c, k, b: c.generate_random(0)),
    (
        "empty context key",
        InvalidArgument,
        "encryption_context",
        lambda c, k, b: c.encrypt(k.name, b"x", context={"": "v"}),
    ),
    (
        "bad page token",
        InvalidArgument,
        "page_token",
        lambda c, k, b: c.list_keys(page_token="garbage!"),
    ),
    ("page too big", InvalidArgument, "page_size", lambda c, k, b: c.list_keys(page_size=5000)),
    (
        "window too long",
        InvalidArgument,
        "pending_window_seconds",
        lambda c, k, b: c.schedule_key_deletion(k.name, pending_window_seconds=10**10),
    ),
    ("duplicate name", KeymgrError, "already", lambda c, k, b: c.create_key(k.name)),
    (
        "cancel not pending",
        KeymgrError,
        "cannot cancel",
        lambda c, k, b: c.cancel_key_deletion(k.name),
    ),
    (  # found by the fuzz (test_fuzz.py): INTERNAL from a uint64 overflow before
        "export ttl too long",
        InvalidArgument,
        "ttl_seconds: at most",
        lambda c, k, b: c.request_export(k.name, ttl_seconds=2**64 - 1),
    ),
    (  # the one write whose request id the node did not check (only the state machine did)
        "keyring request id too long",
        InvalidArgument,
        "request_id: at most 128",
        lambda c, k, b: c.rotate_keyring(request_id="r" * 100_000),
    ),
    (
        "unseal garbage",
        InvalidArgument,
        "share",
        lambda c, k, b: c.unseal("km1-zz", endpoint=c._policy.endpoints[0]),
    ),
]


@pytest.mark.parametrize(("name", "error", "message", "call"), CASES, ids=[c[0] for c in CASES])
def test_precise_errors(
    client: Client,
    key_and_blob: tuple[keys_pb2.Key, bytes],
    name: str,
    error: type[KeymgrError],
    message: str,
    call: Callable[..., object],
) -> None:
    key, blob = key_and_blob
    with pytest.raises(error, match=message) as raised:
        call(client, key, blob)
    text = str(raised.value)
    assert "Traceback" not in text and "\n" not in text
    # the node keeps serving after every bad call
    assert client.decrypt(blob, context={"c": "1"}) == b"payload"


def _raw_stub(
    cluster: LocalCluster, creds: grpc.ChannelCredentials
) -> tuple[grpc.Channel, keys_pb2_grpc.KeyManagementStub]:
    channel = grpc.secure_channel(cluster.spec.nodes[0].api, creds)
    return channel, keys_pb2_grpc.KeyManagementStub(channel)


def test_call_without_client_certificate_is_refused(cluster: LocalCluster) -> None:
    creds = grpc.ssl_channel_credentials(root_certificates=cluster.credentials.ca.read_bytes())
    channel, stub = _raw_stub(cluster, creds)
    with channel, pytest.raises(grpc.RpcError) as raised:
        stub.GenerateRandom(keys_pb2.GenerateRandomRequest(number_of_bytes=8), timeout=3)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE  # TLS handshake refused


def test_certificate_from_another_ca_is_refused(cluster: LocalCluster, tmp_path: Path) -> None:
    other = pki.create_ca(tmp_path / "other")
    files = pki.issue_client_cert(pki.load_ca(tmp_path / "other"), "mallory", kind="admin")
    creds = grpc.ssl_channel_credentials(
        root_certificates=cluster.credentials.ca.read_bytes(),
        private_key=files.key.read_bytes(),
        certificate_chain=files.cert.read_bytes(),
    )
    assert other.cert.exists()
    channel, stub = _raw_stub(cluster, creds)
    with channel, pytest.raises(grpc.RpcError) as raised:
        stub.GenerateRandom(keys_pb2.GenerateRandomRequest(number_of_bytes=8), timeout=3)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    with cluster.client() as client:
        assert len(client.generate_random(8)) == 8  # and the node still serves


# one method of each of the five services, and the request message it expects
UNDECODABLE = [
    ("/keymgr.v1.KeyManagement/Encrypt", "keymgr.v1.EncryptRequest"),
    ("/keymgr.v1.Operator/Seal", "keymgr.v1.SealRequest"),
    ("/keymgr.v1.Access/PutPolicy", "keymgr.v1.PutPolicyRequest"),
    ("/keymgr.v1.VolumeKeys/UnwrapVolumeKey", "keymgr.v1.UnwrapVolumeKeyRequest"),
    ("/keymgr.v1.TdeKeys/GetMasterKey", "keymgr.v1.GetMasterKeyRequest"),
]


def _grown(path: Path, offset: int) -> str:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read().decode(errors="replace")


def test_undecodable_body_is_invalid_argument_audited_without_traceback(
    cluster: LocalCluster,
) -> None:
    """Finding 4: a body that is not a valid message answered UNKNOWN (grpc's own
    deserializer error), wrote no audit line and ~740 bytes of traceback to the node log
    per request. Now: INVALID_ARGUMENT naming the message, one bounded audit line, and
    at most one short log line for a burst, for every service, admin or not."""
    node = cluster.spec.nodes[0].id
    audit = cluster.data_dir(node) / "audit" / "audit.log"
    logs = [cluster.log_path(node), cluster.log_path(node).with_suffix(".stderr")]
    log_offsets = [p.stat().st_size if p.exists() else 0 for p in logs]
    audit_offset = audit.stat().st_size
    callers = [("admin", "admin"), ("garbage-sender", "agent")]
    for name, kind in callers:
        with raw_grpc.channel(cluster, node, name, kind) as ch:
            for path, message in UNDECODABLE:
                for body in (raw_grpc.GARBAGE, b"\x0a\x05ab"):  # field 1 cut short
                    code, details = raw_grpc.call(ch, path, body)
                    assert (code, details) == (
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"request body is not a valid {message}",
                    ), path
            for _ in range(200):  # a burst: one short log line, not 200 tracebacks
                raw_grpc.call(ch, UNDECODABLE[0][0], raw_grpc.GARBAGE)
    lines = [json.loads(line) for line in _grown(audit, audit_offset).splitlines()]
    refused = [r for r in lines if r["result"] == "INVALID_ARGUMENT"]
    assert len(refused) == len(callers) * (len(UNDECODABLE) * 2 + 200)
    principals = {r["principal"] for r in refused}
    assert principals == {"spiffe://keymgr/admin/admin", "spiffe://keymgr/agent/garbage-sender"}
    assert {r["operation"] for r in refused} == {p.rsplit("/", 1)[1] for p, _ in UNDECODABLE}
    assert all(r["detail"].startswith("request body is not a valid keymgr.v1.") for r in refused)
    assert max(len(json.dumps(r, separators=(",", ":"))) for r in refused) < 512
    grown = "".join(_grown(p, o) for p, o in zip(logs, log_offsets, strict=True) if p.exists())
    assert "Traceback" not in grown and "deserializ" not in grown.lower()
    noted = [line for line in grown.splitlines() if "did not decode" in line]
    assert len(noted) <= 2 and all(len(line) < 400 for line in noted), noted
    assert _admin_still_serves(cluster)


def _admin_still_serves(cluster: LocalCluster) -> bool:
    with cluster.client() as client:
        key = client.create_key(f"after-garbage-{uuid.uuid4().hex[:6]}")
        blob = client.encrypt(key.name, b"still", consistent=True)
        return client.decrypt(blob) == b"still"
