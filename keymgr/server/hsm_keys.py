"""Managed keys whose encryption runs inside this node's HSM (key purpose HSM).

For customers whose rules say "all crypto in hardware": the key version's material is
replicated only barrier-encrypted, decrypted on the node just long enough to be put
into the token as a sensitive, non-extractable session key, and every AES-256-GCM
operation with it then runs in the HSM. The ciphertext format is the same envelope as
for software keys. `HsmKey` has the `Aead` interface, so the envelope code does not
know the difference. Honest limit: the material passes through the node's memory once
per import (it must: it is replicated, and each node has its own HSM).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from keymgr.crypto.aead import NONCE_SIZE, Aead, BytesLike, wipe
from keymgr.crypto.errors import DecryptionFailed
from keymgr.seal.pkcs11 import HsmUnavailable, Pkcs11Seal
from keymgr.server.errors import Unavailable

MaterialSource = Callable[[], bytearray]


class HsmKey(Aead):
    """AES-256-GCM with one key version's material held in this node's HSM."""

    def __init__(self, seal: Pkcs11Seal, label: str, material: MaterialSource) -> None:
        # no software key: Aead's cipher is never built
        self.seal = seal
        self._label = label
        self._material = material
        self._lock = threading.Lock()
        self._handle: Any = None
        self._epoch = -1

    def __repr__(self) -> str:
        return f"HsmKey({self._label!r} in {self.seal.describe()})"

    def _key(self) -> Any:
        """The imported key, imported (again) if the HSM session was reset since."""
        with self._lock:
            if self._handle is None or self._epoch != self.seal.key_epoch():
                plain = self._material()
                try:
                    self._handle, self._epoch = self.seal.import_key(self._label, bytes(plain))
                except HsmUnavailable as exc:
                    raise Unavailable(f"this node's HSM cannot take the key: {exc}") from None
                finally:
                    wipe(plain)
            return self._handle

    def _gcm(self, *, encrypt: bool, nonce: bytes, data: bytes, aad: bytes) -> bytes | None:
        try:
            return self.seal.gcm(self._key(), encrypt=encrypt, nonce=nonce, data=data, aad=aad)
        except HsmUnavailable as exc:
            raise Unavailable(f"this node's HSM failed: {exc}; try another node") from None

    def encrypt(self, plaintext: BytesLike, associated_data: BytesLike) -> bytes:
        return self.encrypt_framed(b"", os.urandom(NONCE_SIZE), plaintext, associated_data)

    def encrypt_framed(
        self, prefix: bytes, nonce: bytes, plaintext: BytesLike, associated_data: BytesLike
    ) -> bytes:
        if len(nonce) != NONCE_SIZE:
            raise ValueError(f"nonce must be {NONCE_SIZE} bytes, got {len(nonce)}")
        sealed = self._gcm(encrypt=True, nonce=nonce, data=bytes(plaintext),
                           aad=bytes(associated_data))
        assert sealed is not None
        return b"".join((prefix, nonce, sealed))

    def decrypt(self, blob: BytesLike, associated_data: BytesLike) -> bytes:
        view = bytes(blob)
        if len(view) < NONCE_SIZE + 16:
            raise DecryptionFailed("ciphertext is too short")
        plain = self._gcm(encrypt=False, nonce=view[:NONCE_SIZE], data=view[NONCE_SIZE:],
                          aad=bytes(associated_data))
        if plain is None:
            raise DecryptionFailed("ciphertext does not authenticate")
        return plain

    def decrypt_secret(self, blob: BytesLike, associated_data: BytesLike) -> bytearray:
        return bytearray(self.decrypt(blob, associated_data))

    def close(self) -> None:
        """Removes the key from the token (when the node seals or the key is destroyed)."""
        with self._lock:
            handle, epoch, self._handle = self._handle, self._epoch, None
        if handle is not None:
            self.seal.destroy_key(handle, epoch)
