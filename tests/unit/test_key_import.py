"""Unwrapping imported material (both schemes), import tokens and material digests."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from keymgr.crypto import key_import
from keymgr.crypto.key_import import ImportRejected

OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


@pytest.fixture(scope="module")
def wrapping_key() -> tuple[bytes, bytes]:
    return key_import.new_wrapping_key(3072)


def _public(der: bytes):  # type: ignore[no-untyped-def]
    return serialization.load_der_public_key(der)


def wrap_two_step(public_der: bytes, material: bytes, ephemeral: bytes | None = None) -> bytes:
    ephemeral = ephemeral or os.urandom(32)
    return _public(public_der).encrypt(ephemeral, OAEP) + aes_key_wrap_with_padding(
        ephemeral, material
    )


def test_both_schemes_unwrap(wrapping_key: tuple[bytes, bytes]) -> None:
    public, private = wrapping_key
    material = os.urandom(32)
    two_step = wrap_two_step(public, material)
    assert (
        key_import.unwrap_material(private, key_import.RSA_AES_KEY_WRAP_SHA_256, two_step)
        == material
    )
    direct = _public(public).encrypt(material, OAEP)
    assert key_import.unwrap_material(private, key_import.RSAES_OAEP_SHA_256, direct) == material
    assert key_import.public_key_bits(public) == 3072


def test_bad_payloads_are_rejected_without_echoing_bytes(
    wrapping_key: tuple[bytes, bytes],
) -> None:
    public, private = wrapping_key
    material = os.urandom(32)
    good = wrap_two_step(public, material)
    flipped_rsa = bytes([good[0] ^ 1]) + good[1:]
    flipped_wrap = good[:-1] + bytes([good[-1] ^ 0x80])
    cases = {
        "truncated": good[:-8],
        "rsa part only": good[:384],
        "flipped RSA": flipped_rsa,
        "flipped wrap": flipped_wrap,
        "short material": wrap_two_step(public, material[:16]),
        "long material": wrap_two_step(public, material + b"x"),
        "16-byte ephemeral": _public(public).encrypt(b"k" * 16, OAEP) + b"\0" * 40,
    }
    for name, payload in cases.items():
        with pytest.raises(ImportRejected) as caught:
            key_import.unwrap_material(private, key_import.RSA_AES_KEY_WRAP_SHA_256, payload)
        text = str(caught.value)
        assert material.hex() not in text and "\\x" not in text, name
    with pytest.raises(ImportRejected, match="384 bytes"):
        key_import.unwrap_material(private, key_import.RSAES_OAEP_SHA_256, good)
    with pytest.raises(ImportRejected, match="material must be 32 bytes"):
        key_import.unwrap_material(
            private, key_import.RSAES_OAEP_SHA_256, _public(public).encrypt(b"x" * 31, OAEP)
        )


def test_tokens_round_trip_and_refuse_garbage() -> None:
    token = key_import.make_token("a" * 32, "b" * 32)
    assert key_import.parse_token(token) == ("a" * 32, "b" * 32)
    for bad in ("", token[:-1], token + "0", token.replace("kmit1", "kmit2"), "x.y.z"):
        with pytest.raises(ValueError):
            key_import.parse_token(bad)


def test_digest_is_keyed_by_term_and_binds_key_and_version() -> None:
    material = os.urandom(32)
    one = key_import.material_digest(1, b"k" * 32, "a" * 32, 1, material)
    assert one == key_import.material_digest(1, b"k" * 32, "a" * 32, 1, material)
    assert key_import.digest_term(one) == 1 and material not in one
    assert one != key_import.material_digest(1, b"j" * 32, "a" * 32, 1, material)
    assert one != key_import.material_digest(1, b"k" * 32, "a" * 32, 2, material)
    assert one != key_import.material_digest(1, b"k" * 32, "b" * 32, 1, material)
    assert one != key_import.material_digest(1, b"k" * 32, "a" * 32, 1, os.urandom(32))
