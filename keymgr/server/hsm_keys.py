"""Managed keys whose encryption runs inside this node's HSM (key purpose HSM).

For customers whose rules say "all crypto in hardware": the key version's material is
replicated only barrier-encrypted, decrypted on the node just long enough to be put
into the token as a sensitive, non-extractable session key, and every AES-256-GCM
operation with it then runs in the HSM, under a per-message key the HSM derives from
it. The ciphertext format is the same envelope as for software keys. `HsmKey` has the
`Aead` interface, so the envelope code does not know the difference. Honest limits: the
material passes through the node's memory once per import (it must: it is replicated,
and each node has its own HSM), and each per-message key passes through it once (the
HSM computes it with HMAC and takes it back for the GCM operation; PKCS#11 2.40 HSMs
such as SoftHSM have no HKDF derive mechanism that would keep it inside). An HSM that
fails raises `HsmUnavailable`, which the server's error table answers UNAVAILABLE ("try
another node": each node has its own HSM).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from keymgr.crypto.aead import (
    DERIVED_OVERHEAD,
    NONCE_SIZE,
    SALT_SIZE,
    Aead,
    BytesLike,
    message_key_input,
    wipe,
)
from keymgr.crypto.errors import DecryptionFailed
from keymgr.seal.pkcs11 import Pkcs11Seal

MaterialSource = Callable[[], bytearray]


class HsmKey(Aead):
    """AES-256-GCM with one key version's material held in this node's HSM.

    New ciphertexts use the derived construction (`keymgr.crypto.aead`): the token
    computes each message's key as HMAC-SHA256 of the version key it holds (imported as
    a sign-only generic secret), and the GCM operation runs in the token under that
    per-message key (`Pkcs11Seal.derived_gcm`). Envelopes of format v1 (GCM directly
    under the version key) are still opened, with the version key imported as an
    encrypt/decrypt AES key on first need; nothing encrypts that way any more.
    """

    def __init__(self, seal: Pkcs11Seal, label: str, material: MaterialSource) -> None:
        # no software key: Aead's cipher and PRF are never built
        self.seal = seal
        self._label = label
        self._material = material
        self._lock = threading.Lock()
        self._handles: dict[bool, tuple[Any, int]] = {}  # prf? -> (handle, epoch)

    def __repr__(self) -> str:
        return f"HsmKey({self._label!r} in {self.seal.describe()})"

    def _key(self, *, prf: bool = False) -> Any:
        """The imported key (the PRF or the AES object), imported (again) if the HSM
        session was reset since."""
        with self._lock:
            held = self._handles.get(prf)
            if held is None or held[1] != self.seal.key_epoch():
                plain = self._material()
                label = f"{self._label}/prf" if prf else self._label
                try:
                    held = self._handles[prf] = self.seal.import_key(label, bytes(plain), prf=prf)
                finally:
                    wipe(plain)
            return held[0]

    def message_key(self, label: bytes, salt: BytesLike, associated_data: BytesLike) -> bytes:
        raise TypeError("an HSM key's per-message keys are made and used inside the HSM")

    def encrypt(self, plaintext: BytesLike, associated_data: BytesLike) -> bytes:
        raise TypeError("HSM keys encrypt only under per-message keys (encrypt_derived)")

    def encrypt_framed(
        self, prefix: bytes, nonce: bytes, plaintext: BytesLike, associated_data: BytesLike
    ) -> bytes:
        raise TypeError("HSM keys encrypt only under per-message keys (encrypt_derived)")

    def encrypt_derived(
        self,
        prefix: bytes,
        label: bytes,
        salt: bytes,
        nonce: bytes,
        plaintext: BytesLike,
        associated_data: BytesLike,
    ) -> bytes:
        if len(nonce) != NONCE_SIZE:
            raise ValueError(f"nonce must be {NONCE_SIZE} bytes, got {len(nonce)}")
        info = message_key_input(label, salt, associated_data)
        sealed = self.seal.derived_gcm(
            self._key(prf=True),
            info=info,
            encrypt=True,
            nonce=nonce,
            data=bytes(plaintext),
            aad=bytes(associated_data),
        )
        assert sealed is not None
        return b"".join((prefix, salt, nonce, sealed))

    def decrypt_derived(self, body: BytesLike, label: bytes, associated_data: BytesLike) -> bytes:
        view = bytes(body)
        if len(view) < DERIVED_OVERHEAD:
            raise DecryptionFailed("ciphertext is too short")
        salt, nonce = view[:SALT_SIZE], view[SALT_SIZE : SALT_SIZE + NONCE_SIZE]
        plain = self.seal.derived_gcm(
            self._key(prf=True),
            info=message_key_input(label, salt, associated_data),
            encrypt=False,
            nonce=nonce,
            data=view[SALT_SIZE + NONCE_SIZE :],
            aad=bytes(associated_data),
        )
        if plain is None:
            raise DecryptionFailed("ciphertext does not authenticate")
        return plain

    def decrypt_derived_secret(
        self, body: BytesLike, label: bytes, associated_data: BytesLike
    ) -> bytearray:
        return bytearray(self.decrypt_derived(body, label, associated_data))

    def decrypt(self, blob: BytesLike, associated_data: BytesLike) -> bytes:
        """Opens a format-v1 blob (nonce ‖ ciphertext ‖ tag under the version key)."""
        view = bytes(blob)
        if len(view) < NONCE_SIZE + 16:
            raise DecryptionFailed("ciphertext is too short")
        plain = self.seal.gcm(
            self._key(),
            encrypt=False,
            nonce=view[:NONCE_SIZE],
            data=view[NONCE_SIZE:],
            aad=bytes(associated_data),
        )
        if plain is None:
            raise DecryptionFailed("ciphertext does not authenticate")
        return plain

    def decrypt_secret(self, blob: BytesLike, associated_data: BytesLike) -> bytearray:
        return bytearray(self.decrypt(blob, associated_data))

    def close(self) -> None:
        """Removes the keys from the token (when the node seals or the key is destroyed)."""
        with self._lock:
            held, self._handles = self._handles, {}
        for handle, epoch in held.values():
            self.seal.destroy_key(handle, epoch)
