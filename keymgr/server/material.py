"""Plaintext key material of managed key versions, decrypted on demand.

Material is replicated only barrier-encrypted; a node that serves crypto calls decrypts
a version once and keeps it in memory until it is sealed (as Vault keeps its keyring).
Python cannot promise erasure of `bytes`; `clear()` drops every reference so that the
memory is freed, which is as far as the language lets us go.
"""

from __future__ import annotations

from collections.abc import Callable

from keymgr.crypto.aead import Aead
from keymgr.crypto.barrier import Keyring, material_aad
from keymgr.crypto.errors import DecryptionFailed
from keymgr.server.errors import NodeError, NotFound
from keymgr.v1 import store_pb2


class MaterialCache:
    def __init__(self, keyring: Callable[[], Keyring]) -> None:
        self._keyring = keyring
        self._material: dict[tuple[str, int], Aead] = {}

    def material(self, stored: store_pb2.StoredKey, version: int) -> Aead:
        """An AES-GCM object keyed with the material of `version` of `stored`."""
        key_id = stored.key.id
        cached = self._material.get((key_id, version))
        if cached is not None:
            return cached
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
            aead = Aead(plain)
        finally:
            plain[:] = bytes(len(plain))
        self._material[(key_id, version)] = aead
        return aead

    def forget(self, key_id: str) -> None:
        for entry in [k for k in self._material if k[0] == key_id]:
            del self._material[entry]

    def clear(self) -> None:
        self._material.clear()
