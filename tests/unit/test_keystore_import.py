"""KeyStore: the import commands (PrepareImport, ImportMaterial) and EXTERNAL keys."""

from __future__ import annotations

from typing import Any

import pytest

from keymgr.store.keystore import KeyStore
from keymgr.v1 import keys_pb2, store_pb2
from tests.unit.test_keystore import (
    INVALID,
    NOT_FOUND,
    PRECONDITION,
    create_op,
    fresh,
    kid,
    ok,
    run,
)

EXTERNAL = keys_pb2.KEY_ORIGIN_EXTERNAL
TOKEN = "ab" * 16
DIGEST = b"\x00\x00\x00\x01" + b"d" * 32


def prepare_op(n: int = 1, **overrides: Any) -> store_pb2.PrepareImport:
    fields: dict[str, Any] = {
        "key_id": kid(n),
        "token_id": TOKEN,
        "public_key": b"spki",
        "wrapped_private_key": b"wrapped-rsa",
        "expires_at_ms": 5000,
    }
    fields.update(overrides)
    return store_pb2.PrepareImport(**fields)


def import_op(n: int = 1, **overrides: Any) -> store_pb2.ImportMaterial:
    fields: dict[str, Any] = {
        "key_id": kid(n),
        "token_id": TOKEN,
        "version": 1,
        "wrapped_material": b"m1",
        "material_digest": DIGEST,
    }
    fields.update(overrides)
    return store_pb2.ImportMaterial(**fields)


def external_store() -> KeyStore:
    store = fresh()
    ok(run(store, create_key=create_op(1, "byok", wrapped_material=b"", origin=EXTERNAL)))
    return store


def refused(result: store_pb2.CommandResult, code: int, field: str) -> None:
    assert result.WhichOneof("result") == "error"
    assert result.error.code == code and field in result.error.message, result.error


def test_external_key_starts_without_material_and_snapshots() -> None:
    store = external_store()
    stored = store.lookup(kid(1))
    assert stored is not None
    assert stored.key.origin == EXTERNAL and stored.key.current_version == 0
    assert not stored.key.versions and not stored.wrapped_material
    replica = KeyStore()
    replica.restore(store.snapshot())
    assert replica.snapshot() == store.snapshot()


def test_create_external_refuses_material_and_rotation_period() -> None:
    store = fresh()
    refused(
        run(store, create_key=create_op(1, "a", origin=EXTERNAL)),
        INVALID,
        "create_key.wrapped_material",
    )
    refused(
        run(
            store,
            create_key=create_op(
                2, "b", wrapped_material=b"", origin=EXTERNAL, rotation_period_s=60
            ),
        ),
        INVALID,
        "create_key.rotation_period_s",
    )
    refused(run(store, create_key=create_op(3, "c", origin=9)), INVALID, "create_key.origin")


def test_import_adds_version_with_origin_and_spends_the_token() -> None:
    store = external_store()
    ok(run(store, t=1000, prepare_import=prepare_op()))
    key = ok(run(store, t=2000, import_material=import_op())).key
    assert key.current_version == 1
    version = key.versions[0]
    assert (version.origin, version.created_by, version.created_at_ms) == (EXTERNAL, "alice", 2000)
    stored = store.lookup(kid(1))
    assert stored is not None and not stored.HasField("pending_import")
    assert stored.wrapped_material[1] == b"m1" and stored.import_digests[1] == DIGEST
    refused(
        run(store, t=2001, import_material=import_op(version=2)), PRECONDITION, "import_token"
    )  # single use
    replica = KeyStore()
    replica.restore(store.snapshot())
    assert replica.snapshot() == store.snapshot()


def test_reimport_same_version_needs_the_same_digest() -> None:
    store = external_store()
    ok(run(store, t=1000, prepare_import=prepare_op()))
    ok(run(store, t=1100, import_material=import_op()))
    ok(run(store, t=1200, prepare_import=prepare_op()))
    refused(
        run(
            store,
            t=1300,
            import_material=import_op(wrapped_material=b"", material_digest=b"\0" * 36),
        ),
        PRECONDITION,
        "wrapped_key_material",
    )
    before = store.snapshot()
    refused(
        run(store, t=1300, import_material=import_op()), INVALID, "import_material.wrapped_material"
    )  # a re-import carries no material
    assert store.lookup(kid(1)).HasField("pending_import")  # type: ignore[union-attr]
    key = ok(run(store, t=1400, import_material=import_op(wrapped_material=b""))).key
    assert key.current_version == 1 and len(before) > 0
    refused(run(store, t=1500, import_material=import_op(version=5)), PRECONDITION, "import_token")


@pytest.mark.parametrize(
    ("at", "op", "code", "field"),
    [
        (6000, import_op(), PRECONDITION, "import_token: expired"),
        (6000, import_op(token_id="cd" * 16), PRECONDITION, "import_token"),
        (2000, import_op(token_id="XYZ"), INVALID, "import_material.token_id"),
        (2000, import_op(material_digest=b"short"), INVALID, "import_material.material_digest"),
        (2000, import_op(version=0), INVALID, "import_material.version"),
        (2000, import_op(version=3), INVALID, "import_material.version"),
        (2000, import_op(wrapped_material=b""), INVALID, "import_material.wrapped_material"),
        (2000, import_op(n=7), NOT_FOUND, "import_material.key_id"),
    ],
)
def test_import_refusals_change_nothing(at: int, op: Any, code: int, field: str) -> None:
    store = external_store()
    ok(run(store, t=1000, prepare_import=prepare_op()))
    before = store.lookup(kid(1))
    refused(run(store, t=at, import_material=op), code, field)
    assert store.lookup(kid(1)) == before


@pytest.mark.parametrize(
    ("op", "field"),
    [
        (prepare_op(expires_at_ms=1000), "prepare_import.expires_at_ms"),
        (prepare_op(expires_at_ms=1000 + 86_400_001), "prepare_import.expires_at_ms"),
        (prepare_op(token_id=""), "prepare_import.token_id"),
        (prepare_op(public_key=b""), "prepare_import.public_key"),
        (prepare_op(wrapped_private_key=b""), "prepare_import.wrapped_private_key"),
    ],
)
def test_prepare_refusals(op: store_pb2.PrepareImport, field: str) -> None:
    refused(run(external_store(), t=1000, prepare_import=op), INVALID, field)


def test_keymgr_keys_take_no_import_and_external_keys_no_rotation() -> None:
    store = external_store()
    ok(run(store, create_key=create_op(2, "made")))
    refused(run(store, prepare_import=prepare_op(2)), PRECONDITION, "origin KEYMGR")
    ok(run(store, t=1000, prepare_import=prepare_op()))
    ok(run(store, t=1100, import_material=import_op()))
    refused(
        run(
            store,
            rotate_key=store_pb2.RotateKey(key_id=kid(1), new_version=2, wrapped_material=b"m2"),
        ),
        PRECONDITION,
        "import a new version",
    )

    refused(
        run(
            store,
            set_rotation_policy=store_pb2.SetRotationPolicy(key_id=kid(1), rotation_period_s=3600),
        ),
        INVALID,
        "set_rotation_policy.rotation_period_s",
    )
