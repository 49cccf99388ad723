"""Keys of purpose HSM against a real SoftHSM2 token: the material goes into the token
as a non-extractable key, every AES-GCM operation runs there under a per-message key
the token derives, the envelope is the same as for software keys (v2 made, v1 opened),
and a reset session or a seal removes the keys."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import pytest

from keymgr.crypto import envelope
from keymgr.crypto.aead import Aead
from keymgr.crypto.errors import DecryptionFailed
from keymgr.server.hsm_keys import HsmKey
from tests.unit.softhsm_process import new_token, token_seal, write_pin_file

KEY_ID = "0f" * 16


def _hsm_key(tmp_path: Path) -> tuple[HsmKey, bytes, list[int]]:
    seal = token_seal(new_token(), write_pin_file(tmp_path))
    material = secrets.token_bytes(32)
    imports: list[int] = []

    def source() -> bytearray:
        imports.append(1)
        return bytearray(material)

    return HsmKey(seal, f"keymgr/{KEY_ID}/v1", source), material, imports


def test_hsm_key_speaks_the_same_envelope_as_software(tmp_path: Path) -> None:
    key, material, imports = _hsm_key(tmp_path)
    context = {"volume": "v-1"}
    blob = envelope.seal(key, KEY_ID, 1, b"secret", context)
    assert blob[0] == envelope.FORMAT_V2
    assert envelope.open(Aead(material), blob, context) == b"secret"  # same bytes
    soft = envelope.seal(Aead(material), KEY_ID, 1, b"other", context)
    assert envelope.open(key, soft, context) == b"other"
    with pytest.raises(DecryptionFailed):
        envelope.open(key, blob, {"volume": "v-2"})  # the HSM checks the tag
    assert imports == [1]  # imported once (the PRF object), then reused


def test_hsm_key_known_answer_matches_software(tmp_path: Path) -> None:
    key, material, _ = _hsm_key(tmp_path)
    salt, nonce = bytes(range(200, 232)), bytes(range(100, 112))
    made = envelope._seal_with(salt, nonce, key, KEY_ID, 7, b"hello keymgr", {"a": "b"})
    assert made == envelope._seal_with(
        salt, nonce, material, KEY_ID, 7, b"hello keymgr", {"a": "b"}
    )


def test_hsm_key_opens_v1_envelopes_made_by_the_old_code(tmp_path: Path) -> None:
    fixtures = json.loads(
        (Path(__file__).parent / "testdata" / "v1" / "v1_ciphertexts.json").read_text()
    )
    material = bytes.fromhex(fixtures["keys"]["material"])
    seal = token_seal(new_token(), write_pin_file(tmp_path))
    key = HsmKey(seal, "keymgr/fixture/v1", lambda: bytearray(material))
    for case in fixtures["envelopes"]:
        blob = bytes.fromhex(case["blob"])
        assert blob[0] == 1
        assert envelope.open(key, blob, case["context"]) == bytes.fromhex(case["plaintext"])
        with pytest.raises(DecryptionFailed):
            envelope.open(key, blob, {"other": "context"})


def test_hsm_key_never_encrypts_directly_under_the_version_key(tmp_path: Path) -> None:
    key, _, imports = _hsm_key(tmp_path)
    with pytest.raises(TypeError, match="per-message"):
        key.encrypt(b"x", b"aad")
    with pytest.raises(TypeError, match="per-message"):
        key.encrypt_framed(b"", bytes(12), b"x", b"aad")
    with pytest.raises(TypeError, match="inside the HSM"):
        key.message_key(b"keymgr/envelope/v2\0", bytes(32), b"")
    assert imports == []


def _v1(material: bytes) -> bytes:
    """A format-v1 envelope as the old code made it (GCM under the version key)."""
    return envelope._seal_v1_with_nonce(os.urandom(12), material, KEY_ID, 1, b"old", {})


def _objects(key: HsmKey, label: str | None = None) -> int:
    from pkcs11 import Attribute, ObjectClass

    seal = key.seal

    def count() -> int:
        session = seal._owner.session(seal.token_label, seal._pin)
        template: dict[Any, Any] = {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.TOKEN: False}
        if label is not None:
            template[Attribute.LABEL] = label
        return len(list(session.get_objects(template)))

    return seal._owner.call(count, 5.0)


def test_per_message_keys_do_not_pile_up_in_the_token(tmp_path: Path) -> None:
    key, _, _ = _hsm_key(tmp_path)
    blob = envelope.seal(key, KEY_ID, 1, b"x", {})
    baseline = _objects(key)
    for _ in range(20):
        envelope.open(key, envelope.seal(key, KEY_ID, 1, b"x", {}), {})
    with pytest.raises(DecryptionFailed):
        envelope.open(key, blob[:-1] + bytes([blob[-1] ^ 1]), {})  # a failed open too
    assert _objects(key) == baseline == 1  # only the PRF object


def test_the_imported_keys_are_sensitive_and_never_extractable(tmp_path: Path) -> None:
    import pkcs11
    from pkcs11 import Attribute

    key, material, _ = _hsm_key(tmp_path)
    envelope.open(key, envelope.seal(key, KEY_ID, 1, b"x", {}), {})
    envelope.open(key, _v1(material), {})  # imports the v1 AES object too
    owner = key.seal._owner
    for handle, sign in [(key._key(prf=True), True), (key._key(), False)]:
        with pytest.raises(pkcs11.AttributeSensitive):
            owner.call(lambda h=handle: h[Attribute.VALUE], 5.0)
        flags = owner.call(
            lambda h=handle: (
                h[Attribute.EXTRACTABLE],
                h[Attribute.SENSITIVE],
                h[Attribute.TOKEN],
                h[Attribute.WRAP],
                h[Attribute.SIGN],
                h[Attribute.ENCRYPT],
            ),
            5.0,
        )
        assert flags == (False, True, False, False, sign, not sign)


def test_a_reset_session_imports_again_and_close_removes_the_key(tmp_path: Path) -> None:
    key, material, imports = _hsm_key(tmp_path)
    blob = envelope.seal(key, KEY_ID, 1, b"before", {"a": "b"})
    key.seal._owner.call(key.seal._owner.reset, 5.0)  # e.g. the token went away and back
    assert envelope.open(key, blob, {"a": "b"}) == b"before"
    assert imports == [1, 1]
    assert envelope.open(key, _v1(material), {}) == b"old"
    assert imports == [1, 1, 1]  # the v1 AES object, on first need

    assert _objects(key, f"keymgr/{KEY_ID}/v1/prf") == 1
    assert _objects(key, f"keymgr/{KEY_ID}/v1") == 1
    key.close()
    assert _objects(key, f"keymgr/{KEY_ID}/v1/prf") == 0
    assert _objects(key, f"keymgr/{KEY_ID}/v1") == 0


def test_a_wrong_material_source_is_refused_by_the_token(tmp_path: Path) -> None:
    seal = token_seal(new_token(), write_pin_file(tmp_path))
    with pytest.raises(ValueError):
        seal.import_key("short", os.urandom(16))
