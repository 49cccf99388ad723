"""AES-256-GCM: NIST known answers, round trips, and every way decryption must fail."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keymgr.crypto import aead
from keymgr.crypto.aead import NONCE_SIZE, OVERHEAD, TAG_SIZE, Aead
from keymgr.crypto.errors import DecryptionFailed

# McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13, 14 and 16
# (AES-256, 96-bit IV): (key, iv, plaintext, aad, ciphertext ‖ tag).
NIST_VECTORS = [
    ("00" * 32, "00" * 12, "", "", "530f8afbc74536b9a963b4f1c4cb738b"),
    (
        "00" * 32,
        "00" * 12,
        "00" * 16,
        "",
        "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919",
    ),
    (
        "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        "cafebabefacedbaddecaf888",
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
        "76fc6ece0f4e1768cddf8853bb2d551b",
    ),
]

KEY = bytes(range(32))


@pytest.mark.parametrize(("key", "iv", "plaintext", "aad", "expected"), NIST_VECTORS)
def test_nist_vectors_encrypt(key: str, iv: str, plaintext: str, aad: str, expected: str) -> None:
    blob = Aead(bytes.fromhex(key)).encrypt_framed(
        b"", bytes.fromhex(iv), bytes.fromhex(plaintext), bytes.fromhex(aad)
    )
    assert blob == bytes.fromhex(iv + expected)


@pytest.mark.parametrize(("key", "iv", "plaintext", "aad", "expected"), NIST_VECTORS)
def test_nist_vectors_decrypt(key: str, iv: str, plaintext: str, aad: str, expected: str) -> None:
    blob = bytes.fromhex(iv + expected)
    assert aead.decrypt(bytes.fromhex(key), blob, bytes.fromhex(aad)) == bytes.fromhex(plaintext)
    secret = Aead(bytes.fromhex(key)).decrypt_secret(blob, bytes.fromhex(aad))
    assert isinstance(secret, bytearray)
    assert secret == bytes.fromhex(plaintext)


@given(plaintext=st.binary(max_size=512), aad=st.binary(max_size=64))
def test_round_trip(plaintext: bytes, aad: bytes) -> None:
    blob = aead.encrypt(KEY, plaintext, aad)
    assert len(blob) == len(plaintext) + OVERHEAD
    assert aead.decrypt(KEY, blob, aad) == plaintext
    assert Aead(KEY).decrypt(blob, aad) == plaintext


def test_accepts_bytearray_and_memoryview() -> None:
    key = bytearray(KEY)
    blob = Aead(key).encrypt(memoryview(b"hello"), bytearray(b"ad"))
    assert Aead(memoryview(KEY)).decrypt(bytearray(blob), b"ad") == b"hello"


def test_fresh_nonce_each_time() -> None:
    blobs = {aead.encrypt(KEY, b"same", b"") for _ in range(64)}
    assert len(blobs) == 64
    assert len({b[:NONCE_SIZE] for b in blobs}) == 64


@given(data=st.data())
def test_any_flipped_bit_fails(data: st.DataObject) -> None:
    blob = bytearray(aead.encrypt(KEY, b"attack at dawn", b"ad"))
    index = data.draw(st.integers(0, len(blob) - 1))
    bit = data.draw(st.integers(0, 7))
    blob[index] ^= 1 << bit
    with pytest.raises(DecryptionFailed):
        aead.decrypt(KEY, bytes(blob), b"ad")


def test_wrong_key_fails() -> None:
    blob = aead.encrypt(KEY, b"x", b"")
    with pytest.raises(DecryptionFailed):
        aead.decrypt(bytes(32), blob, b"")


def test_wrong_aad_fails() -> None:
    blob = aead.encrypt(KEY, b"x", b"a")
    with pytest.raises(DecryptionFailed):
        aead.decrypt(KEY, blob, b"b")


@pytest.mark.parametrize("size", [0, 1, NONCE_SIZE, OVERHEAD - 1])
def test_too_short_blob_fails(size: int) -> None:
    with pytest.raises(DecryptionFailed):
        aead.decrypt(KEY, bytes(size), b"")
    with pytest.raises(DecryptionFailed):
        Aead(KEY).decrypt_secret(bytes(size), b"")


def test_truncated_tag_fails() -> None:
    blob = aead.encrypt(KEY, b"payload", b"")
    with pytest.raises(DecryptionFailed):
        aead.decrypt(KEY, blob[:-1], b"")


def test_failure_message_is_opaque_and_has_no_bytes() -> None:
    blob = aead.encrypt(KEY, b"secret plaintext", b"")
    messages = set()
    for key, data, ad in [(bytes(32), blob, b""), (KEY, blob[:-1] + b"\0", b""), (KEY, blob, b"x")]:
        with pytest.raises(DecryptionFailed) as info:
            aead.decrypt(key, data, ad)
        messages.add(str(info.value))
        assert info.value.__cause__ is None
        assert info.value.__suppress_context__
    assert messages == {"decryption failed"}


def test_decrypt_secret_wipes_its_buffer_on_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    # GCM writes plaintext before it checks the tag: the buffer must be wiped, not leaked.
    wiped: list[bytearray | memoryview] = []
    real_wipe = aead.wipe

    def spy(buffer: bytearray | memoryview) -> None:
        real_wipe(buffer)
        wiped.append(buffer)

    monkeypatch.setattr(aead, "wipe", spy)
    blob = bytearray(aead.encrypt(KEY, b"k" * 32, b""))
    blob[-1] ^= 1
    with pytest.raises(DecryptionFailed):
        Aead(KEY).decrypt_secret(bytes(blob), b"")
    assert len(wiped) == 1
    assert bytes(wiped[0]) == bytes(32)


@pytest.mark.parametrize("size", [0, 16, 24, 31, 33, 64])
def test_wrong_key_length_is_value_error(size: int) -> None:
    with pytest.raises(ValueError, match=f"must be 32 bytes, got {size}"):
        Aead(bytes(size))
    with pytest.raises(ValueError):
        aead.encrypt(bytes(size), b"", b"")
    with pytest.raises(ValueError):
        aead.decrypt(bytes(size), bytes(64), b"")


def test_key_of_wrong_type_is_type_error() -> None:
    with pytest.raises(TypeError):
        Aead("k" * 32)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [0, 8, 11, 13, 16])
def test_framed_rejects_bad_nonce_length(size: int) -> None:
    with pytest.raises(ValueError, match="nonce must be 12 bytes"):
        Aead(KEY).encrypt_framed(b"", bytes(size), b"", b"")


def test_framed_puts_prefix_first() -> None:
    nonce = os.urandom(NONCE_SIZE)
    blob = Aead(KEY).encrypt_framed(b"HDR", nonce, b"body", b"ad")
    assert blob[:3] == b"HDR"
    assert blob[3 : 3 + NONCE_SIZE] == nonce
    assert len(blob) == 3 + NONCE_SIZE + 4 + TAG_SIZE
    assert Aead(KEY).decrypt(blob[3:], b"ad") == b"body"


def test_repr_hides_key() -> None:
    key = bytes([0xAB]) * 32
    assert "ab" not in repr(Aead(key)).lower()
    assert "171" not in repr(Aead(key))


def test_wipe_zeroes_buffer() -> None:
    buf = bytearray(b"secret")
    aead.wipe(buf)
    assert buf == bytes(6)


# --- the derived construction: a fresh key per message --------------------------------

LABEL = b"keymgr/test/v2\0"
SALT = bytes(range(200, 232))
NONCE = bytes(range(100, 112))
# Known answers, frozen (computed once, then checked below against the definition with
# the raw primitives): HMAC-SHA256(KEY, LABEL ‖ SALT ‖ b"ad" ‖ 0x01), and the blob.
KAT_MESSAGE_KEY = "72eab91d9db5431a924c33d1271f4f7e37fa4d00455b2cda8ac03604afbe1cac"
KAT_DERIVED = (
    SALT.hex() + NONCE.hex() + "0d12a505131e71f73c2bbd47958b3f4e7b34d5ae9b24be2a87789ce58534"
)


def test_derived_known_answer() -> None:
    cipher = Aead(KEY)
    assert cipher.message_key(LABEL, SALT, b"ad").hex() == KAT_MESSAGE_KEY
    blob = cipher.encrypt_derived(b"", LABEL, SALT, NONCE, b"attack at dawn", b"ad")
    assert blob.hex() == KAT_DERIVED
    assert cipher.decrypt_derived(blob, LABEL, b"ad") == b"attack at dawn"
    assert cipher.decrypt_derived_secret(blob, LABEL, b"ad") == b"attack at dawn"


def test_derived_matches_its_definition() -> None:
    # HKDF-Expand-SHA256 with the long-lived key as PRK is one HMAC block: rebuilt with
    # two independent implementations, then the GCM layer with the raw primitive.
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

    info = LABEL + SALT + b"ad"
    expected = HKDFExpand(hashes.SHA256(), 32, info).derive(KEY)
    assert expected == hmac.digest(KEY, info + b"\x01", hashlib.sha256)
    assert expected.hex() == KAT_MESSAGE_KEY
    body = AESGCM(expected).encrypt(NONCE, b"attack at dawn", b"ad")
    assert (SALT + NONCE + body).hex() == KAT_DERIVED


def test_derived_is_not_gcm_under_the_long_lived_key() -> None:
    # The finding: GCM directly under a long-lived key with random nonces. A derived blob
    # does not open with the long-lived key itself.
    blob = Aead(KEY).encrypt_derived(b"", LABEL, SALT, NONCE, b"x", b"ad")
    with pytest.raises(DecryptionFailed):
        Aead(KEY).decrypt(blob[aead.SALT_SIZE :], b"ad")


def test_message_key_binds_salt_label_and_aad() -> None:
    cipher = Aead(KEY)
    keys = {
        cipher.message_key(LABEL, SALT, b"ad"),
        cipher.message_key(LABEL, bytes(32), b"ad"),
        cipher.message_key(b"keymgr/other/v2\0", SALT, b"ad"),
        cipher.message_key(LABEL, SALT, b"ae"),
        Aead(bytes(32)).message_key(LABEL, SALT, b"ad"),
    }
    assert len(keys) == 5


@pytest.mark.parametrize(
    ("label", "salt", "match"),
    [(b"no-nul", SALT, "NUL"), (LABEL, bytes(31), "salt must be 32 bytes")],
)
def test_message_key_input_is_checked(label: bytes, salt: bytes, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Aead(KEY).message_key(label, salt, b"")


@given(plaintext=st.binary(max_size=256), aad=st.binary(max_size=64))
def test_derived_round_trip(plaintext: bytes, aad: bytes) -> None:
    cipher = Aead(bytearray(KEY))
    blob = cipher.encrypt_derived(
        b"P", LABEL, os.urandom(aead.SALT_SIZE), os.urandom(NONCE_SIZE), plaintext, aad
    )
    assert blob[:1] == b"P" and len(blob) == 1 + len(plaintext) + aead.DERIVED_OVERHEAD
    assert cipher.decrypt_derived(memoryview(blob)[1:], LABEL, aad) == plaintext


@given(data=st.data())
def test_derived_any_flipped_bit_fails(data: st.DataObject) -> None:
    blob = bytearray(Aead(KEY).encrypt_derived(b"", LABEL, SALT, NONCE, b"attack", b"ad"))
    blob[data.draw(st.integers(0, len(blob) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(DecryptionFailed):
        Aead(KEY).decrypt_derived(bytes(blob), LABEL, b"ad")


def test_derived_wrong_label_key_or_aad_fails_opaquely() -> None:
    blob = Aead(KEY).encrypt_derived(b"", LABEL, SALT, NONCE, b"secret", b"ad")
    messages = set()
    for key, label, ad in [
        (bytes(32), LABEL, b"ad"),
        (KEY, b"keymgr/x\0", b"ad"),
        (KEY, LABEL, b"ae"),
    ]:
        with pytest.raises(DecryptionFailed) as info:
            Aead(key).decrypt_derived(blob, label, ad)
        messages.add(str(info.value))
    assert messages == {"decryption failed"}


@pytest.mark.parametrize("size", [0, 32, 44, aead.DERIVED_OVERHEAD - 1])
def test_derived_too_short_fails(size: int) -> None:
    with pytest.raises(DecryptionFailed):
        Aead(KEY).decrypt_derived(bytes(size), LABEL, b"")
    with pytest.raises(DecryptionFailed):
        Aead(KEY).decrypt_derived_secret(bytes(size), LABEL, b"")


def test_derived_secret_wipes_its_buffer_on_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    wiped: list[bytearray | memoryview] = []
    real_wipe = aead.wipe

    def spy(buffer: bytearray | memoryview) -> None:
        real_wipe(buffer)
        wiped.append(buffer)

    monkeypatch.setattr(aead, "wipe", spy)
    blob = bytearray(Aead(KEY).encrypt_derived(b"", LABEL, SALT, NONCE, b"k" * 32, b""))
    blob[-1] ^= 1
    with pytest.raises(DecryptionFailed):
        Aead(KEY).decrypt_derived_secret(bytes(blob), LABEL, b"")
    assert len(wiped) == 1 and bytes(wiped[0]) == bytes(32)


def test_derived_rejects_bad_nonce_length() -> None:
    with pytest.raises(ValueError, match="nonce must be 12 bytes"):
        Aead(KEY).encrypt_derived(b"", LABEL, SALT, bytes(8), b"", b"")
