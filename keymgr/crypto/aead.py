"""AES-256-GCM: the one AEAD every other layer uses, directly or under per-message keys.

Two constructions:

- Direct (`encrypt`/`decrypt`): nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes) under
  the key itself, with a random 96-bit nonce. Random nonces bound one key to about
  2**32 messages (NIST SP 800-38D, section 8.3), and nothing counts them, so this is
  only for keys that encrypt a handful of messages in their life (one-shot exchange
  keys) and for opening format-v1 blobs made before the derived construction.
- Derived (`encrypt_derived`/`decrypt_derived`), for every long-lived key: each
  message gets its own AES-256 key

      K_msg = HMAC-SHA256(K, label ‖ salt ‖ AAD ‖ 0x01)
            = HKDF-Expand-SHA256(PRK = K, info = label ‖ salt ‖ AAD, L = 32)

  with a fresh random 256-bit salt, and the blob is salt (32) ‖ nonce (12) ‖
  ciphertext ‖ tag (16) under K_msg and a random nonce, with the same AAD. K is
  already a uniformly random 256-bit key, so HKDF's extract step is skipped (RFC 5869,
  section 3.3) and HMAC keyed by K is the PRF; that is also what an HSM can compute
  with a key it will not reveal (CKM_SHA256_HMAC), so software and HSM keys share one
  construction. `label` names format and purpose and ends in NUL, so no label is a
  prefix of another; the salt has a fixed size; the AAD is the rest. The per-message
  key therefore binds everything the AAD binds (format byte, key id and version or
  term, encryption context), in addition to GCM authenticating the AAD itself.
  Bound: two messages share a GCM key only if their 256-bit salts (or HMAC outputs)
  collide, probability at most q**2 / 2**256 for q messages under one K (2**-128 at
  q = 2**64), and even then their random nonces must collide too. No usage limit per
  key is needed; rotation is for policy, not for the cipher.

Every authentication failure, and a blob too short to hold what its construction
needs, raises `DecryptionFailed`.

Key copies: `AESGCM(key)` copies the key into OpenSSL's context, which is freed (not
necessarily zeroed by Python) when the object is garbage collected. Callers that hold
key material in a `bytearray` may pass it directly and wipe it afterwards.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keymgr.crypto.errors import DecryptionFailed

__all__ = [
    "DERIVED_OVERHEAD",
    "KEY_SIZE",
    "NONCE_SIZE",
    "OVERHEAD",
    "SALT_SIZE",
    "TAG_SIZE",
    "Aead",
    "BytesLike",
    "check_key",
    "decrypt",
    "encrypt",
    "message_key_input",
    "wipe",
]

BytesLike = bytes | bytearray | memoryview

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
OVERHEAD = NONCE_SIZE + TAG_SIZE
SALT_SIZE = 32
DERIVED_OVERHEAD = SALT_SIZE + NONCE_SIZE + TAG_SIZE
_COUNTER = b"\x01"  # HKDF-Expand's first (and only) block counter


def check_key(key: BytesLike, what: str = "AES-256-GCM key") -> None:
    """Raises ValueError/TypeError for a key of the wrong type or length (never its bytes)."""
    if not isinstance(key, bytes | bytearray | memoryview):
        raise TypeError(f"{what} must be bytes-like, got {type(key).__name__}")
    if len(key) != KEY_SIZE:
        raise ValueError(f"{what} must be {KEY_SIZE} bytes, got {len(key)}")


def message_key_input(label: bytes, salt: BytesLike, associated_data: BytesLike) -> bytes:
    """What HMAC-SHA256 keyed by the long-lived key turns into the per-message key:
    label ‖ salt ‖ AAD ‖ 0x01 (HKDF-Expand's info and block counter)."""
    if not label.endswith(b"\0"):
        raise ValueError("a derivation label must end in NUL")
    if len(salt) != SALT_SIZE:
        raise ValueError(f"salt must be {SALT_SIZE} bytes, got {len(salt)}")
    return b"".join((label, salt, associated_data, _COUNTER))


def _split_derived(body: BytesLike) -> tuple[memoryview, memoryview, memoryview]:
    """(salt, nonce, ciphertext ‖ tag) of a derived-construction body."""
    view = memoryview(body)
    if len(view) < DERIVED_OVERHEAD:
        raise DecryptionFailed()
    return (
        view[:SALT_SIZE],
        view[SALT_SIZE : SALT_SIZE + NONCE_SIZE],
        view[SALT_SIZE + NONCE_SIZE :],
    )


def wipe(buffer: bytearray | memoryview) -> None:
    """Overwrites a mutable buffer with zeros (the best Python allows for erasure)."""
    buffer[:] = bytes(len(buffer))


class Aead:
    """AES-256-GCM under one key, holding the cipher and PRF objects so hot paths can
    reuse them (both keep their key inside OpenSSL, not in a Python object)."""

    __slots__ = ("_cipher", "_prf")

    def __init__(self, key: BytesLike) -> None:
        check_key(key)
        self._cipher = AESGCM(key)
        self._prf = hmac.HMAC(key, hashes.SHA256())

    def __repr__(self) -> str:
        return "Aead(<AES-256-GCM key>)"

    def encrypt(self, plaintext: BytesLike, associated_data: BytesLike) -> bytes:
        """Returns nonce ‖ ciphertext ‖ tag under a fresh random nonce."""
        return self.encrypt_framed(b"", os.urandom(NONCE_SIZE), plaintext, associated_data)

    def encrypt_framed(
        self, prefix: bytes, nonce: bytes, plaintext: BytesLike, associated_data: BytesLike
    ) -> bytes:
        """Hazmat: prefix ‖ nonce ‖ ciphertext ‖ tag under a caller-chosen nonce.

        For framing layers (envelope, barrier) that put a header in front without an
        extra copy, and for known-answer tests. Reusing a nonce under a key breaks GCM:
        production callers pass `os.urandom(NONCE_SIZE)`.
        """
        if len(nonce) != NONCE_SIZE:
            raise ValueError(f"nonce must be {NONCE_SIZE} bytes, got {len(nonce)}")
        return b"".join((prefix, nonce, self._cipher.encrypt(nonce, plaintext, associated_data)))

    def decrypt(self, blob: BytesLike, associated_data: BytesLike) -> bytes:
        """Authenticates and decrypts nonce ‖ ciphertext ‖ tag; DecryptionFailed otherwise."""
        view = memoryview(blob)
        if len(view) < OVERHEAD:
            raise DecryptionFailed()
        try:
            return self._cipher.decrypt(view[:NONCE_SIZE], view[NONCE_SIZE:], associated_data)
        except InvalidTag:
            raise DecryptionFailed() from None

    def message_key(self, label: bytes, salt: BytesLike, associated_data: BytesLike) -> bytes:
        """The per-message key of the derived construction (see the module docstring).

        A `bytes` object (Python cannot wipe it); it protects this one message only.
        """
        prf = self._prf.copy()
        prf.update(message_key_input(label, salt, associated_data))
        return prf.finalize()

    def encrypt_derived(
        self,
        prefix: bytes,
        label: bytes,
        salt: bytes,
        nonce: bytes,
        plaintext: BytesLike,
        associated_data: BytesLike,
    ) -> bytes:
        """Hazmat: prefix ‖ salt ‖ nonce ‖ ciphertext ‖ tag under a per-message key.

        Production callers pass `os.urandom(SALT_SIZE)` and `os.urandom(NONCE_SIZE)`;
        fixed values are for known-answer tests only.
        """
        if len(nonce) != NONCE_SIZE:
            raise ValueError(f"nonce must be {NONCE_SIZE} bytes, got {len(nonce)}")
        key = self.message_key(label, salt, associated_data)
        sealed = AESGCM(key).encrypt(nonce, plaintext, associated_data)
        return b"".join((prefix, salt, nonce, sealed))

    def decrypt_derived(self, body: BytesLike, label: bytes, associated_data: BytesLike) -> bytes:
        """Authenticates and decrypts salt ‖ nonce ‖ ciphertext ‖ tag; DecryptionFailed
        otherwise."""
        salt, nonce, sealed = _split_derived(body)
        cipher = AESGCM(self.message_key(label, salt, associated_data))
        try:
            return cipher.decrypt(nonce, sealed, associated_data)
        except InvalidTag:
            raise DecryptionFailed() from None

    def decrypt_derived_secret(
        self, body: BytesLike, label: bytes, associated_data: BytesLike
    ) -> bytearray:
        """`decrypt_derived` into a `bytearray` the caller can wipe (wiped on failure)."""
        salt, nonce, sealed = _split_derived(body)
        cipher = AESGCM(self.message_key(label, salt, associated_data))
        out = bytearray(len(sealed) - TAG_SIZE)
        try:
            cipher.decrypt_into(nonce, sealed, associated_data, out)
        except InvalidTag:
            wipe(out)
            raise DecryptionFailed() from None
        return out

    def decrypt_secret(self, blob: BytesLike, associated_data: BytesLike) -> bytearray:
        """Like `decrypt`, into a `bytearray` the caller can wipe: use it for key material.

        GCM writes plaintext before the tag is checked, so on failure the buffer is wiped
        before `DecryptionFailed` is raised.
        """
        view = memoryview(blob)
        if len(view) < OVERHEAD:
            raise DecryptionFailed()
        out = bytearray(len(view) - OVERHEAD)
        try:
            self._cipher.decrypt_into(view[:NONCE_SIZE], view[NONCE_SIZE:], associated_data, out)
        except InvalidTag:
            wipe(out)
            raise DecryptionFailed() from None
        return out


def encrypt(key: BytesLike, plaintext: BytesLike, associated_data: BytesLike) -> bytes:
    """One-shot `Aead(key).encrypt(...)`: nonce ‖ ciphertext ‖ tag."""
    return Aead(key).encrypt(plaintext, associated_data)


def decrypt(key: BytesLike, blob: BytesLike, associated_data: BytesLike) -> bytes:
    """One-shot `Aead(key).decrypt(...)`; raises DecryptionFailed."""
    return Aead(key).decrypt(blob, associated_data)
