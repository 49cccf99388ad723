"""`keymgr report byok`'s core: which (key, destination) pairs still hold an older
version than the key's current one. Keys and export records in, rows out."""

from __future__ import annotations

from keymgr.ops.byok_coverage import missing_pushes
from keymgr.v1 import keys_pb2, store_pb2

ENABLED = keys_pb2.KEY_STATE_ENABLED


def key(name: str, current: int, state: keys_pb2.KeyState = ENABLED) -> keys_pb2.Key:
    return keys_pb2.Key(id=f"id-{name}", name=name, current_version=current, state=state)


def sent(
    name: str, version: int, destination: str, at: int, label: str = ""
) -> store_pb2.ExportBundle:
    return store_pb2.ExportBundle(
        key_id=f"id-{name}",
        version=version,
        destination=destination,
        destination_name=label,
        exported_at_ms=at,
        wrapping_key_sha256=bytes([at % 256]) * 32,
    )


def rows(keys: list[keys_pb2.Key], bundles: list[store_pb2.ExportBundle]) -> list[str]:
    by_key: dict[str, list[store_pb2.ExportBundle]] = {}
    for bundle in bundles:
        by_key.setdefault(bundle.key_id, []).append(bundle)
    return [
        f"{m.key_name} v{m.current_version} {m.where} has v{m.last_version}"
        for m in missing_pushes(keys, by_key)
    ]


def test_a_rotation_leaves_every_destination_behind_until_each_gets_the_new_version() -> None:
    v1 = [sent("orders", 1, "aws", 10), sent("orders", 1, "openbao", 11)]
    assert rows([key("orders", 1)], v1) == []
    assert rows([key("orders", 2)], v1) == ["orders v2 aws has v1", "orders v2 openbao has v1"]
    assert rows([key("orders", 2)], [*v1, sent("orders", 2, "openbao", 20)]) == [
        "orders v2 aws has v1"
    ]
    assert (
        rows(
            [key("orders", 2)],
            [*v1, sent("orders", 2, "openbao", 20), sent("orders", 2, "aws", 21)],
        )
        == []
    )


def test_named_destinations_of_one_kind_count_apart() -> None:
    bundles = [
        sent("m", 1, "aws", 1, "prod-eu"),
        sent("m", 1, "aws", 2, "prod-us"),
        sent("m", 2, "aws", 3, "prod-eu"),
    ]
    assert rows([key("m", 2)], bundles) == ["m v2 aws:prod-us has v1"]


def test_the_newest_export_counts_and_an_older_re_export_does_not_undo_it() -> None:
    bundles = [sent("k", 2, "gcp", 5), sent("k", 1, "gcp", 9)]  # v1 again, later
    assert rows([key("k", 2)], bundles) == []
    [row] = missing_pushes([key("k", 3)], {"id-k": bundles})
    assert (row.last_version, row.last_exported_at_ms) == (2, 5)
    assert row.as_dict()["last_wrapping_key_sha256"] == "05" * 32


def test_keys_never_exported_disabled_or_without_material_are_not_listed() -> None:
    bundles = [sent("off", 1, "aws", 1), sent("gone", 1, "aws", 1)]
    keys = [
        key("never", 3),
        key("off", 2, keys_pb2.KEY_STATE_DISABLED),
        key("gone", 2, keys_pb2.KEY_STATE_PENDING_DELETION),
        key("empty", 0),
    ]
    assert rows(keys, bundles) == []


def test_rows_are_sorted_by_key_then_destination() -> None:
    bundles = [sent(n, 1, d, 1) for n in ("b", "a") for d in ("openbao", "azure")]
    assert rows([key("b", 2), key("a", 2)], bundles) == [
        "a v2 azure has v1",
        "a v2 openbao has v1",
        "b v2 azure has v1",
        "b v2 openbao has v1",
    ]
