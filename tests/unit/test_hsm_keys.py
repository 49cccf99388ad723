"""Keys of purpose HSM against a real SoftHSM2 token: the material goes into the token
as a non-extractable key, every AES-GCM operation runs there, the envelope is the same
as for software keys, and a reset session or a seal removes the key."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

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
    assert envelope.open(Aead(material), blob, context) == b"secret"  # same bytes
    soft = envelope.seal(Aead(material), KEY_ID, 1, b"other", context)
    assert envelope.open(key, soft, context) == b"other"
    with pytest.raises(DecryptionFailed):
        envelope.open(key, blob, {"volume": "v-2"})  # the HSM checks the tag
    assert imports == [1]  # imported once, then reused


def test_the_imported_key_is_sensitive_and_never_extractable(tmp_path: Path) -> None:
    import pkcs11
    from pkcs11 import Attribute

    key, _, _ = _hsm_key(tmp_path)
    key.encrypt(b"x", b"aad")
    handle = key._key()
    owner = key.seal._owner

    with pytest.raises(pkcs11.AttributeSensitive):
        owner.call(lambda: handle[Attribute.VALUE], 5.0)
    flags = owner.call(lambda: (handle[Attribute.EXTRACTABLE], handle[Attribute.SENSITIVE],
                                handle[Attribute.TOKEN], handle[Attribute.WRAP]), 5.0)
    assert flags == (False, True, False, False)


def test_a_reset_session_imports_again_and_close_removes_the_key(tmp_path: Path) -> None:
    from pkcs11 import Attribute, ObjectClass

    key, _, imports = _hsm_key(tmp_path)
    blob = key.encrypt(b"before", b"aad")
    key.seal._owner.call(key.seal._owner.reset, 5.0)  # e.g. the token went away and back
    assert key.decrypt(blob, b"aad") == b"before"
    assert imports == [1, 1]
    seal = key.seal

    def labelled() -> int:
        session = seal._owner.session(seal.token_label, seal._pin)
        found = session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY,
                                     Attribute.LABEL: f"keymgr/{KEY_ID}/v1"})
        return len(list(found))

    assert seal._owner.call(labelled, 5.0) == 1
    key.close()
    assert seal._owner.call(labelled, 5.0) == 0


def test_a_wrong_material_source_is_refused_by_the_token(tmp_path: Path) -> None:
    seal = token_seal(new_token(), write_pin_file(tmp_path))
    with pytest.raises(ValueError):
        seal.import_key("short", os.urandom(16))
