"""Plaintext key material of managed key versions, decrypted on demand.

Material is replicated only barrier-encrypted; a node that serves crypto calls decrypts
a version once and keeps it in memory until it is sealed (as Vault keeps its keyring).
Python cannot promise erasure of `bytes`; `clear()` drops every reference so that the
memory is freed, which is as far as the language lets us go. Keys of purpose HSM are
kept only inside this node's HSM (`hsm_keys.HsmKey`), and removed from it on `clear()`.

Imported material may expire. Every use checks the version's expiry against this node's
own clock first and refuses once it has passed (fail closed), even before the leader's
ExpireMaterial has erased it from the state; a version whose material is erased leaves
the cache as soon as the change is seen.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keymgr.crypto.aead import Aead, wipe
from keymgr.crypto.barrier import Keyring, material_aad
from keymgr.crypto.errors import DecryptionFailed
from keymgr.node_errors import FailedPrecondition, NodeError, NotFound, Unavailable
from keymgr.raft.proposer import now_ms
from keymgr.seal.pkcs11 import Pkcs11Seal
from keymgr.server.hsm_keys import HsmKey
from keymgr.store.keystore import KeyStore
from keymgr.store.keystore_validation import material_expired
from keymgr.v1 import keys_pb2, store_pb2

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")


HSM = keys_pb2.KEY_PURPOSE_HSM


class MaterialCache:
    def __init__(
        self,
        keyring: Callable[[], Keyring],
        store: KeyStore,
        hsm: Callable[[], Pkcs11Seal | None] = lambda: None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._keyring = keyring
        self._clock = clock
        self._store = store
        self._hsm = hsm  # this node's HSM now (a seal can be migrated), if it has one
        self._revision = -1
        self._material: dict[tuple[str, int], Aead] = {}
        self._derived: dict[tuple[str, int, bytes], bytes] = {}

    def material(self, stored: store_pb2.StoredKey, version: int) -> Aead:
        """An AES-GCM object keyed with the material of `version` of `stored`."""
        self.require_unexpired(stored, version)
        key = (stored.key.id, version)
        cached = self._cached(self._material, key)
        if isinstance(cached, HsmKey) and cached.seal is not self._hsm():
            self._material.pop(key, None)  # the node's seal was migrated
            cached.close()
            cached = None
        if cached is None:
            if stored.key.purpose == HSM:
                cached = self._material[key] = self._hsm_key(stored, version)
            else:
                cached = self._material[key] = self.with_plaintext(stored, version, Aead)
        return cached

    def _hsm_key(self, stored: store_pb2.StoredKey, version: int) -> HsmKey:
        seal = self._hsm()
        if seal is None:
            raise Unavailable(
                f"key {stored.key.name!r} is used only inside an HSM and this node has no "
                "pkcs11 seal: try another node"
            )
        if not stored.wrapped_material.get(version):
            raise NotFound(f"key {stored.key.name!r} has no version {version}")
        return HsmKey(
            seal,
            f"keymgr/{stored.key.id}/v{version}",
            lambda: self.with_plaintext(stored, version, bytearray),
        )

    def derive(self, stored: store_pb2.StoredKey, version: int, info: bytes) -> bytes:
        """HKDF-SHA256(material of `version`, info) -> 32 bytes.

        For callers that need a key outside the cluster (TDE master keys): the managed
        key's own material never leaves, and each `info` gets an independent key.
        """
        if stored.key.purpose == HSM:
            raise FailedPrecondition(
                f"key {stored.key.name!r} is an HSM key: it only encrypts and decrypts"
            )
        self.require_unexpired(stored, version)
        key = (stored.key.id, version, info)
        cached = self._cached(self._derived, key)
        if cached is None:
            hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info)
            cached = self._derived[key] = self.with_plaintext(stored, version, hkdf.derive)
        return cached

    def _cached(self, table: dict[K, V], key: K) -> V | None:
        if self._revision != self._store.revision:
            self._drop_destroyed()
        return table.get(key)

    def with_plaintext(
        self, stored: store_pb2.StoredKey, version: int, use: Callable[[bytearray], T]
    ) -> T:
        """Decrypts one version's material, hands it to `use`, wipes it."""
        self.require_unexpired(stored, version)
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
            wipe(plain)

    def require_unexpired(self, stored: store_pb2.StoredKey, version: int) -> None:
        """FailedPrecondition if `version` is imported material past its expiry by this
        node's clock, or already erased for it."""
        key = stored.key
        if not 1 <= version <= len(key.versions):
            return  # the callers say "no such version" themselves
        entry = key.versions[version - 1]
        if entry.material_expired or 0 < entry.expires_at_ms <= self._clock():
            self.forget(key.id, version)
            raise FailedPrecondition(material_expired(key.name, version))

    def _drop_destroyed(self) -> None:
        """Material of destroyed keys, and of versions whose imported material was
        erased, leaves memory as soon as we notice the change."""
        self._revision = self._store.revision
        for key_id in {k[0] for k in self._material} | {k[0] for k in self._derived}:
            stored = self._store.lookup(key_id)
            if stored is None or stored.key.state == keys_pb2.KEY_STATE_DESTROYED:
                self.forget(key_id)
                continue
            for version in [v.version for v in stored.key.versions if v.material_expired]:
                self.forget(key_id, version)

    def forget(self, key_id: str, version: int | None = None) -> None:
        """Drops the key's material (one version's, given `version`) from memory."""

        def matches(entry: tuple[str, int] | tuple[str, int, bytes]) -> bool:
            return entry[0] == key_id and (version is None or entry[1] == version)

        for entry in [k for k in self._material if matches(k)]:
            _close(self._material.pop(entry))
        for derived in [k for k in self._derived if matches(k)]:
            del self._derived[derived]

    def clear(self) -> None:
        held, self._material = self._material, {}
        self._derived.clear()
        for material in held.values():
            _close(material)


def _close(material: Aead) -> None:
    if isinstance(material, HsmKey):
        material.close()
