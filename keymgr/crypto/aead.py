"""AES-256-GCM with random 96-bit nonces: the one AEAD every other layer uses.

Blob layout: nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes).

Random nonces are safe for up to about 2**32 encryptions under one key (NIST SP
800-38D, section 8.3); keys here are rotated long before that. Every authentication
failure, and a blob too short to hold a nonce and a tag, raises `DecryptionFailed`.

Key copies: `AESGCM(key)` copies the key into OpenSSL's context, which is freed (not
necessarily zeroed by Python) when the object is garbage collected. Callers that hold
key material in a `bytearray` may pass it directly and wipe it afterwards.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keymgr.crypto.errors import DecryptionFailed

__all__ = [
    "KEY_SIZE",
    "NONCE_SIZE",
    "OVERHEAD",
    "TAG_SIZE",
    "Aead",
    "BytesLike",
    "check_key",
    "decrypt",
    "encrypt",
    "wipe",
]

BytesLike = bytes | bytearray | memoryview

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
OVERHEAD = NONCE_SIZE + TAG_SIZE


def check_key(key: BytesLike, what: str = "AES-256-GCM key") -> None:
    """Raises ValueError/TypeError for a key of the wrong type or length (never its bytes)."""
    if not isinstance(key, bytes | bytearray | memoryview):
        raise TypeError(f"{what} must be bytes-like, got {type(key).__name__}")
    if len(key) != KEY_SIZE:
        raise ValueError(f"{what} must be {KEY_SIZE} bytes, got {len(key)}")


def wipe(buffer: bytearray | memoryview) -> None:
    """Overwrites a mutable buffer with zeros (the best Python allows for erasure)."""
    buffer[:] = bytes(len(buffer))


class Aead:
    """AES-256-GCM under one key, holding the cipher object so hot paths can reuse it."""

    __slots__ = ("_cipher",)

    def __init__(self, key: BytesLike) -> None:
        check_key(key)
        self._cipher = AESGCM(key)

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
