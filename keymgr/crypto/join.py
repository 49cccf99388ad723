"""Secure join: the root key sent from an unsealed peer to a joining node, never in clear.

The joiner makes an ephemeral X25519 key pair and sends the public half (over mTLS,
with its node certificate). The peer makes its own ephemeral pair, derives a key with
HKDF-SHA256 from the X25519 shared secret, and seals the root key with AES-256-GCM.
Both the HKDF salt and the GCM AAD are the transcript hash: SHA-256 over a label, the
joiner's and the peer's node ids, the join token id and both public keys, each
length-prefixed. A response replayed to another joiner, sent under another peer's name,
or for another token does not open. Ephemeral keys are dropped after one exchange, so
a later compromise of either node's certificate key reveals nothing (forward secrecy).
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from keymgr.crypto.aead import KEY_SIZE, OVERHEAD, Aead, BytesLike, check_key
from keymgr.crypto.errors import DecryptionFailed

__all__ = ["JoinKeyPair", "open_root_key", "seal_root_key", "transcript_hash"]

_LABEL = b"keymgr/join/v1"
PUBLIC_KEY_SIZE = 32


def _public_bytes(key: X25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def transcript_hash(
    *, joiner_id: str, peer_id: str, token_id: str, joiner_public: bytes, peer_public: bytes
) -> bytes:
    """SHA-256 of everything both sides must agree on, length-prefixed (no ambiguity)."""
    digest = hashlib.sha256(_LABEL)
    for part in (
        joiner_id.encode(),
        peer_id.encode(),
        token_id.encode(),
        joiner_public,
        peer_public,
    ):
        digest.update(len(part).to_bytes(4, "big"))
        digest.update(part)
    return digest.digest()


def _key(shared: bytes, transcript: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_SIZE, salt=transcript, info=_LABEL + b"/root-key"
    ).derive(shared)


def _peer_key(raw: bytes) -> X25519PublicKey:
    if len(raw) != PUBLIC_KEY_SIZE:
        raise ValueError(f"public key must be {PUBLIC_KEY_SIZE} bytes, got {len(raw)}")
    return X25519PublicKey.from_public_bytes(raw)


class JoinKeyPair:
    """The joiner's ephemeral key pair, for one exchange."""

    def __init__(self) -> None:
        self._private = X25519PrivateKey.generate()
        self.public = _public_bytes(self._private.public_key())

    def __repr__(self) -> str:
        return "JoinKeyPair(<ephemeral>)"

    def open(
        self, *, joiner_id: str, peer_id: str, token_id: str, peer_public: bytes, sealed: bytes
    ) -> bytearray:
        """The root key from the peer's answer; DecryptionFailed if anything differs."""
        try:
            shared = self._private.exchange(_peer_key(peer_public))
        except ValueError as exc:
            raise DecryptionFailed(f"bad peer public key: {exc}") from None
        transcript = transcript_hash(
            joiner_id=joiner_id,
            peer_id=peer_id,
            token_id=token_id,
            joiner_public=self.public,
            peer_public=peer_public,
        )
        return open_root_key(_key(shared, transcript), transcript, sealed)


def seal_root_key(
    root_key: BytesLike, *, joiner_id: str, peer_id: str, token_id: str, joiner_public: bytes
) -> tuple[bytes, bytes]:
    """(peer public key, nonce | ciphertext+tag): the peer's side of the exchange."""
    check_key(root_key, "root key")
    private = X25519PrivateKey.generate()
    peer_public = _public_bytes(private.public_key())
    shared = private.exchange(_peer_key(joiner_public))
    transcript = transcript_hash(
        joiner_id=joiner_id,
        peer_id=peer_id,
        token_id=token_id,
        joiner_public=joiner_public,
        peer_public=peer_public,
    )
    return peer_public, Aead(_key(shared, transcript)).encrypt(root_key, transcript)


def open_root_key(key: bytes, transcript: bytes, sealed: bytes) -> bytearray:
    if len(sealed) != KEY_SIZE + OVERHEAD:
        raise DecryptionFailed("sealed root key has the wrong length")
    try:
        return Aead(key).decrypt_secret(sealed, transcript)
    except DecryptionFailed:
        raise DecryptionFailed("the sealed root key does not open for this exchange") from None
