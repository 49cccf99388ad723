"""Export records in the state machine: a used grant records where the material went,
with the key, version, approvers and time taken from the state machine's own grant and
command (not the proposer's word); bad records, HSM-held and non-exportable keys are
refused and change nothing; replicas and snapshots agree byte for byte."""

from __future__ import annotations

from typing import Any

import pytest

from keymgr.store.keystore import KeyStore
from keymgr.v1 import keys_pb2, store_pb2
from tests.unit.test_keystore import INVALID, PRECONDITION, create_op, encode, fresh, kid, ok

FINGERPRINT = bytes(range(32))


def bundle(**overrides: Any) -> store_pb2.ExportBundle:
    fields: dict[str, Any] = {
        "destination": "aws",
        "algorithm": "RSA_AES_KEY_WRAP_SHA_256",
        "wrapping_key_sha256": FINGERPRINT,
        "key_id": "forged-by-the-proposer",
        "approvers": ["mallory"],
        "exported_at_ms": 1,
    }
    fields.update(overrides)
    return store_pb2.ExportBundle(**fields)


def grant_request(key_n: int = 1) -> bytes:
    """An export grant "g1" for key `key_n` version 1, asked for by alice (who alone
    suffices: one approval needed)."""
    return encode(
        t=1100,
        request_approval=store_pb2.RequestApproval(
            operation_id="g1",
            kind="export-key",
            expires_at_ms=10**9,
            command=store_pb2.Command(
                grant_export=store_pb2.GrantExport(
                    grant=store_pb2.ExportGrant(
                        id="g1",
                        key_id=kid(key_n),
                        version=1,
                        grantee="alice",
                        expires_at_ms=10**9,
                    )
                )
            ),
        ),
    )


def granted_store() -> KeyStore:
    store = fresh()
    for command in (encode(create_key=create_op(1, "exportable")), grant_request()):
        ok(store_pb2.CommandResult.FromString(store.apply(command)))
    return store


def use(store: KeyStore, record: store_pb2.ExportBundle, t: int = 5000) -> store_pb2.CommandResult:
    raw = encode(t=t, use_export_grant=store_pb2.UseExportGrant(grant_id="g1", bundle=record))
    return store_pb2.CommandResult.FromString(store.apply(raw))


def test_the_record_takes_what_and_who_from_the_grant() -> None:
    store = granted_store()
    ok(use(store, bundle()))
    [record] = store_pb2.StoreState.FromString(store.snapshot()).export_bundles
    assert (record.id, record.key_id, record.version) == ("g1", kid(1), 1)
    assert list(record.approvers) == ["alice"] and record.exported_by == "alice"
    assert record.exported_at_ms == 5000
    assert (record.destination, record.wrapping_key_sha256) == ("aws", FINGERPRINT)
    assert store._t.access.bundles_of(kid(1)) == [record]
    assert store._t.access.bundles_of(kid(2)) == []


def test_replicas_and_restores_agree() -> None:
    first = granted_store()
    second = granted_store()
    ok(use(first, bundle(destination="azure", kek_id="https://kv/keys/kek/1")))
    ok(use(second, bundle(destination="azure", kek_id="https://kv/keys/kek/1")))
    assert first.snapshot() == second.snapshot()
    restored = KeyStore()
    restored.restore(first.snapshot())
    assert restored.snapshot() == first.snapshot()


@pytest.mark.parametrize(
    ("record", "fragment"),
    [
        (bundle(destination="mars"), "use_export_grant.bundle.destination"),
        (bundle(algorithm=""), "use_export_grant.bundle.algorithm"),
        (bundle(wrapping_key_sha256=b"short"), "use_export_grant.bundle.wrapping_key_sha256"),
        (bundle(destination="azure"), "use_export_grant.bundle.kek_id"),
        (bundle(kek_id="kid-for-aws"), "use_export_grant.bundle.kek_id"),
        (bundle(destination_name="prod eu"), "use_export_grant.bundle.destination_name"),
        (bundle(destination_name="x" * 129), "use_export_grant.bundle.destination_name"),
        (bundle(usage="decrypt-only"), "use_export_grant.bundle.usage"),
    ],
)
def test_bad_records_are_refused_and_the_grant_stays_unused(
    record: store_pb2.ExportBundle, fragment: str
) -> None:
    store = granted_store()
    before = store.snapshot()
    result = use(store, record)
    assert result.error.code == INVALID and fragment in result.error.message
    after = store_pb2.StoreState.FromString(store.snapshot())
    assert not after.export_bundles and not after.export_grants[0].used
    assert len(before) == len(store.snapshot())


def test_a_used_grant_records_once() -> None:
    store = granted_store()
    ok(use(store, bundle()))
    again = use(store, bundle(destination="gcp"), t=6000)
    assert again.error.code == PRECONDITION and "already used" in again.error.message
    assert len(store_pb2.StoreState.FromString(store.snapshot()).export_bundles) == 1


@pytest.mark.parametrize(
    ("create", "message"),
    [
        ({"purpose": keys_pb2.KEY_PURPOSE_HSM}, "HSM-held keys cannot be exported"),
        (
            {"non_exportable": True},
            "the key was created non-exportable: its material never leaves the cluster",
        ),
    ],
)
def test_hsm_and_non_exportable_keys_get_no_export_grant(
    create: dict[str, Any], message: str
) -> None:
    """The state machine refuses the grant itself, whatever a proposer sent."""
    store = fresh()
    created = ok(
        store_pb2.CommandResult.FromString(
            store.apply(encode(create_key=create_op(1, "kept-in", **create)))
        )
    )
    assert created.key.non_exportable == bool(create.get("non_exportable"))
    result = store_pb2.CommandResult.FromString(store.apply(grant_request()))
    error = result.operation.result.error
    assert error.code == PRECONDITION and error.message == message
    assert not store_pb2.StoreState.FromString(store.snapshot()).export_grants


def test_the_record_keeps_the_stated_usage() -> None:
    store = granted_store()
    ok(use(store, bundle(usage="generate-verify-mac")))
    [record] = store_pb2.StoreState.FromString(store.snapshot()).export_bundles
    assert record.usage == "generate-verify-mac"


def test_no_export_grant_for_a_version_whose_imported_material_expired() -> None:
    """The state machine names the expiry, not a missing version."""
    from tests.unit.test_keystore_import import import_op, prepare_op

    store = fresh()
    ok(
        store_pb2.CommandResult.FromString(
            store.apply(
                encode(
                    create_key=create_op(
                        1, "byok", wrapped_material=b"", origin=keys_pb2.KEY_ORIGIN_EXTERNAL
                    )
                )
            )
        )
    )
    for t, op in (
        (1000, {"prepare_import": prepare_op()}),
        (1050, {"import_material": import_op(expires_at_ms=1080)}),
        (1090, {"expire_material": store_pb2.ExpireMaterial(key_id=kid(1), version=1)}),
    ):
        ok(store_pb2.CommandResult.FromString(store.apply(encode(t=t, **op))))
    result = store_pb2.CommandResult.FromString(store.apply(grant_request()))
    error = result.operation.result.error
    assert error.code == PRECONDITION
    assert error.message == "version 1 of key 'byok': imported material expired; import it again"
