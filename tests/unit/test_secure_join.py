"""Secure join building blocks: the X25519 exchange is bound to its transcript; join
tokens are authorized only through the approval flow and work once, before expiry."""

from __future__ import annotations

import hashlib
import os

import pytest

from keymgr.crypto.errors import DecryptionFailed
from keymgr.crypto.join import JoinKeyPair, seal_root_key
from keymgr.store.keystore import KeyStore
from keymgr.v1 import store_pb2
from tests.unit.test_keystore import fresh, ok, run

ROOT = os.urandom(32)
IDS = {"joiner_id": "node3", "peer_id": "node1", "token_id": "00112233aabbccdd"}


def test_exchange_round_trip() -> None:
    pair = JoinKeyPair()
    peer_public, sealed = seal_root_key(ROOT, joiner_public=pair.public, **IDS)
    assert ROOT not in sealed
    assert pair.open(peer_public=peer_public, sealed=sealed, **IDS) == ROOT


@pytest.mark.parametrize("field", ["joiner_id", "peer_id", "token_id"])
def test_exchange_is_bound_to_the_transcript(field: str) -> None:
    pair = JoinKeyPair()
    peer_public, sealed = seal_root_key(ROOT, joiner_public=pair.public, **IDS)
    with pytest.raises(DecryptionFailed):
        pair.open(peer_public=peer_public, sealed=sealed, **{**IDS, field: "other"})


def test_answer_for_another_joiner_key_does_not_open() -> None:
    pair, other = JoinKeyPair(), JoinKeyPair()
    peer_public, sealed = seal_root_key(ROOT, joiner_public=other.public, **IDS)
    with pytest.raises(DecryptionFailed):
        pair.open(peer_public=peer_public, sealed=sealed, **IDS)


def test_tampered_answer_does_not_open() -> None:
    pair = JoinKeyPair()
    peer_public, sealed = seal_root_key(ROOT, joiner_public=pair.public, **IDS)
    for index in (0, 12, len(sealed) - 1):
        bad = bytearray(sealed)
        bad[index] ^= 1
        with pytest.raises(DecryptionFailed):
            pair.open(peer_public=peer_public, sealed=bytes(bad), **IDS)
    with pytest.raises(DecryptionFailed):
        pair.open(peer_public=os.urandom(32), sealed=sealed, **IDS)
    with pytest.raises(DecryptionFailed):
        pair.open(peer_public=peer_public, sealed=sealed[:-1], **IDS)


def _authorize(
    token_id: str = "tok1", node: str = "node3", expires: int = 5000
) -> store_pb2.Command:
    return store_pb2.Command(
        authorize_join=store_pb2.AuthorizeJoin(
            token_id=token_id,
            node_id=node,
            secret_digest=hashlib.sha256(b"s").digest(),
            expires_at_ms=expires,
        )
    )


def _approved_store(**kwargs: object) -> KeyStore:
    store = fresh()
    ok(
        run(
            store,
            request_approval=store_pb2.RequestApproval(
                operation_id="op1",
                kind="authorize-join",
                command=_authorize(**kwargs),  # type: ignore[arg-type]
                expires_at_ms=9000,
            ),
        )
    )
    return store


def test_join_token_cannot_skip_the_approval_flow() -> None:
    store = fresh()
    result = run(store, authorize_join=_authorize().authorize_join)
    assert "split-key operation" in result.error.message
    assert store.access.joins == {}


def test_join_token_works_once_for_its_node() -> None:
    store = _approved_store()
    assert store.access.joins["tok1"].token.node_id == "node3"
    wrong = run(store, consume_join=store_pb2.ConsumeJoin(token_id="tok1", node_id="node2"))
    assert wrong.error.code == store_pb2.ERROR_CODE_NOT_FOUND
    ok(run(store, consume_join=store_pb2.ConsumeJoin(token_id="tok1", node_id="node3")))
    again = run(store, consume_join=store_pb2.ConsumeJoin(token_id="tok1", node_id="node3"))
    assert "already used" in again.error.message
    restored = KeyStore()
    restored.restore(store.snapshot())
    assert restored.access.joins["tok1"].used


def test_expired_join_token_is_refused() -> None:
    store = _approved_store(expires=2000)
    late = run(store, t=2000, consume_join=store_pb2.ConsumeJoin(token_id="tok1", node_id="node3"))
    assert "expired" in late.error.message
