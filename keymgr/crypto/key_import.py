"""Key import (BYOK): RSA wrapping keys, unwrapping imported material, import tokens.

The two wrapping schemes are the ones AWS KMS, Google Cloud KMS and OpenBao transit
accept, so material wrapped by an HSM's key-wrap mechanism or by `openssl` comes in
as is. Errors say which part failed without echoing any byte of the payload.
"""

from __future__ import annotations

import hmac
import re
import struct
from hashlib import sha256

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding

RSA_AES_KEY_WRAP_SHA_256 = "RSA_AES_KEY_WRAP_SHA_256"
RSAES_OAEP_SHA_256 = "RSAES_OAEP_SHA_256"
ALGORITHMS = (RSA_AES_KEY_WRAP_SHA_256, RSAES_OAEP_SHA_256)
WRAPPING_KEY_BITS = (3072, 4096)
MATERIAL_BYTES = 32
EPHEMERAL_KEY_BYTES = 32
_TOKEN_PREFIX = "kmit1"
_TOKEN = re.compile(r"kmit1\.([0-9a-f]{32})\.([0-9a-f]{32})")
_DIGEST_INFO = b"keymgr/import-digest/v1"


class ImportRejected(ValueError):
    """The payload does not unwrap to acceptable material; the message names the part."""


def oaep() -> padding.OAEP:
    """RSA-OAEP with SHA-256 and MGF1-SHA-256, empty label: what every wrap here uses."""
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def new_wrapping_key(bits: int) -> tuple[bytes, bytes]:
    """(SubjectPublicKeyInfo DER, PKCS#8 DER private key) of a fresh RSA key."""
    if bits not in WRAPPING_KEY_BITS:
        raise ValueError(f"wrapping key bits must be one of {WRAPPING_KEY_BITS}")
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    secret = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return public, secret


def public_pem(public_der: bytes) -> str:
    key = serialization.load_der_public_key(public_der)
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def public_key_bits(public_der: bytes) -> int:
    key = serialization.load_der_public_key(public_der)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("wrapping key is not an RSA key")
    return int(key.key_size)


def unwrap_material(private_der: bytes | bytearray, algorithm: str, payload: bytes) -> bytes:
    """The 32 bytes of AES-256 material inside `payload`, or ImportRejected."""
    private = serialization.load_der_private_key(bytes(private_der), password=None)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise ValueError("wrapping key is not an RSA key")
    modulus_bytes = (private.key_size + 7) // 8
    if algorithm == RSAES_OAEP_SHA_256:
        if len(payload) != modulus_bytes:
            raise ImportRejected(
                f"must be {modulus_bytes} bytes (one RSA-OAEP block), got {len(payload)}"
            )
        material = _rsa_decrypt(private, payload, "RSA-OAEP block")
    elif algorithm == RSA_AES_KEY_WRAP_SHA_256:
        if len(payload) <= modulus_bytes:
            raise ImportRejected(
                f"must be an RSA-OAEP block ({modulus_bytes} bytes) followed by the "
                f"AES-wrapped material, got {len(payload)} bytes"
            )
        ephemeral = _rsa_decrypt(private, payload[:modulus_bytes], "RSA-OAEP block")
        if len(ephemeral) != EPHEMERAL_KEY_BYTES:
            raise ImportRejected(
                f"the RSA-OAEP block must hold a {EPHEMERAL_KEY_BYTES}-byte AES key, "
                f"got {len(ephemeral)} bytes"
            )
        try:
            material = aes_key_unwrap_with_padding(ephemeral, payload[modulus_bytes:])
        except InvalidUnwrap:
            raise ImportRejected(
                "AES key wrap (RFC 5649) does not unwrap: truncated, altered or wrapped "
                "under another key"
            ) from None
    else:
        raise ValueError(f"unknown wrapping algorithm {algorithm!r}")
    if len(material) != MATERIAL_BYTES:
        raise ImportRejected(
            f"material must be {MATERIAL_BYTES} bytes (AES-256), got {len(material)}"
        )
    return material


def _rsa_decrypt(private: rsa.RSAPrivateKey, block: bytes, part: str) -> bytes:
    try:
        return private.decrypt(block, oaep())
    except ValueError:
        raise ImportRejected(
            f"{part} does not decrypt: altered, or not made with this key's wrapping key "
            "(RSA-OAEP, SHA-256, MGF1-SHA-256)"
        ) from None


def make_token(key_id: str, token_id: str) -> str:
    """The import token handed to the caller: names the key and the stored parameters."""
    return f"{_TOKEN_PREFIX}.{key_id}.{token_id}"


def parse_token(token: str) -> tuple[str, str]:
    """(key id, token id) of an import token; ValueError if it is not one."""
    match = _TOKEN.fullmatch(token.strip())
    if match is None:
        raise ValueError("not an import token returned by GetImportParameters")
    return match.group(1), match.group(2)


def material_digest(
    term: int, term_key: bytes, key_id: str, version: int, material: bytes
) -> bytes:
    """A keyed digest of imported material: ">I" term, then HMAC-SHA256 under a key
    derived from that keyring term. Equal material gives equal digests under the same
    term; without the keyring it reveals nothing and cannot test guesses."""
    mac_key = HKDF(hashes.SHA256(), 32, salt=None, info=_DIGEST_INFO).derive(term_key)
    message = b"%s\x00%d\x00" % (key_id.encode(), version) + material
    return struct.pack(">I", term) + hmac.new(mac_key, message, sha256).digest()


def digest_term(digest: bytes) -> int:
    """The keyring term a digest made by `material_digest` was keyed with."""
    if len(digest) != 4 + 32:
        raise ValueError("not a material digest")
    return int(struct.unpack(">I", digest[:4])[0])
