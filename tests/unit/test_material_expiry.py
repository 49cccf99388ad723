"""Imported material that expires, on a serving node: the material cache refuses a
version past its expiry by the node's own clock before the leader has erased it (fail
closed), refuses an erased one with the same message, and drops it from memory."""

from __future__ import annotations

import secrets

import pytest

from keymgr.crypto.barrier import Keyring, material_aad
from keymgr.node_errors import FailedPrecondition
from keymgr.server.material import MaterialCache
from keymgr.store.keystore import KeyStore
from keymgr.v1 import keys_pb2, store_pb2
from tests.unit.test_keystore import create_op, encode, fresh, kid, ok
from tests.unit.test_keystore_import import import_op, prepare_op

EXPIRES = 5_000
MESSAGE = "version 1 of key 'byok': imported material expired; import it again"


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def apply(store: KeyStore, t: int, **op: object) -> store_pb2.CommandResult:
    return ok(store_pb2.CommandResult.FromString(store.apply(encode(t=t, **op))))


@pytest.fixture
def imported() -> tuple[KeyStore, Keyring]:
    keyring = Keyring({1: secrets.token_bytes(32)}, 1)
    store = fresh()
    apply(
        store,
        1000,
        create_key=create_op(1, "byok", wrapped_material=b"", origin=keys_pb2.KEY_ORIGIN_EXTERNAL),
    )
    apply(store, 1000, prepare_import=prepare_op())
    wrapped = keyring.encrypt(secrets.token_bytes(32), material_aad(kid(1), 1))
    apply(store, 1100, import_material=import_op(wrapped_material=wrapped, expires_at_ms=EXPIRES))
    return store, keyring


def stored(store: KeyStore) -> store_pb2.StoredKey:
    found = store.lookup(kid(1))
    assert found is not None
    return found


def test_the_node_refuses_by_its_own_clock_before_the_erasure(
    imported: tuple[KeyStore, Keyring],
) -> None:
    store, keyring = imported
    clock = Clock(EXPIRES - 1)
    cache = MaterialCache(lambda: keyring, store, clock=clock)
    cache.material(stored(store), 1)
    assert (
        cache.derive(stored(store), 1, b"tde") and cache.with_plaintext(stored(store), 1, len) == 32
    )
    clock.now = EXPIRES  # the leader has not proposed ExpireMaterial yet
    assert 1 in stored(store).wrapped_material
    for use in (
        lambda: cache.material(stored(store), 1),
        lambda: cache.derive(stored(store), 1, b"tde"),
        lambda: cache.with_plaintext(stored(store), 1, len),
    ):
        with pytest.raises(FailedPrecondition) as refused:
            use()
        assert str(refused.value) == MESSAGE


def test_erased_material_is_refused_and_leaves_memory(
    imported: tuple[KeyStore, Keyring],
) -> None:
    store, keyring = imported
    clock = Clock(2000)
    cache = MaterialCache(lambda: keyring, store, clock=clock)
    cache.material(stored(store), 1)
    cache.derive(stored(store), 1, b"tde")
    assert (kid(1), 1) in cache._material
    apply(store, EXPIRES, expire_material=store_pb2.ExpireMaterial(key_id=kid(1), version=1))
    assert not stored(store).wrapped_material
    clock.now = 1  # even a node whose clock lags refuses: the state says erased
    with pytest.raises(FailedPrecondition, match="imported material expired"):
        cache.material(stored(store), 1)
    assert (kid(1), 1) not in cache._material and not cache._derived


def test_reimport_brings_the_version_back(imported: tuple[KeyStore, Keyring]) -> None:
    store, keyring = imported
    apply(store, EXPIRES, expire_material=store_pb2.ExpireMaterial(key_id=kid(1), version=1))
    apply(store, EXPIRES + 1, prepare_import=prepare_op(expires_at_ms=EXPIRES + 60_000))
    again = keyring.encrypt(secrets.token_bytes(32), material_aad(kid(1), 1))
    key = apply(store, EXPIRES + 2, import_material=import_op(wrapped_material=again)).key
    assert not key.versions[0].material_expired and key.versions[0].expires_at_ms == 0
    cache = MaterialCache(lambda: keyring, store, clock=Clock(10**12))
    assert cache.with_plaintext(stored(store), 1, len) == 32
