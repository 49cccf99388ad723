"""The barrier: the keyring that encrypts every key version's material before Raft.

Nothing but ciphertext of key material may reach the Raft log, snapshots or backups.
The proposer encrypts material with the keyring's active term; every node decrypts
with whichever term the ciphertext names, so rotating the keyring never requires
re-encrypting old entries.

Barrier ciphertext, format v2, made by `Keyring.encrypt` (integers big-endian)::

    0x02 ‖ term (4 bytes) ‖ salt (32) ‖ nonce (12) ‖ ciphertext ‖ tag (16)

    AAD   = the 5-byte header ‖ the caller's AAD
    K_msg = HMAC-SHA256(term key, "keymgr/barrier/v2" ‖ 0x00 ‖ salt ‖ AAD ‖ 0x01)

(the derived construction of `keymgr.crypto.aead`: a fresh key per ciphertext, so no
nonce-collision limit per term). Format v1, still opened, no longer made::

    0x01 ‖ term (4 bytes) ‖ nonce (12) ‖ ciphertext ‖ tag (16)    (GCM under the term key)

Callers bind what the bytes are for (see `material_aad`), so an entry moved to another
key or version fails to decrypt.

Layering: the root key wraps each term key (`wrap_term_key`, replicated in
`KeyringTerm.wrapped_key`); a node's seal, or the Shamir unseal key, wraps the root
key (`wrap_root_key`). When the root key is rotated, the new one is also wrapped by
the one before it (`root_successor_aad`), so nodes holding the old key follow.

Wrapped keys (`wrap_key`: term keys, root keys, the file seal's blob) have no header
of their own in v1, so the versions are told apart by shape::

    v2: 0x02 ‖ salt (32) ‖ nonce (12) ‖ wrapped key (32) ‖ tag (16)   exactly 93 bytes
        AAD = 0x02 ‖ the caller's AAD; label "keymgr/wrap/v2" ‖ 0x00
    v1: nonce (12) ‖ wrapped key ‖ tag (16)        (60 bytes for a 32-byte key)

Anything that is not exactly the v2 shape is read as v1, as before.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Mapping
from types import MappingProxyType

from keymgr.crypto.aead import (
    DERIVED_OVERHEAD,
    KEY_SIZE,
    NONCE_SIZE,
    OVERHEAD,
    SALT_SIZE,
    Aead,
    BytesLike,
    check_key,
    wipe,
)
from keymgr.crypto.errors import DecryptionFailed

__all__ = [
    "FORMAT",
    "FORMAT_V1",
    "FORMAT_V2",
    "LABEL_V2",
    "ROOT_KEY_AAD",
    "WRAPPED_KEY_SIZE",
    "WRAP_LABEL_V2",
    "Keyring",
    "material_aad",
    "root_successor_aad",
    "term_key_aad",
    "unwrap_key",
    "unwrap_root_key",
    "unwrap_term_key",
    "wrap_key",
    "wrap_root_key",
    "wrap_term_key",
]

FORMAT_V1 = 0x01
FORMAT_V2 = 0x02
FORMAT = FORMAT_V2  # what `Keyring.encrypt` and `wrap_key` make
LABEL_V2 = b"keymgr/barrier/v2\0"
WRAP_LABEL_V2 = b"keymgr/wrap/v2\0"
_HEADER = struct.Struct(">BI")
HEADER_SIZE = _HEADER.size  # 5
_MIN_SIZES = {FORMAT_V1: HEADER_SIZE + OVERHEAD, FORMAT_V2: HEADER_SIZE + DERIVED_OVERHEAD}
_WRAP_PREFIX = bytes([FORMAT_V2])
WRAPPED_KEY_SIZE = 1 + KEY_SIZE + DERIVED_OVERHEAD  # 93, format v2
_MAX_TERM = 0xFFFFFFFF
ROOT_KEY_AAD = b"keymgr/root-key"


def _check_term(term: int) -> None:
    if isinstance(term, bool) or not isinstance(term, int):
        raise TypeError("keyring term must be an int")
    if not 1 <= term <= _MAX_TERM:
        raise ValueError(f"keyring term must be between 1 and {_MAX_TERM}, got {term}")


class Keyring(Mapping[int, bytes]):
    """An immutable mapping term -> 32-byte barrier key, plus the active term.

    A value type, as OpenBao's keyring: `with_term` and `without_term` return new
    keyrings, so a reader never sees one half-updated. The keys are `bytes` and cannot
    be wiped; dropping every reference to a keyring is how a node forgets it.
    """

    __slots__ = ("_active_term", "_ciphers", "_keys")

    def __init__(self, keys: Mapping[int, BytesLike], active_term: int) -> None:
        checked: dict[int, bytes] = {}
        for term, key in keys.items():
            _check_term(term)
            check_key(key, f"key of keyring term {term}")
            checked[term] = bytes(key)
        _check_term(active_term)
        if active_term not in checked:
            raise ValueError(f"active keyring term {active_term} has no key")
        self._keys: Mapping[int, bytes] = MappingProxyType(checked)
        self._active_term = active_term
        self._ciphers = {term: Aead(key) for term, key in checked.items()}

    @property
    def active_term(self) -> int:
        """The term new ciphertexts are made with."""
        return self._active_term

    def __getitem__(self, term: int) -> bytes:
        return self._keys[term]

    def __iter__(self) -> Iterator[int]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"Keyring(terms={sorted(self._keys)}, active_term={self._active_term})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Keyring):
            return NotImplemented
        return self._active_term == other._active_term and dict(self._keys) == dict(other._keys)

    def __hash__(self) -> int:
        return hash((self._active_term, frozenset(self._keys)))

    def with_term(self, term: int, key: BytesLike) -> Keyring:
        """A keyring that also holds `term`; it becomes active if it is the newest.

        Installing the same bytes again is a no-op (a replayed rotation); a different
        key for an existing term raises ValueError, since it would orphan ciphertexts.
        """
        _check_term(term)
        check_key(key, f"key of keyring term {term}")
        existing = self._keys.get(term)
        if existing is not None:
            if existing != bytes(key):
                raise ValueError(f"keyring term {term} already holds a different key")
            return self
        keys: dict[int, BytesLike] = dict(self._keys)
        keys[term] = key
        return Keyring(keys, active_term=max(self._active_term, term))

    def without_term(self, term: int) -> Keyring:
        """A keyring without `term`; the active term cannot be removed."""
        if term == self._active_term:
            raise ValueError(f"keyring term {term} is active and cannot be removed")
        if term not in self._keys:
            return self
        keys: dict[int, BytesLike] = {t: k for t, k in self._keys.items() if t != term}
        return Keyring(keys, active_term=self._active_term)

    def encrypt(self, plaintext: BytesLike, aad: BytesLike) -> bytes:
        """Encrypts under the active term (format v2); the term travels in the header."""
        return self._encrypt_with(os.urandom(SALT_SIZE), os.urandom(NONCE_SIZE), plaintext, aad)

    def _encrypt_with(
        self, salt: bytes, nonce: bytes, plaintext: BytesLike, aad: BytesLike
    ) -> bytes:
        """`encrypt` with a fixed salt and nonce, for known-answer tests only."""
        header = _HEADER.pack(FORMAT_V2, self._active_term)
        return self._ciphers[self._active_term].encrypt_derived(
            header, LABEL_V2, salt, nonce, plaintext, b"".join((header, aad))
        )

    def decrypt(self, blob: BytesLike, aad: BytesLike) -> bytes:
        """Decrypts with the term the blob names; DecryptionFailed for any failure."""
        version, cipher = self._cipher_for(blob)
        body = memoryview(blob)[HEADER_SIZE:]
        if version == FORMAT_V1:
            return cipher.decrypt(body, _aad(blob, aad))
        return cipher.decrypt_derived(body, LABEL_V2, _aad(blob, aad))

    def decrypt_secret(self, blob: BytesLike, aad: BytesLike) -> bytearray:
        """`decrypt` into a wipeable bytearray, for plaintexts that are key material."""
        version, cipher = self._cipher_for(blob)
        body = memoryview(blob)[HEADER_SIZE:]
        if version == FORMAT_V1:
            return cipher.decrypt_secret(body, _aad(blob, aad))
        return cipher.decrypt_derived_secret(body, LABEL_V2, _aad(blob, aad))

    def _cipher_for(self, blob: BytesLike) -> tuple[int, Aead]:
        if len(blob) < HEADER_SIZE:
            raise DecryptionFailed("barrier ciphertext is truncated")
        version, term = _HEADER.unpack_from(blob)
        minimum = _MIN_SIZES.get(version)
        if minimum is None:
            raise DecryptionFailed(f"unknown barrier format version {version}")
        if len(blob) < minimum:
            raise DecryptionFailed("barrier ciphertext is truncated")
        cipher = self._ciphers.get(term)
        if cipher is None:
            raise DecryptionFailed(f"unknown keyring term {term}")
        return version, cipher


def _aad(blob: BytesLike, aad: BytesLike) -> bytes:
    return b"".join((memoryview(blob)[:HEADER_SIZE], aad))


def material_aad(key_id: str, version: int) -> bytes:
    """AAD binding barrier-encrypted material to its key id and version.

    Unambiguous because the version is last and all digits.
    """
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError("key version must be a non-negative int")
    return f"keymgr/key/{key_id}/{version}".encode()


def term_key_aad(term: int) -> bytes:
    """AAD binding a wrapped term key to its term, so terms cannot be swapped."""
    _check_term(term)
    return f"keymgr/keyring/term/{term}".encode()


def root_successor_aad(generation: int) -> bytes:
    """AAD for the root key of `generation` wrapped by the one before it: a link of one
    rotation cannot be replayed as another's."""
    if isinstance(generation, bool) or not isinstance(generation, int) or generation < 1:
        raise ValueError("root generation of a successor must be an int >= 1")
    return f"keymgr/root-key/successor/{generation}".encode()


def wrap_key(kek: BytesLike | Aead, key: BytesLike, aad: BytesLike) -> bytes:
    """A 32-byte key wrapped under a long-lived key-encryption key (format v2, 93 bytes).

    The caller checks `key`'s length (with its own name for it) before calling.
    """
    return _wrap_key_with(os.urandom(SALT_SIZE), os.urandom(NONCE_SIZE), kek, key, aad)


def _wrap_key_with(
    salt: bytes, nonce: bytes, kek: BytesLike | Aead, key: BytesLike, aad: BytesLike
) -> bytes:
    """`wrap_key` with a fixed salt and nonce, for known-answer tests only."""
    cipher = kek if isinstance(kek, Aead) else Aead(kek)
    return cipher.encrypt_derived(
        _WRAP_PREFIX, WRAP_LABEL_V2, salt, nonce, key, b"".join((_WRAP_PREFIX, aad))
    )


def unwrap_key(kek: BytesLike | Aead, wrapped: BytesLike, aad: BytesLike) -> bytearray:
    """Inverse of `wrap_key`, also for v1 blobs, into a bytearray the caller wipes.

    DecryptionFailed if it does not authenticate. The caller checks the length.
    """
    cipher = kek if isinstance(kek, Aead) else Aead(kek)
    view = memoryview(wrapped)
    if len(view) == WRAPPED_KEY_SIZE and view[0] == FORMAT_V2:
        return cipher.decrypt_derived_secret(view[1:], WRAP_LABEL_V2, b"".join((_WRAP_PREFIX, aad)))
    return cipher.decrypt_secret(view, aad)  # format v1: nonce ‖ ciphertext ‖ tag


def wrap_term_key(root_key: BytesLike, term: int, term_key: BytesLike) -> bytes:
    """The term key encrypted under the root key, for `KeyringTerm.wrapped_key`."""
    check_key(term_key, "keyring term key")
    return wrap_key(root_key, term_key, term_key_aad(term))


def unwrap_term_key(root_key: BytesLike, term: int, wrapped: BytesLike) -> bytes:
    """Inverse of `wrap_term_key`; DecryptionFailed if the root key or term is wrong."""
    key = unwrap_key(root_key, wrapped, term_key_aad(term))
    try:
        if len(key) != KEY_SIZE:
            raise DecryptionFailed(f"wrapped key of keyring term {term} has the wrong length")
        return bytes(key)
    finally:
        wipe(key)


def wrap_root_key(kek: BytesLike, root_key: BytesLike, aad: bytes = ROOT_KEY_AAD) -> bytes:
    """The root key encrypted under a key-encryption key (a seal's or the unseal key)."""
    check_key(root_key, "root key")
    return wrap_key(kek, root_key, aad)


def unwrap_root_key(kek: BytesLike, wrapped: BytesLike, aad: bytes = ROOT_KEY_AAD) -> bytearray:
    """Inverse of `wrap_root_key`, into a bytearray the caller wipes after use."""
    root = unwrap_key(kek, wrapped, aad)
    if len(root) != KEY_SIZE:
        wipe(root)
        raise DecryptionFailed("wrapped root key has the wrong length")
    return root


def import_key_aad(key_id: str, token_id: str) -> bytes:
    """AAD binding a barrier-encrypted RSA wrapping key to its key and import token."""
    return f"keymgr/import-key/{key_id}/{token_id}".encode()
