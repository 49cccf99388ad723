"""The barrier keyring: value semantics, term dispatch, binding, and key wrapping;
format v2 (a key per ciphertext) made, format v1 still opened."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

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
SALT = bytes(range(200, 232))
NONCE = bytes(range(100, 112))
V1 = json.loads((Path(__file__).parent / "testdata" / "v1" / "v1_ciphertexts.json").read_text())
V1_KEYS = {name: bytes.fromhex(value) for name, value in V1["keys"].items()}

# Known answers, frozen: a change here orphans every stored key version / wrapped key.
KAT_BARRIER = (
    "0200000002" + SALT.hex() + NONCE.hex() + "cb40ad9dd583e7da8c52fc1c0919bccc433db8ef914a48ab"
)
KAT_WRAPPED_TERM_KEY = (
    "02"
    + SALT.hex()
    + NONCE.hex()
    + "64077ff64eaaa6bb41b77ed6fd9aa11190ecd9618d912df1cfeab1a64cebf56d"
    + "e558bc29a0734145d9ee5f25ee9dbbcd"
)


def _message_key(key: bytes, label: bytes, salt: bytes, aad: bytes) -> bytes:
    """The format's definition, with the standard library: HMAC-SHA256(key, label ‖
    salt ‖ AAD ‖ 0x01), i.e. HKDF-Expand-SHA256 with `key` as PRK."""
    return hmac.digest(key, label + salt + aad + b"\x01", hashlib.sha256)


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
    assert blob[:5] == b"\x02\x00\x00\x00\x02"
    header, salt, nonce, body = blob[:5], blob[5:37], blob[37:49], blob[49:]
    key = _message_key(K2, b"keymgr/barrier/v2\0", salt, header + AAD)
    assert AESGCM(key).decrypt(nonce, body, header + AAD) == b"material"
    assert len(blob) == 5 + 32 + 12 + len(b"material") + 16
    with pytest.raises(Exception):  # noqa: B017 (InvalidTag): not GCM under the term key
        AESGCM(K2).decrypt(nonce, body, header + AAD)


def test_known_answer() -> None:
    blob = ring()._encrypt_with(SALT, NONCE, b"material", AAD)
    assert blob.hex() == KAT_BARRIER
    header = bytes.fromhex("0200000002")
    key = _message_key(K2, b"keymgr/barrier/v2\0", SALT, header + AAD)
    assert header + SALT + NONCE + AESGCM(key).encrypt(NONCE, b"material", header + AAD) == blob
    assert ring().decrypt(bytes.fromhex(KAT_BARRIER), AAD) == b"material"


def test_every_ciphertext_has_its_own_key() -> None:
    blobs = [ring().encrypt(b"same", AAD) for _ in range(16)]
    keys = {_message_key(K2, barrier.LABEL_V2, b[5:37], b[:5] + AAD) for b in blobs}
    assert len(keys) == 16


@pytest.mark.parametrize("case", V1["barrier"], ids=lambda c: f"term{c['term']}")
def test_v1_barrier_blobs_made_by_the_old_code_still_open(case: dict[str, Any]) -> None:
    keyring = Keyring({1: V1_KEYS["term-1"], 2: V1_KEYS["term-2"]}, active_term=2)
    blob, aad = bytes.fromhex(case["blob"]), case["aad"].encode()
    assert blob[0] == 1 and int.from_bytes(blob[1:5], "big") == case["term"]
    assert keyring.decrypt(blob, aad) == bytes.fromhex(case["plaintext"])
    assert keyring.decrypt_secret(blob, aad) == bytes.fromhex(case["plaintext"])
    with pytest.raises(DecryptionFailed):
        keyring.decrypt(blob, material_aad(V1["key_id"], case["key_version"] + 1))
    relabelled = bytearray(blob)
    relabelled[0] = 2  # a v1 blob read as v2 does not open
    with pytest.raises(DecryptionFailed):
        keyring.decrypt(bytes(relabelled), aad)


def test_v2_blob_relabelled_as_v1_does_not_open() -> None:
    blob = bytearray(ring().encrypt(b"material", AAD))
    blob[0] = 1
    with pytest.raises(DecryptionFailed):
        ring().decrypt(bytes(blob), AAD)


def test_old_terms_still_decrypt_after_rotation() -> None:
    old = ring()
    blob = old.encrypt(b"v1 material", AAD)
    rotated = old.with_term(3, K3)
    assert rotated.decrypt(blob, AAD) == b"v1 material"
    assert rotated.encrypt(b"x", AAD)[:5] == b"\x02\x00\x00\x00\x03"


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
    blob[0] = 3
    with pytest.raises(DecryptionFailed, match="unknown barrier format version 3"):
        ring().decrypt(bytes(blob), AAD)


@pytest.mark.parametrize("size", [0, 4, 5, 5 + 27, 5 + 28, 5 + 59])
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
    assert len(wrapped) == barrier.WRAPPED_KEY_SIZE == 93 and wrapped[0] == 2
    salt, nonce, body = wrapped[1:33], wrapped[33:45], wrapped[45:]
    aad = b"\x02keymgr/keyring/term/1"
    key = _message_key(ROOT, b"keymgr/wrap/v2\0", salt, aad)
    assert AESGCM(key).decrypt(nonce, body, aad) == K1


def test_wrapped_key_known_answer() -> None:
    wrapped = barrier._wrap_key_with(SALT, NONCE, ROOT, K1, barrier.term_key_aad(1))
    assert wrapped.hex() == KAT_WRAPPED_TERM_KEY
    assert barrier.unwrap_term_key(ROOT, 1, bytes.fromhex(KAT_WRAPPED_TERM_KEY)) == K1


def test_wrapped_keys_made_by_the_old_code_still_unwrap() -> None:
    term = V1["wrapped_term_key"]
    blob = bytes.fromhex(term["blob"])
    assert len(blob) == 60  # v1: nonce ‖ key ‖ tag, no header
    assert barrier.unwrap_term_key(V1_KEYS["root"], term["term"], blob) == V1_KEYS["term-2"]
    with pytest.raises(DecryptionFailed):
        barrier.unwrap_term_key(V1_KEYS["root"], term["term"] + 1, blob)
    root = barrier.unwrap_root_key(V1_KEYS["unseal"], bytes.fromhex(V1["wrapped_root_key"]["blob"]))
    assert root == V1_KEYS["root"]
    link = V1["root_successor"]
    successor = barrier.unwrap_root_key(
        V1_KEYS["old-root"],
        bytes.fromhex(link["blob"]),
        barrier.root_successor_aad(link["generation"]),
    )
    assert successor == V1_KEYS["root"]
    with pytest.raises(DecryptionFailed):
        barrier.unwrap_root_key(
            V1_KEYS["old-root"],
            bytes.fromhex(link["blob"]),
            barrier.root_successor_aad(link["generation"] + 1),
        )


def test_wrapped_key_versions_cannot_be_confused() -> None:
    v2 = bytearray(barrier.wrap_term_key(ROOT, 1, K1))
    v2[0] = 1  # no longer the v2 shape: read as v1, which does not authenticate
    with pytest.raises(DecryptionFailed):
        barrier.unwrap_term_key(ROOT, 1, bytes(v2))
    with pytest.raises(DecryptionFailed):
        barrier.unwrap_term_key(ROOT, 1, barrier.wrap_term_key(ROOT, 1, K1)[:-1])


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
    salt, nonce, body = wrapped[1:33], wrapped[33:45], wrapped[45:]
    key = _message_key(kek, b"keymgr/wrap/v2\0", salt, b"\x02keymgr/root-key")
    assert AESGCM(key).decrypt(nonce, body, b"\x02keymgr/root-key") == ROOT
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
