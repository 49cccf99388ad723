"""Bad input gets a precise status naming the field, and the node keeps serving."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from keymgr import pki
from keymgr.client import Client, InvalidArgument, KeymgrError, NotFound
from keymgr.ops.devcluster import LocalCluster
from keymgr.v1 import keys_pb2, keys_pb2_grpc


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
