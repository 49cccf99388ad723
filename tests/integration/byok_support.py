"""Shared by the BYOK tests (import and export): the client envelope v2 opened outside
keymgr, written from docs/architecture.md, so material is checked by an independent path."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def open_envelope_v2(secret: bytes, blob: bytes, context: bytes = b"") -> bytes:
    """docs/architecture.md, "Ciphertext formats", client envelope format v2, written
    from the document: K_msg = HMAC-SHA256(K, label ‖ salt ‖ AAD ‖ 0x01)."""
    assert blob[0] == 2
    header, salt, nonce, sealed = blob[:21], blob[21:53], blob[53:65], blob[65:]
    aad = header + context
    mac = hmac.HMAC(secret, hashes.SHA256())
    mac.update(b"keymgr/envelope/v2\0" + salt + aad + b"\x01")
    return AESGCM(mac.finalize()).decrypt(nonce, sealed, aad)
