"""The client-facing, self-describing ciphertext of Encrypt and GenerateDataKey.

Format v2, made by `seal` (all integers big-endian)::

    0x02 ‖ key id (16 bytes) ‖ key version (4 bytes)
         ‖ salt (32) ‖ nonce (12) ‖ ciphertext ‖ tag (16)

    AAD   = header (the first 21 bytes) ‖ canonical encryption context
    K_msg = HMAC-SHA256(version key, "keymgr/envelope/v2" ‖ 0x00 ‖ salt ‖ AAD ‖ 0x01)
    ciphertext ‖ tag = AES-256-GCM(K_msg, nonce, plaintext, AAD)

i.e. the derived construction of `keymgr.crypto.aead` (HKDF-Expand-SHA256 with the
version key as PRK): every message has its own key, so there is no nonce-collision
limit per key version (bound: q**2 / 2**256 for q messages).

Format v1, still opened, no longer made (GCM directly under the version key)::

    0x01 ‖ key id (16 bytes) ‖ key version (4 bytes) ‖ nonce (12) ‖ ciphertext ‖ tag (16)

    AAD = header ‖ canonical encryption context

The header names the key, so Decrypt needs no key name. In both formats it is bound
into the AAD, and in v2 also into the per-message key, so a blob moved to another key
or version, relabelled to another format, or opened with another context, fails
authentication.

The header can be read before the key is known (`read_unverified_header`), and is
then untrusted until `open` has authenticated it.
"""

from __future__ import annotations

import functools
import os
import struct
from collections.abc import Mapping
from typing import NamedTuple

from keymgr.crypto.aead import NONCE_SIZE, SALT_SIZE, TAG_SIZE, Aead, BytesLike
from keymgr.crypto.errors import MalformedCiphertext

__all__ = [
    "FORMAT",
    "FORMAT_V1",
    "FORMAT_V2",
    "HEADER_SIZE",
    "LABEL_V2",
    "MIN_SIZE",
    "MIN_SIZE_V1",
    "EnvelopeHeader",
    "canonical_context",
    "key_id_from_bytes",
    "key_id_to_bytes",
    "open",
    "open_parsed",
    "read_unverified_header",
    "seal",
]

FORMAT_V1 = 0x01
FORMAT_V2 = 0x02
FORMAT = FORMAT_V2  # what `seal` makes
LABEL_V2 = b"keymgr/envelope/v2\0"
_HEADER = struct.Struct(">B16sI")
HEADER_SIZE = _HEADER.size  # 21
MIN_SIZE_V1 = HEADER_SIZE + NONCE_SIZE + TAG_SIZE  # 49
MIN_SIZE = HEADER_SIZE + SALT_SIZE + NONCE_SIZE + TAG_SIZE  # 81, format v2
_MIN_SIZES = {FORMAT_V1: MIN_SIZE_V1, FORMAT_V2: MIN_SIZE}
_MAX_VERSION = 0xFFFFFFFF
_LENGTH = struct.Struct(">I")
_HEX = frozenset("0123456789abcdef")


class EnvelopeHeader(NamedTuple):
    """What a ciphertext says about itself: unauthenticated until `open` succeeds.

    A named tuple: read on every decrypt, and a tuple is built several times faster than
    a frozen dataclass."""

    format_version: int
    key_id: str
    key_version: int


def key_id_to_bytes(key_id: str) -> bytes:
    """The 16 raw bytes of a key id (32 lowercase hex characters, as uuid4().hex)."""
    if not isinstance(key_id, str) or len(key_id) != 32 or not _HEX.issuperset(key_id):
        raise ValueError("key id must be 32 lowercase hexadecimal characters")
    return bytes.fromhex(key_id)


def key_id_from_bytes(raw: bytes) -> str:
    """Inverse of `key_id_to_bytes`."""
    if len(raw) != 16:
        raise ValueError(f"raw key id must be 16 bytes, got {len(raw)}")
    return raw.hex()


def canonical_context(context: Mapping[str, str]) -> bytes:
    """The encryption context as bytes that do not depend on map order.

    Entries sorted by key (code point order, which equals UTF-8 byte order); each key
    and value as a 4-byte big-endian length and its UTF-8 bytes. The empty map is b"".
    Length prefixes make the encoding injective: no two maps encode alike.
    """
    if not context:
        return b""
    parts: list[bytes] = []
    pack = _LENGTH.pack
    for key in sorted(context):
        value = context[key]
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError("encryption context keys and values must be str")
        try:
            raw_key, raw_value = key.encode("utf-8"), value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("encryption context holds a string that is not UTF-8") from None
        parts += (pack(len(raw_key)), raw_key, pack(len(raw_value)), raw_value)
    return b"".join(parts)


# a key id and version are sealed under again and again; typed: True is not 1
@functools.lru_cache(maxsize=4096, typed=True)
def _header(format_version: int, key_id: str, key_version: int) -> bytes:
    if isinstance(key_version, bool) or not isinstance(key_version, int):
        raise TypeError("key version must be an int")
    if not 1 <= key_version <= _MAX_VERSION:
        raise ValueError(f"key version must be between 1 and {_MAX_VERSION}, got {key_version}")
    return _HEADER.pack(format_version, key_id_to_bytes(key_id), key_version)


def seal(
    material: BytesLike | Aead,
    key_id: str,
    key_version: int,
    plaintext: BytesLike,
    context: Mapping[str, str],
) -> bytes:
    """Encrypts `plaintext` under one key version's material (format v2), binding the
    context.

    `material` is the version's 32-byte key, or an `Aead` made from it (hot paths that
    keep one per key version skip the key schedule and HMAC setup on every call).
    """
    fresh = os.urandom(SALT_SIZE + NONCE_SIZE)  # one call for both
    return _seal_with(
        fresh[:SALT_SIZE],
        fresh[SALT_SIZE:],
        material,
        key_id,
        key_version,
        plaintext,
        context,
    )


def _seal_with(
    salt: bytes,
    nonce: bytes,
    material: BytesLike | Aead,
    key_id: str,
    key_version: int,
    plaintext: BytesLike,
    context: Mapping[str, str],
) -> bytes:
    """`seal` with a fixed salt and nonce, for known-answer tests only."""
    header = _header(FORMAT_V2, key_id, key_version)
    return _cipher(material).encrypt_derived(
        header, LABEL_V2, salt, nonce, plaintext, header + canonical_context(context)
    )


def _seal_v1_with_nonce(
    nonce: bytes,
    material: BytesLike | Aead,
    key_id: str,
    key_version: int,
    plaintext: BytesLike,
    context: Mapping[str, str],
) -> bytes:
    """A format-v1 blob with a fixed nonce: for the v1 known-answer tests only.

    Nothing in keymgr makes v1 blobs any more (nonce reuse under a long-lived key
    breaks GCM; see the module docstring).
    """
    header = _header(FORMAT_V1, key_id, key_version)
    return _cipher(material).encrypt_framed(
        header, nonce, plaintext, header + canonical_context(context)
    )


def read_unverified_header(blob: BytesLike) -> EnvelopeHeader:
    """Parses the header to find the key; the result is untrusted until `open` succeeds."""
    if len(blob) < 1:
        raise MalformedCiphertext("ciphertext is empty")
    minimum = _MIN_SIZES.get(blob[0])
    if minimum is None:
        raise MalformedCiphertext(f"unknown ciphertext format version {blob[0]}")
    if len(blob) < minimum:
        raise MalformedCiphertext("ciphertext is truncated")
    version, raw_id, key_version = _HEADER.unpack_from(blob)
    return EnvelopeHeader(version, bytes(raw_id).hex(), key_version)


def open(material: BytesLike | Aead, blob: BytesLike, context: Mapping[str, str]) -> bytes:
    """Authenticates and decrypts a sealed blob.

    `material` as for `seal`. Raises MalformedCiphertext if the blob cannot be parsed,
    DecryptionFailed if it does not authenticate under `material` and `context` (for
    any reason).
    """
    return open_parsed(material, blob, read_unverified_header(blob), context)


def open_parsed(
    material: BytesLike | Aead, blob: BytesLike, header: EnvelopeHeader, context: Mapping[str, str]
) -> bytes:
    """`open` of a blob whose header the caller has just read (`read_unverified_header`
    of this same blob): it is not parsed twice on the decrypt path."""
    view = memoryview(blob)
    aad = b"".join((view[:HEADER_SIZE], canonical_context(context)))
    if header.format_version == FORMAT_V1:
        return _cipher(material).decrypt(view[HEADER_SIZE:], aad)
    return _cipher(material).decrypt_derived(view[HEADER_SIZE:], LABEL_V2, aad)


def _cipher(material: BytesLike | Aead) -> Aead:
    return material if isinstance(material, Aead) else Aead(material)
