"""The barrier keyring: value semantics, term dispatch, binding, and key wrapping."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from keymgr.crypto import barrier
from keymgr.crypto.barrier import Keyring, material_aad
from keymgr.crypto.errors import DecryptionFailed

K1 = bytes([1]) * 32
K2 = bytes([2]) * 32
K3 = bytes([3]) * 32
ROOT = bytes(range(32))
AAD = material_aad("00112233445566778899aabbccddeeff", 1)


def ring() -> Keyring:
    return Keyring({1: K1, 2: K2}, active_term=2)


# --- value type --------------------------------------------------------------------


def test_mapping_view() -> None:
    keyring = ring()
    assert keyring.active_term == 2
    assert dict(keyring) == {1: K1, 2: K2}
    assert len(keyring) == 2
    assert 1 in keyring and 3 not in keyring


def test_constructor_copies_input() -> None:
    keys = {1: bytearray(K1)}
    keyring = Keyring(keys, active_term=1)
    keys[1][:] = bytes(32)
    keys[2] = bytearray(K2)
    assert keyring[1] == K1
    assert 2 not in keyring


def test_is_immutable() -> None:
    keyring = ring()
    with pytest.raises(TypeError):
        keyring[3] = K3  # type: ignore[index]
    with pytest.raises(AttributeError):
        keyring.active_term = 1  # type: ignore[misc]


def test_with_term_returns_new_keyring_and_activates_newest() -> None:
    keyring = ring()
    rotated = keyring.with_term(3, K3)
    assert rotated is not keyring
    assert rotated.active_term == 3
    assert dict(rotated) == {1: K1, 2: K2, 3: K3}
    assert dict(keyring) == {1: K1, 2: K2}
    assert keyring.active_term == 2


def test_with_older_term_keeps_active_term() -> None:
    keyring = Keyring({5: K1}, active_term=5).with_term(4, K2)
    assert keyring.active_term == 5
    assert keyring[4] == K2


def test_installing_identical_key_is_a_no_op() -> None:
    keyring = ring()
    assert keyring.with_term(2, bytearray(K2)) is keyring
    assert keyring.with_term(1, K1) is keyring


def test_conflicting_key_for_a_term_is_rejected() -> None:
    with pytest.raises(ValueError, match="term 1 already holds a different key") as info:
        ring().with_term(1, K3)
    assert K3.hex() not in str(info.value)


def test_without_term() -> None:
    keyring = ring().without_term(1)
    assert dict(keyring) == {2: K2}
    assert keyring.without_term(7) is keyring
    with pytest.raises(ValueError, match="active"):
        keyring.without_term(2)


def test_equality() -> None:
    assert ring() == Keyring({2: K2, 1: K1}, active_term=2)
    assert ring() != Keyring({1: K1, 2: K2}, active_term=1)
    assert ring() != Keyring({1: K1, 2: K3}, active_term=2)
    assert hash(ring()) == hash(Keyring({2: K2, 1: K1}, active_term=2))


def test_repr_hides_keys() -> None:
    text = repr(ring())
    assert text == "Keyring(terms=[1, 2], active_term=2)"
    assert K1.hex() not in text and str(K1) not in text


@pytest.mark.parametrize(
    ("keys", "active", "error", "match"),
    [
        ({1: K1}, 2, ValueError, "active keyring term 2 has no key"),
        ({}, 1, ValueError, "no key"),
        ({1: bytes(16)}, 1, ValueError, "32 bytes, got 16"),
        ({0: K1}, 0, ValueError, "between 1 and"),
        ({2**32: K1}, 2**32, ValueError, "between 1 and"),
        ({1: "k" * 32}, 1, TypeError, "bytes-like"),
    ],
)
def test_constructor_validates(
    keys: dict[int, bytes], active: int, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        Keyring(keys, active_term=active)


def test_with_term_validates() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        ring().with_term(3, bytes(31))
    with pytest.raises(ValueError, match="between 1 and"):
        ring().with_term(0, K3)
    with pytest.raises(TypeError):
        ring().with_term(True, K3)


# --- encryption --------------------------------------------------------------------


@given(plaintext=st.binary(max_size=256), aad=st.binary(max_size=64))
def test_round_trip(plaintext: bytes, aad: bytes) -> None:
    keyring = ring()
    blob = keyring.encrypt(plaintext, aad)
    assert keyring.decrypt(blob, aad) == plaintext
    assert keyring.decrypt_secret(blob, aad) == bytearray(plaintext)


def test_format_matches_specification() -> None:
    blob = ring().encrypt(b"material", AAD)
    assert blob[:5] == b"\x01\x00\x00\x00\x02"
    header, nonce, body = blob[:5], blob[5:17], blob[17:]
    assert AESGCM(K2).decrypt(nonce, body, header + AAD) == b"material"
    assert len(blob) == 5 + 12 + len(b"material") + 16


def test_old_terms_still_decrypt_after_rotation() -> None:
    old = ring()
    blob = old.encrypt(b"v1 material", AAD)
    rotated = old.with_term(3, K3)
    assert rotated.decrypt(blob, AAD) == b"v1 material"
    assert rotated.encrypt(b"x", AAD)[:5] == b"\x01\x00\x00\x00\x03"


def test_unknown_term() -> None:
    blob = ring().with_term(9, K3).encrypt(b"x", AAD)
    with pytest.raises(DecryptionFailed, match=r"^unknown keyring term 9$"):
        ring().decrypt(blob, AAD)


def test_term_header_is_authenticated() -> None:
    # Same key installed under two terms: relabelling the term must still fail.
    keyring = Keyring({1: K1, 2: K1}, active_term=2)
    blob = bytearray(keyring.encrypt(b"x", AAD))
    blob[4] = 1
    with pytest.raises(DecryptionFailed):
        keyring.decrypt(bytes(blob), AAD)


def test_wrong_aad_fails() -> None:
    blob = ring().encrypt(b"material", material_aad("a" * 32, 1))
    for other in [material_aad("a" * 32, 2), material_aad("b" * 32, 1), b""]:
        with pytest.raises(DecryptionFailed, match=r"^decryption failed$"):
            ring().decrypt(blob, other)


def test_wrong_key_for_term_fails() -> None:
    blob = ring().encrypt(b"x", AAD)
    with pytest.raises(DecryptionFailed, match=r"^decryption failed$"):
        Keyring({2: K3}, active_term=2).decrypt(blob, AAD)


@given(data=st.data())
def test_any_flipped_bit_fails(data: st.DataObject) -> None:
    blob = bytearray(ring().encrypt(b"material", AAD))
    index = data.draw(st.integers(0, len(blob) - 1))
    blob[index] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(DecryptionFailed):
        ring().decrypt(bytes(blob), AAD)


def test_unknown_format_version() -> None:
    blob = bytearray(ring().encrypt(b"x", AAD))
    blob[0] = 2
    with pytest.raises(DecryptionFailed, match="unknown barrier format version 2"):
        ring().decrypt(bytes(blob), AAD)


@pytest.mark.parametrize("size", [0, 4, 5, 5 + 27])
def test_truncated(size: int) -> None:
    blob = ring().encrypt(b"", AAD)[:size]
    with pytest.raises(DecryptionFailed, match="truncated"):
        ring().decrypt(blob, AAD)
    with pytest.raises(DecryptionFailed):
        ring().decrypt_secret(blob, AAD)


def test_ciphertext_does_not_contain_plaintext() -> None:
    material = os.urandom(32)
    assert material not in ring().encrypt(material, AAD)


# --- AAD and wrapping helpers ------------------------------------------------------


def test_material_aad() -> None:
    assert material_aad("00112233445566778899aabbccddeeff", 12) == (
        b"keymgr/key/00112233445566778899aabbccddeeff/12"
    )
    with pytest.raises(ValueError):
        material_aad("a", -1)


def test_term_key_round_trip_and_binding() -> None:
    wrapped = barrier.wrap_term_key(ROOT, 1, K1)
    assert K1 not in wrapped
    assert barrier.unwrap_term_key(ROOT, 1, wrapped) == K1
    with pytest.raises(DecryptionFailed):
        barrier.unwrap_term_key(ROOT, 2, wrapped)  # moved to another term
    with pytest.raises(DecryptionFailed):
        barrier.unwrap_term_key(bytes(32), 1, wrapped)  # wrong root key
    nonce, body = wrapped[:12], wrapped[12:]
    assert AESGCM(ROOT).decrypt(nonce, body, b"keymgr/keyring/term/1") == K1


def test_term_key_validation() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        barrier.wrap_term_key(ROOT, 1, bytes(16))
    with pytest.raises(ValueError, match="32 bytes"):
        barrier.wrap_term_key(bytes(16), 1, K1)
    with pytest.raises(ValueError, match="between 1 and"):
        barrier.wrap_term_key(ROOT, 0, K1)


def test_unwrapped_term_key_of_wrong_length_is_refused() -> None:
    wrapped = AESGCM(ROOT).encrypt(bytes(12), bytes(16), b"keymgr/keyring/term/1")
    with pytest.raises(DecryptionFailed, match="wrong length"):
        barrier.unwrap_term_key(ROOT, 1, bytes(12) + wrapped)


def test_root_key_round_trip_and_binding() -> None:
    kek = os.urandom(32)
    wrapped = barrier.wrap_root_key(kek, ROOT)
    assert ROOT not in wrapped
    root = barrier.unwrap_root_key(kek, wrapped)
    assert isinstance(root, bytearray) and root == ROOT
    nonce, body = wrapped[:12], wrapped[12:]
    assert AESGCM(kek).decrypt(nonce, body, b"keymgr/root-key") == ROOT
    with pytest.raises(DecryptionFailed):
        barrier.unwrap_root_key(kek, wrapped, aad=b"other")
    with pytest.raises(DecryptionFailed):
        barrier.unwrap_root_key(os.urandom(32), wrapped)
    custom = barrier.wrap_root_key(kek, ROOT, aad=b"other")
    assert barrier.unwrap_root_key(kek, custom, aad=b"other") == ROOT


def test_root_key_validation() -> None:
    with pytest.raises(ValueError, match="root key must be 32 bytes"):
        barrier.wrap_root_key(ROOT, bytes(31))
    wrapped = AESGCM(ROOT).encrypt(bytes(12), bytes(8), b"keymgr/root-key")
    with pytest.raises(DecryptionFailed, match="wrong length"):
        barrier.unwrap_root_key(ROOT, bytes(12) + wrapped)
