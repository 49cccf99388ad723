"""How `v1_ciphertexts.json` was made: run ONCE, at commit dd2ff7e (before format v2).

Kept as the record of the fixtures' origin. The blobs come from the public sealing
functions of that commit (random nonces, exactly as a server made them then), not from
a re-implementation. Run today it would make v2 blobs: do not regenerate the fixtures.

    cd tests/unit/testdata/v1 && ../../../../.venv/bin/python make_v1_fixtures.py \
        > v1_ciphertexts.json
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

from keymgr.crypto import barrier, envelope
from keymgr.crypto.barrier import Keyring, material_aad, root_successor_aad, term_key_aad
from keymgr.seal.devfile import FileSeal


def key(name: str) -> bytes:
    return hashlib.sha256(b"keymgr v1 fixture key/" + name.encode()).digest()


def main() -> None:
    material, term1, term2 = key("material"), key("term-1"), key("term-2")
    root, old_root, unseal, file_key = key("root"), key("old-root"), key("unseal"), key("file")
    key_id = "5f1c0ffee0ddf00d5eed5a1ad0000001"
    envelopes = []
    for plaintext, context, version in [
        (b"hello keymgr v1", {"tenant": "acme", "volume": "vol-1"}, 3),
        (b"", {}, 1),
        (key("data-key"), {"k8s-kms": "v2"}, 2),
        (b"x" * 1000, {"\u00e9t\u00e9": "\u2603", "a": ""}, 0xFFFFFFFF),
    ]:
        blob = envelope.seal(material, key_id, version, plaintext, context)
        envelopes.append(
            {
                "key_version": version,
                "context": context,
                "plaintext": plaintext.hex(),
                "blob": blob.hex(),
            }
        )
    ring = Keyring({1: term1, 2: term2}, active_term=2)
    old_ring = Keyring({1: term1}, active_term=1)
    barriers = []
    for keyring, version, plain in [(ring, 4, key("material-v4")), (old_ring, 1, material)]:
        aad = material_aad(key_id, version)
        barriers.append(
            {
                "term": keyring.active_term,
                "key_version": version,
                "aad": aad.decode(),
                "plaintext": plain.hex(),
                "blob": keyring.encrypt(plain, aad).hex(),
            }
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seal.key"
        path.write_bytes(file_key)
        path.chmod(0o600)
        file_blob = FileSeal(path).wrap_root_key(root)
    fixtures = {
        "_about": "Made by tests/unit/testdata/v1/make_v1_fixtures.py at commit dd2ff7e "
        "(format v1, random nonces). Never regenerate: these prove that blobs "
        "made by that code still open.",
        "keys": {
            name: value.hex()
            for name, value in [
                ("material", material),
                ("term-1", term1),
                ("term-2", term2),
                ("root", root),
                ("old-root", old_root),
                ("unseal", unseal),
                ("file", file_key),
            ]
        },
        "key_id": key_id,
        "envelopes": envelopes,
        "barrier": barriers,
        "wrapped_term_key": {
            "term": 2,
            "aad": term_key_aad(2).decode(),
            "blob": barrier.wrap_term_key(root, 2, term2).hex(),
        },
        "wrapped_root_key": {"blob": barrier.wrap_root_key(unseal, root).hex()},
        "root_successor": {
            "generation": 5,
            "aad": root_successor_aad(5).decode(),
            "blob": barrier.wrap_root_key(old_root, root, root_successor_aad(5)).hex(),
        },
        "file_seal": {"blob": file_blob.hex()},
    }
    json.dump(fixtures, sys.stdout, indent=1, ensure_ascii=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
