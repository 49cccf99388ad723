"""The client-facing ciphertext: exact bytes, header parsing, and context binding;
format v2 (a key per message) made, format v1 still opened."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from hypothesis import given
from hypothesis import strategies as st

from keymgr.crypto import envelope
from keymgr.crypto.aead import Aead
from keymgr.crypto.envelope import HEADER_SIZE, MIN_SIZE, MIN_SIZE_V1, EnvelopeHeader
from keymgr.crypto.errors import DecryptionFailed, MalformedCiphertext

MATERIAL = bytes(range(32))
KEY_ID = "00112233445566778899aabbccddeeff"
NONCE = bytes(range(100, 112))
SALT = bytes(range(200, 232))
CONTEXT = {"volume": "vol-1", "tenant": "acme"}
V1_FIXTURES = json.loads(
    (Path(__file__).parent / "testdata" / "v1" / "v1_ciphertexts.json").read_text()
)

# Known answers, frozen: a change here breaks every ciphertext clients hold.
KAT_CONTEXT = (
    "00000006"
    + b"tenant".hex()
    + "00000004"
    + b"acme".hex()
    + "00000006"
    + b"volume".hex()
    + "00000005"
    + b"vol-1".hex()
)
# format v2 (what `seal` makes): header ‖ salt ‖ nonce ‖ ciphertext ‖ tag
KAT_V2_HEADER = "0200112233445566778899aabbccddeeff00000007"
KAT_V2_BLOB = (
    KAT_V2_HEADER
    + SALT.hex()
    + "6465666768696a6b6c6d6e6f"
    + "0a2e8ede09f385326010c8c300275cdfbbe67b6bce2f9885cf33a96f"
)
KAT_V2_EMPTY = (
    "02"
    "00112233445566778899aabbccddeeff"
    "00000001" + SALT.hex() + "6465666768696a6b6c6d6e6f"
    "11410a094ebe59702b398e6f829e772e"
)
# format v1 (still opened, no longer made): header ‖ nonce ‖ ciphertext ‖ tag
KAT_HEADER = "0100112233445566778899aabbccddeeff00000007"
KAT_BLOB = (
    KAT_HEADER
    + "6465666768696a6b6c6d6e6f"
    + "207eb20a16c93dfb470f389a3c9ef8f8391fde49257804dfd12e6bf4"
)
KAT_EMPTY = (
    "01"
    "00112233445566778899aabbccddeeff"
    "00000001"
    "6465666768696a6b6c6d6e6f"
    "7f3cec1cc6a7f3fe5b85a343d6acd578"
)

contexts = st.dictionaries(st.text(max_size=12), st.text(max_size=12), max_size=5)
key_ids = st.uuids(version=4).map(lambda u: u.hex)
versions = st.integers(1, 2**32 - 1)


def test_known_answer() -> None:
    blob = envelope._seal_with(SALT, NONCE, MATERIAL, KEY_ID, 7, b"hello keymgr", CONTEXT)
    assert blob.hex() == KAT_V2_BLOB
    assert envelope.open(MATERIAL, bytes.fromhex(KAT_V2_BLOB), CONTEXT) == b"hello keymgr"


def test_known_answer_empty_plaintext_and_context() -> None:
    blob = envelope._seal_with(SALT, NONCE, MATERIAL, KEY_ID, 1, b"", {})
    assert blob.hex() == KAT_V2_EMPTY
    assert envelope.open(MATERIAL, blob, {}) == b""


def test_known_answer_matches_the_specified_construction() -> None:
    # Rebuilt from the format's definition with raw primitives, not with our code:
    # K_msg = HKDF-Expand-SHA256(PRK = version key, info = label ‖ salt ‖ AAD, 32)
    #       = HMAC-SHA256(version key, label ‖ salt ‖ AAD ‖ 0x01)
    aad = bytes.fromhex(KAT_V2_HEADER + KAT_CONTEXT)
    info = b"keymgr/envelope/v2\0" + SALT + aad
    message_key = HKDFExpand(hashes.SHA256(), 32, info).derive(MATERIAL)
    assert message_key == hmac.digest(MATERIAL, info + b"\x01", hashlib.sha256)
    body = AESGCM(message_key).encrypt(NONCE, b"hello keymgr", aad)
    assert bytes.fromhex(KAT_V2_HEADER) + SALT + NONCE + body == bytes.fromhex(KAT_V2_BLOB)


def test_v1_known_answers_still_open() -> None:
    assert envelope.open(MATERIAL, bytes.fromhex(KAT_BLOB), CONTEXT) == b"hello keymgr"
    assert envelope.open(MATERIAL, bytes.fromhex(KAT_EMPTY), {}) == b""
    blob = envelope._seal_v1_with_nonce(NONCE, MATERIAL, KEY_ID, 7, b"hello keymgr", CONTEXT)
    assert blob.hex() == KAT_BLOB
    # the v1 construction: GCM directly under the version key
    aad = bytes.fromhex(KAT_HEADER + KAT_CONTEXT)
    body = AESGCM(MATERIAL).encrypt(NONCE, b"hello keymgr", aad)
    assert bytes.fromhex(KAT_HEADER) + NONCE + body == bytes.fromhex(KAT_BLOB)


@pytest.mark.parametrize("case", V1_FIXTURES["envelopes"], ids=lambda c: f"v{c['key_version']}")
def test_v1_ciphertexts_made_by_the_old_code_still_open(case: dict[str, Any]) -> None:
    material = bytes.fromhex(V1_FIXTURES["keys"]["material"])
    blob = bytes.fromhex(case["blob"])
    header = envelope.read_unverified_header(blob)
    assert header == EnvelopeHeader(1, V1_FIXTURES["key_id"], case["key_version"])
    assert envelope.open(material, blob, case["context"]) == bytes.fromhex(case["plaintext"])
    assert envelope.open(Aead(material), blob, case["context"]) == bytes.fromhex(case["plaintext"])
    with pytest.raises(DecryptionFailed):
        envelope.open(material, blob, {**case["context"], "extra": "x"})
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(DecryptionFailed):
        envelope.open(material, bytes(tampered), case["context"])


def test_new_ciphertexts_are_format_2() -> None:
    blob = envelope.seal(MATERIAL, KEY_ID, 1, b"p", {})
    assert blob[0] == envelope.FORMAT == envelope.FORMAT_V2 == 2
    assert envelope.read_unverified_header(blob).format_version == 2


def test_every_message_has_its_own_key() -> None:
    # The finding: GCM straight under the version key with random nonces caps a version
    # at ~2**32 messages. Now no two messages share a GCM key, and the version key itself
    # does not open the body.
    blobs = [envelope.seal(MATERIAL, KEY_ID, 1, b"same", {}) for _ in range(32)]
    cipher = Aead(MATERIAL)
    message_keys = set()
    for blob in blobs:
        salt, nonce, body = blob[21:53], blob[53:65], blob[65:]
        aad = blob[:HEADER_SIZE]
        key = cipher.message_key(envelope.LABEL_V2, salt, aad)
        assert AESGCM(key).decrypt(nonce, body, aad) == b"same"
        with pytest.raises(Exception):  # noqa: B017 (cryptography's InvalidTag)
            AESGCM(MATERIAL).decrypt(nonce, body, aad)
        message_keys.add(key)
    assert len(message_keys) == 32
    assert len({blob[21:53] for blob in blobs}) == 32  # fresh salts


@pytest.mark.parametrize(("made", "relabelled"), [(2, 1), (2, 3), (2, 0)])
def test_format_byte_cannot_be_relabelled(made: int, relabelled: int) -> None:
    blob = bytearray(envelope.seal(MATERIAL, KEY_ID, 1, b"payload" * 10, CONTEXT))
    assert blob[0] == made
    blob[0] = relabelled
    with pytest.raises((DecryptionFailed, MalformedCiphertext)):
        envelope.open(MATERIAL, bytes(blob), CONTEXT)


def test_v1_blob_relabelled_as_v2_does_not_open() -> None:
    blob = bytearray(envelope._seal_v1_with_nonce(NONCE, MATERIAL, KEY_ID, 1, b"x" * 64, {}))
    blob[0] = 2
    with pytest.raises(DecryptionFailed):
        envelope.open(MATERIAL, bytes(blob), {})


def test_canonical_context_known_answer() -> None:
    assert envelope.canonical_context(CONTEXT).hex() == KAT_CONTEXT
    assert envelope.canonical_context({}) == b""
    assert envelope.canonical_context({"é": ""}) == b"\0\0\0\x02\xc3\xa9\0\0\0\0"


@given(contexts)
def test_canonical_context_ignores_order(context: dict[str, str]) -> None:
    reversed_context = dict(reversed(list(context.items())))
    assert envelope.canonical_context(reversed_context) == envelope.canonical_context(context)


@given(contexts, contexts)
def test_canonical_context_is_injective(a: dict[str, str], b: dict[str, str]) -> None:
    if a != b:
        assert envelope.canonical_context(a) != envelope.canonical_context(b)


def test_canonical_context_separates_keys_and_values() -> None:
    assert envelope.canonical_context({"ab": "c"}) != envelope.canonical_context({"a": "bc"})


def test_canonical_context_rejects_non_str() -> None:
    with pytest.raises(TypeError):
        envelope.canonical_context({"a": 1})  # type: ignore[dict-item]


def test_canonical_context_rejects_lone_surrogates_without_echo() -> None:
    with pytest.raises(ValueError) as info:
        envelope.canonical_context({"k": "\ud800"})
    assert "\ud800" not in str(info.value)


@given(plaintext=st.binary(max_size=256), context=contexts, key_id=key_ids, version=versions)
def test_round_trip(plaintext: bytes, context: dict[str, str], key_id: str, version: int) -> None:
    blob = envelope.seal(MATERIAL, key_id, version, plaintext, context)
    assert envelope.read_unverified_header(blob) == EnvelopeHeader(2, key_id, version)
    assert envelope.open(MATERIAL, blob, context) == plaintext


def test_accepts_a_reusable_aead() -> None:
    cipher = Aead(MATERIAL)
    blob = envelope.seal(cipher, KEY_ID, 2, b"hot path", CONTEXT)
    assert envelope.open(MATERIAL, blob, CONTEXT) == b"hot path"
    assert envelope.open(cipher, blob, CONTEXT) == b"hot path"
    with pytest.raises(DecryptionFailed):
        envelope.open(Aead(bytes(32)), blob, CONTEXT)


def test_seal_uses_fresh_salts_and_nonces() -> None:
    blobs = {envelope.seal(MATERIAL, KEY_ID, 1, b"same", {}) for _ in range(32)}
    assert len(blobs) == 32
    assert len({b[53:65] for b in blobs}) == 32


def test_header_layout() -> None:
    key_id = uuid.uuid4().hex
    blob = envelope.seal(MATERIAL, key_id, 0x01020304, b"p", {})
    assert blob[0] == 2
    assert blob[1:17] == bytes.fromhex(key_id)
    assert blob[17:21] == b"\x01\x02\x03\x04"
    assert len(blob) == HEADER_SIZE + 32 + 12 + 1 + 16 == MIN_SIZE + 1


def test_wrong_context_fails() -> None:
    blob = envelope.seal(MATERIAL, KEY_ID, 1, b"p", {"a": "1"})
    for other in [{}, {"a": "2"}, {"a": "1", "b": "2"}, {"b": "1"}]:
        with pytest.raises(DecryptionFailed):
            envelope.open(MATERIAL, blob, other)


def test_wrong_material_fails() -> None:
    blob = envelope.seal(MATERIAL, KEY_ID, 1, b"p", {})
    with pytest.raises(DecryptionFailed):
        envelope.open(bytes(32), blob, {})


@pytest.mark.parametrize(
    ("offset", "name"), [(1, "key id"), (16, "key id"), (17, "version"), (20, "version")]
)
def test_relabelled_header_fails(offset: int, name: str) -> None:
    # Pointing a blob at another key or version must not decrypt, even with the same key.
    blob = bytearray(envelope.seal(MATERIAL, KEY_ID, 1, b"p", {}))
    blob[offset] ^= 0x01
    with pytest.raises(DecryptionFailed):
        envelope.open(MATERIAL, bytes(blob), {})


@given(data=st.data())
def test_any_flipped_bit_after_format_byte_fails(data: st.DataObject) -> None:
    blob = bytearray(envelope.seal(MATERIAL, KEY_ID, 3, b"payload", CONTEXT))
    index = data.draw(st.integers(1, len(blob) - 1))
    blob[index] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(DecryptionFailed):
        envelope.open(MATERIAL, bytes(blob), CONTEXT)


def test_failures_share_one_message() -> None:
    blob = envelope.seal(MATERIAL, KEY_ID, 1, b"secret", {"a": "b"})
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    messages = set()
    for material, data, ctx in [
        (bytes(32), blob, {"a": "b"}),
        (MATERIAL, blob, {"a": "c"}),
        (MATERIAL, tampered, {"a": "b"}),
    ]:
        with pytest.raises(DecryptionFailed) as info:
            envelope.open(material, data, ctx)
        messages.add(str(info.value))
    assert messages == {"decryption failed"}


def test_unknown_format_version() -> None:
    blob = bytearray(envelope.seal(MATERIAL, KEY_ID, 1, b"p", {}))
    blob[0] = 7
    with pytest.raises(MalformedCiphertext, match=r"^unknown ciphertext format version 7$"):
        envelope.read_unverified_header(bytes(blob))
    with pytest.raises(MalformedCiphertext, match="format version 7"):
        envelope.open(MATERIAL, bytes(blob), {})


@pytest.mark.parametrize("size", [1, HEADER_SIZE - 1, HEADER_SIZE, MIN_SIZE_V1, MIN_SIZE - 1])
def test_truncated(size: int) -> None:
    blob = envelope.seal(MATERIAL, KEY_ID, 1, b"", {})[:size]
    with pytest.raises(MalformedCiphertext, match=r"^ciphertext is truncated$"):
        envelope.read_unverified_header(blob)
    with pytest.raises(MalformedCiphertext):
        envelope.open(MATERIAL, blob, {})


@pytest.mark.parametrize("size", [1, HEADER_SIZE, MIN_SIZE_V1 - 1])
def test_truncated_v1(size: int) -> None:
    blob = bytes.fromhex(KAT_EMPTY)[:size]
    with pytest.raises(MalformedCiphertext, match=r"^ciphertext is truncated$"):
        envelope.read_unverified_header(blob)
    assert envelope.read_unverified_header(bytes.fromhex(KAT_EMPTY)).format_version == 1


def test_empty() -> None:
    with pytest.raises(MalformedCiphertext, match="empty"):
        envelope.read_unverified_header(b"")


def test_malformed_messages_never_contain_content() -> None:
    blob = bytes([0x99]) + bytes.fromhex(KEY_ID) + b"\0" * 40
    with pytest.raises(MalformedCiphertext) as info:
        envelope.read_unverified_header(blob)
    assert KEY_ID not in str(info.value)


def test_malformed_is_a_value_error() -> None:
    assert issubclass(MalformedCiphertext, ValueError)
    assert not issubclass(DecryptionFailed, ValueError)


@pytest.mark.parametrize(
    "key_id",
    [
        "",
        "00112233445566778899AABBCCDDEEFF",
        "00112233445566778899aabbccddeef",
        "00112233445566778899aabbccddeeff0",
        "0011223344556677-899aabbccddeeff",
        "g0112233445566778899aabbccddeeff",
    ],
)
def test_bad_key_id_is_value_error(key_id: str) -> None:
    with pytest.raises(ValueError, match="key id"):
        envelope.seal(MATERIAL, key_id, 1, b"", {})


@pytest.mark.parametrize("version", [0, -1, 2**32])
def test_bad_version_is_value_error(version: int) -> None:
    with pytest.raises(ValueError, match="key version"):
        envelope.seal(MATERIAL, KEY_ID, version, b"", {})


def test_bool_version_is_type_error() -> None:
    with pytest.raises(TypeError):
        envelope.seal(MATERIAL, KEY_ID, True, b"", {})


def test_bad_material_length_is_value_error() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        envelope.seal(bytes(16), KEY_ID, 1, b"", {})
    blob = envelope.seal(MATERIAL, KEY_ID, 1, b"", {})
    with pytest.raises(ValueError, match="32 bytes"):
        envelope.open(bytes(16), blob, {})


def test_key_id_bytes_round_trip() -> None:
    assert envelope.key_id_from_bytes(envelope.key_id_to_bytes(KEY_ID)) == KEY_ID
    with pytest.raises(ValueError):
        envelope.key_id_from_bytes(b"short")


def test_header_repr_holds_no_secret() -> None:
    header = envelope.read_unverified_header(envelope.seal(MATERIAL, KEY_ID, 2, b"secret", {}))
    assert repr(header) == f"EnvelopeHeader(format_version=2, key_id='{KEY_ID}', key_version=2)"


def test_the_architecture_doc_states_these_known_answers() -> None:
    # docs/architecture.md "Ciphertext formats" gives the vectors to implementers
    # elsewhere: they must be the bytes this code makes.
    from keymgr.crypto import barrier
    from keymgr.crypto.barrier import Keyring, material_aad

    doc = (Path(__file__).parents[2] / "docs" / "architecture.md").read_text()
    lines = {" ".join(line.split()) for line in doc.splitlines()}
    blob = bytes.fromhex(KAT_V2_BLOB)
    aad = blob[:HEADER_SIZE] + envelope.canonical_context(CONTEXT)
    expected = [
        f"key (version material) {MATERIAL.hex()}",
        f"canonical context {envelope.canonical_context(CONTEXT).hex()}",
        f"salt {SALT.hex()}",
        f"nonce {NONCE.hex()}",
        f"header {blob[:HEADER_SIZE].hex()}",
        f"K_msg {Aead(MATERIAL).message_key(envelope.LABEL_V2, SALT, aad).hex()}",
        f"ciphertext ‖ tag {blob[HEADER_SIZE + 44 :].hex()}",
    ]
    term_key, barrier_aad = bytes([2]) * 32, material_aad(KEY_ID, 1)
    sealed = Keyring({2: term_key}, active_term=2)._encrypt_with(
        SALT, NONCE, b"material", barrier_aad
    )
    expected += [
        f"term key (term 2) {term_key.hex()}",
        f"header {sealed[:5].hex()}",
        "K_msg "
        + Aead(term_key).message_key(barrier.LABEL_V2, SALT, sealed[:5] + barrier_aad).hex(),
        f"ciphertext ‖ tag {sealed[49:].hex()}",
    ]
    wrapped = barrier._wrap_key_with(
        SALT, NONCE, MATERIAL, bytes([1]) * 32, barrier.term_key_aad(1)
    )
    expected += [
        "K_msg "
        + Aead(MATERIAL)
        .message_key(barrier.WRAP_LABEL_V2, SALT, b"\x02" + barrier.term_key_aad(1))
        .hex(),
        f"ciphertext ‖ tag {wrapped[45:].hex()}",
    ]
    missing = [line for line in expected if line not in lines]
    assert not missing
