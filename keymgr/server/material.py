"""Plaintext key material of managed key versions, decrypted on demand.

Material is replicated only barrier-encrypted; a node that serves crypto calls decrypts
a version once and keeps it in memory until it is sealed (as Vault keeps its keyring).
Python cannot promise erasure of `bytes`; `clear()` drops every reference so that the
memory is freed, which is as far as the language lets us go.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keymgr.crypto.aead import Aead
from keymgr.crypto.barrier import Keyring, material_aad
from keymgr.crypto.errors import DecryptionFailed
from keymgr.server.errors import NodeError, NotFound
from keymgr.store.keystore import KeyStore
from keymgr.v1 import keys_pb2, store_pb2

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")


class MaterialCache:
    def __init__(self, keyring: Callable[[], Keyring], store: KeyStore) -> None:
        self._keyring = keyring
        self._store = store
        self._revision = -1
        self._material: dict[tuple[str, int], Aead] = {}
        self._derived: dict[tuple[str, int, bytes], bytes] = {}

    def material(self, stored: store_pb2.StoredKey, version: int) -> Aead:
        """An AES-GCM object keyed with the material of `version` of `stored`."""
        key = (stored.key.id, version)
        cached = self._cached(self._material, key)
        if cached is None:
            cached = self._material[key] = self._with_plaintext(stored, version, Aead)
        return cached

    def derive(self, stored: store_pb2.StoredKey, version: int, info: bytes) -> bytes:
        """HKDF-SHA256(material of `version`, info) -> 32 bytes.

        For callers that need a key outside the cluster (TDE master keys): the managed
        key's own material never leaves, and each `info` gets an independent key.
        """
        key = (stored.key.id, version, info)
        cached = self._cached(self._derived, key)
        if cached is None:
            hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info)
            cached = self._derived[key] = self._with_plaintext(stored, version, hkdf.derive)
        return cached

    def _cached(self, table: dict[K, V], key: K) -> V | None:
        if self._revision != self._store.revision:
            self._drop_destroyed()
        return table.get(key)

    def _with_plaintext(
        self, stored: store_pb2.StoredKey, version: int, use: Callable[[bytearray], T]
    ) -> T:
        """Decrypts one version's material, hands it to `use`, wipes it."""
        key_id = stored.key.id
        wrapped = stored.wrapped_material.get(version)
        if not wrapped:
            raise NotFound(f"key {stored.key.name!r} has no version {version}")
        try:
            plain = self._keyring().decrypt_secret(wrapped, material_aad(key_id, version))
        except DecryptionFailed as exc:
            raise NodeError(
                f"stored material of key {key_id} version {version} does not authenticate"
            ) from exc
        try:
            return use(plain)
        finally:
            plain[:] = bytes(len(plain))

    def _drop_destroyed(self) -> None:
        """Material of destroyed keys leaves memory as soon as we notice the change."""
        self._revision = self._store.revision
        for key_id in {k[0] for k in self._material} | {k[0] for k in self._derived}:
            stored = self._store.lookup(key_id)
            if stored is None or stored.key.state == keys_pb2.KEY_STATE_DESTROYED:
                self.forget(key_id)

    def forget(self, key_id: str) -> None:
        for entry in [k for k in self._material if k[0] == key_id]:
            del self._material[entry]
        for derived in [k for k in self._derived if k[0] == key_id]:
            del self._derived[derived]

    def clear(self) -> None:
        self._material.clear()
        self._derived.clear()
