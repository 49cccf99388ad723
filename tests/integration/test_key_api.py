"""The key API end to end on a shared 3-node cluster (real processes, TCP, mTLS)."""

from __future__ import annotations

import uuid

import pytest

from keymgr.client import Client, FailedPrecondition, NotFound
from keymgr.ops.devcluster import LocalCluster
from keymgr.v1 import keys_pb2
from tests.integration.helpers import eventually


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_data_key_decrypts_on_every_node(cluster: LocalCluster, client: Client) -> None:
    key = client.create_key(unique("orders"), labels={"team": "pay"})
    assert key.state == keys_pb2.KEY_STATE_ENABLED and key.current_version == 1
    assert dict(key.labels) == {"team": "pay"}
    data_key = client.generate_data_key(key.name, context={"table": "t1"})
    assert len(data_key.plaintext) == 32 and data_key.key_id == key.id
    assert data_key.plaintext not in data_key.ciphertext_blob
    for node in cluster.spec.nodes:
        plain = client.decrypt(
            data_key.ciphertext_blob,
            context={"table": "t1"},
            consistent=True,
            endpoint=node.api,
        )
        assert plain == data_key.plaintext


def test_every_node_makes_data_keys_the_others_decrypt(
    cluster: LocalCluster, client: Client
) -> None:
    key = client.create_key(unique("spread"))
    for maker in cluster.spec.nodes:
        made = client.generate_data_key(key.name, consistent=True, endpoint=maker.api)
        for reader in cluster.spec.nodes:
            assert (
                client.decrypt(made.ciphertext_blob, consistent=True, endpoint=reader.api)
                == made.plaintext
            )


def test_without_plaintext_and_sizes(client: Client) -> None:
    key = client.create_key(unique("sizes"))
    bare = client.generate_data_key(key.name, without_plaintext=True, consistent=True)
    assert bare.plaintext == b""
    assert len(client.decrypt(bare.ciphertext_blob)) == 32
    assert len(client.generate_data_key(key.name, number_of_bytes=64).plaintext) == 64
    assert len(client.generate_random(100)) == 100


def test_rotation_keeps_old_ciphertexts_readable(client: Client) -> None:
    key = client.create_key(unique("rotating"))
    old = client.encrypt(key.name, b"v1 secret", context={"k": "v"}, consistent=True)
    rotated = client.rotate_key(key.name)
    assert rotated.current_version == 2
    assert [v.version for v in rotated.versions] == [1, 2]
    new = client.generate_data_key(key.name, consistent=True)
    assert new.key_version == 2
    assert client.decrypt(old, context={"k": "v"}) == b"v1 secret"
    again = client.re_encrypt(old, source_context={"k": "v"})
    assert (again.source_key_version, again.key_version) == (1, 2)
    assert client.decrypt(again.ciphertext_blob, context={"k": "v"}) == b"v1 secret"


def test_reencrypt_to_another_key_and_context(client: Client) -> None:
    first = client.create_key(unique("src"))
    second = client.create_key(unique("dst"))
    blob = client.encrypt(first.name, b"moving", context={"a": "1"}, consistent=True)
    moved = client.re_encrypt(
        blob,
        source_context={"a": "1"},
        destination_key_name=second.name,
        destination_context={"b": "2"},
    )
    assert moved.key_id == second.id and moved.source_key_id == first.id
    assert client.decrypt(moved.ciphertext_blob, context={"b": "2"}) == b"moving"


def test_disable_enable(client: Client) -> None:
    key = client.create_key(unique("toggle"))
    blob = client.encrypt(key.name, b"x", consistent=True)
    assert client.disable_key(key.name).state == keys_pb2.KEY_STATE_DISABLED
    with pytest.raises(FailedPrecondition, match="disabled"):
        client.generate_data_key(key.name, consistent=True)
    with pytest.raises(FailedPrecondition, match="disabled"):
        client.decrypt(blob, consistent=True)
    assert client.enable_key(key.name).state == keys_pb2.KEY_STATE_ENABLED
    assert client.decrypt(blob, consistent=True) == b"x"


def test_scheduled_deletion_destroys_after_window(client: Client) -> None:
    key = client.create_key(unique("doomed"))
    pending = client.schedule_key_deletion(key.name, pending_window_seconds=1)
    assert pending.state == keys_pb2.KEY_STATE_PENDING_DELETION
    assert pending.deletion_time_ms > pending.created_at_ms
    with pytest.raises(FailedPrecondition, match="pending deletion"):
        client.generate_data_key(key.name, consistent=True)
    destroyed = eventually(
        lambda: client.get_key(key.id).state == keys_pb2.KEY_STATE_DESTROYED, timeout=10
    )
    assert destroyed
    # the name is free again, and is a different key
    assert client.create_key(key.name).id != key.id


def test_cancel_deletion_leaves_key_disabled(client: Client) -> None:
    key = client.create_key(unique("spared"))
    client.schedule_key_deletion(key.name, pending_window_seconds=3600)
    spared = client.cancel_key_deletion(key.name)
    assert spared.state == keys_pb2.KEY_STATE_DISABLED and spared.deletion_time_ms == 0


def test_request_id_makes_create_idempotent(client: Client) -> None:
    name, rid = unique("once"), uuid.uuid4().hex
    first = client.create_key(name, request_id=rid)
    second = client.create_key(name, request_id=rid)
    assert first.id == second.id
    rotated = client.rotate_key(name, request_id=rid + "r")
    assert (
        client.rotate_key(name, request_id=rid + "r").current_version
        == (rotated.current_version)
        == 2
    )


def test_list_keys_pages_through_everything(client: Client) -> None:
    prefix = unique("page")
    made = {client.create_key(f"{prefix}-{i}").id for i in range(7)}
    seen: list[str] = []
    token = ""
    while True:
        page, token = client.list_keys(page_size=3, page_token=token)
        assert len(page) <= 3
        seen.extend(k.id for k in page)
        if not token:
            break
    assert made <= set(seen)
    assert len(seen) == len(set(seen))


def test_get_key_by_name_and_id(client: Client) -> None:
    key = client.create_key(unique("lookup"), description="for tests")
    by_id = client.get_key(key.id)
    assert by_id.name == key.name and by_id.description == "for tests"
    with pytest.raises(NotFound, match="no key"):
        client.get_key(unique("missing"))
