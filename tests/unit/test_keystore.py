"""KeyStore: every command, every refusal, request ids, purge, snapshots, determinism."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keymgr.store.keystore import REQUEST_WINDOW, KeyStore
from keymgr.v1 import keys_pb2, store_pb2

INVALID = store_pb2.ERROR_CODE_INVALID_ARGUMENT
NOT_FOUND = store_pb2.ERROR_CODE_NOT_FOUND
EXISTS = store_pb2.ERROR_CODE_ALREADY_EXISTS
PRECONDITION = store_pb2.ERROR_CODE_FAILED_PRECONDITION
CONFLICT = store_pb2.ERROR_CODE_CONFLICT
ENABLED = keys_pb2.KEY_STATE_ENABLED
DISABLED = keys_pb2.KEY_STATE_DISABLED
PENDING = keys_pb2.KEY_STATE_PENDING_DELETION
DESTROYED = keys_pb2.KEY_STATE_DESTROYED
FAR = 10**12


def kid(n: int) -> str:
    return f"{n:032x}"


def init_op(**overrides: Any) -> store_pb2.InitCluster:
    fields: dict[str, Any] = {
        "shamir_wrapped_root_key": b"wrapped-root",
        "secret_shares": 3,
        "secret_threshold": 2,
        "admins": ["alice"],
        "first_term": store_pb2.KeyringTerm(term=1, wrapped_key=b"term-1", created_at_ms=1),
        "share_digests": [b"d1", b"d2", b"d3"],
    }
    fields.update(overrides)
    return store_pb2.InitCluster(**fields)


def create_op(n: int, name: str, **overrides: Any) -> store_pb2.CreateKey:
    fields: dict[str, Any] = {"key_id": kid(n), "name": name, "wrapped_material": b"m1"}
    fields.update(overrides)
    return store_pb2.CreateKey(**fields)


def encode(t: int = 1000, rid: str = "", **op: Any) -> bytes:
    return store_pb2.Command(request_id=rid, time_ms=t, principal="alice", **op).SerializeToString()


def run(store: KeyStore, t: int = 1000, rid: str = "", **op: Any) -> store_pb2.CommandResult:
    return store_pb2.CommandResult.FromString(store.apply(encode(t, rid, **op)))


def ok(result: store_pb2.CommandResult) -> store_pb2.CommandResult:
    assert result.WhichOneof("result") != "error", result.error
    return result


def fresh() -> KeyStore:
    store = KeyStore()
    ok(run(store, init_cluster=init_op()))
    return store


def populated() -> KeyStore:
    """en (1) enabled, dis (2) disabled, pend (3) pending deletion, gone (4) destroyed."""
    store = fresh()
    for n, name in enumerate(["en", "dis", "pend", "gone"], start=1):
        ok(run(store, create_key=create_op(n, name)))
    ok(run(store, set_key_enabled=store_pb2.SetKeyEnabled(key_id=kid(2), enabled=False)))
    ok(
        run(
            store, schedule_deletion=store_pb2.ScheduleDeletion(key_id=kid(3), deletion_time_ms=FAR)
        )
    )
    ok(
        run(
            store,
            schedule_deletion=store_pb2.ScheduleDeletion(key_id=kid(4), deletion_time_ms=1500),
        )
    )
    ok(run(store, t=2000, tick=store_pb2.Tick()))
    return store


def state_of(store: KeyStore) -> store_pb2.StoreState:
    """The snapshot without the progress counter, which every processed command bumps."""
    state = store_pb2.StoreState.FromString(store.snapshot())
    state.ClearField("applied_commands")
    return state


# --- refusals: (case, command bytes, code, message fragment) ---------------------------

RotateKey, SetKeyEnabled = store_pb2.RotateKey, store_pb2.SetKeyEnabled
ScheduleDeletion, CancelDeletion = store_pb2.ScheduleDeletion, store_pb2.CancelDeletion
RotateKeyring, KeyringTerm = store_pb2.RotateKeyring, store_pb2.KeyringTerm

REFUSALS: list[tuple[str, bytes, int, str]] = [
    ("undecodable", b"\xff\xff\xff", INVALID, "not a valid"),
    ("no op", encode(), INVALID, "no operation"),
    ("no time", encode(t=0, tick=store_pb2.Tick()), INVALID, "time_ms"),
    ("long request id", encode(rid="r" * 257, tick=store_pb2.Tick()), INVALID, "request_id"),
    ("init twice", encode(init_cluster=init_op()), EXISTS, "already initialized"),
    ("create: short id", encode(create_key=create_op(1, "x", key_id="abc")), INVALID, "key_id"),
    ("create: upper id", encode(create_key=create_op(1, "x", key_id="A" * 32)), INVALID, "key_id"),
    ("create: no name", encode(create_key=create_op(9, "")), INVALID, "name: must not be empty"),
    ("create: slash", encode(create_key=create_op(9, "/a")), INVALID, "must not start with /"),
    ("create: space", encode(create_key=create_op(9, "a b")), INVALID, "letters, digits"),
    ("create: newline", encode(create_key=create_op(9, "a\n")), INVALID, "letters, digits"),
    ("create: long name", encode(create_key=create_op(9, "a" * 129)), INVALID, "128"),
    ("create: id-like name", encode(create_key=create_op(9, kid(7))), INVALID, "look like"),
    (
        "create: 65 labels",
        encode(create_key=create_op(9, "x", labels={str(i): "v" for i in range(65)})),
        INVALID,
        "at most 64 labels",
    ),
    (
        "create: empty label key",
        encode(create_key=create_op(9, "x", labels={"": "v"})),
        INVALID,
        "labels",
    ),
    (
        "create: long label",
        encode(create_key=create_op(9, "x", labels={"k": "v" * 257})),
        INVALID,
        "labels",
    ),
    (
        "create: long description",
        encode(create_key=create_op(9, "x", description="d" * 1025)),
        INVALID,
        "description",
    ),
    (
        "create: no material",
        encode(create_key=create_op(9, "x", wrapped_material=b"")),
        INVALID,
        "wrapped_material",
    ),
    ("create: bad purpose", encode(create_key=create_op(9, "x", purpose=99)), INVALID, "purpose"),
    ("create: id clash", encode(create_key=create_op(4, "other")), EXISTS, "exists"),
    ("create: live name clash", encode(create_key=create_op(9, "dis")), EXISTS, "'dis'"),
    ("create: pending name clash", encode(create_key=create_op(9, "pend")), EXISTS, "'pend'"),
    (
        "rotate: missing",
        encode(rotate_key=RotateKey(key_id=kid(9), new_version=2, wrapped_material=b"m")),
        NOT_FOUND,
        "no key",
    ),
    (
        "rotate: disabled",
        encode(rotate_key=RotateKey(key_id=kid(2), new_version=2, wrapped_material=b"m")),
        PRECONDITION,
        "is disabled",
    ),
    (
        "rotate: pending",
        encode(rotate_key=RotateKey(key_id=kid(3), new_version=2, wrapped_material=b"m")),
        PRECONDITION,
        "is pending deletion",
    ),
    (
        "rotate: destroyed",
        encode(rotate_key=RotateKey(key_id=kid(4), new_version=2, wrapped_material=b"m")),
        PRECONDITION,
        "is destroyed",
    ),
    (
        "rotate: skips a version",
        encode(rotate_key=RotateKey(key_id=kid(1), new_version=3, wrapped_material=b"m")),
        CONFLICT,
        "concurrent rotation: expected version 2",
    ),
    (
        "rotate: version 1",
        encode(rotate_key=RotateKey(key_id=kid(1), new_version=1, wrapped_material=b"m")),
        INVALID,
        "new_version",
    ),
    (
        "rotate: no material",
        encode(rotate_key=RotateKey(key_id=kid(1), new_version=2)),
        INVALID,
        "wrapped_material",
    ),
    (
        "enable: missing",
        encode(set_key_enabled=SetKeyEnabled(key_id=kid(9), enabled=True)),
        NOT_FOUND,
        "no key",
    ),
    (
        "enable: bad id",
        encode(set_key_enabled=SetKeyEnabled(key_id="en", enabled=True)),
        INVALID,
        "key_id",
    ),
    (
        "enable: pending",
        encode(set_key_enabled=SetKeyEnabled(key_id=kid(3), enabled=True)),
        PRECONDITION,
        "pending deletion",
    ),
    (
        "disable: destroyed",
        encode(set_key_enabled=SetKeyEnabled(key_id=kid(4))),
        PRECONDITION,
        "destroyed",
    ),
    (
        "schedule: not after now",
        encode(schedule_deletion=ScheduleDeletion(key_id=kid(1), deletion_time_ms=1000)),
        INVALID,
        "deletion_time_ms",
    ),
    (
        "schedule: missing",
        encode(schedule_deletion=ScheduleDeletion(key_id=kid(9), deletion_time_ms=FAR)),
        NOT_FOUND,
        "no key",
    ),
    (
        "schedule: pending",
        encode(schedule_deletion=ScheduleDeletion(key_id=kid(3), deletion_time_ms=FAR)),
        PRECONDITION,
        "pending deletion: cannot schedule",
    ),
    (
        "schedule: destroyed",
        encode(schedule_deletion=ScheduleDeletion(key_id=kid(4), deletion_time_ms=FAR)),
        PRECONDITION,
        "is destroyed: cannot schedule",
    ),
    (
        "cancel: enabled",
        encode(cancel_deletion=CancelDeletion(key_id=kid(1))),
        PRECONDITION,
        "cannot cancel",
    ),
    (
        "cancel: disabled",
        encode(cancel_deletion=CancelDeletion(key_id=kid(2))),
        PRECONDITION,
        "cannot cancel",
    ),
    (
        "cancel: destroyed",
        encode(cancel_deletion=CancelDeletion(key_id=kid(4))),
        PRECONDITION,
        "destroyed",
    ),
    ("cancel: missing", encode(cancel_deletion=CancelDeletion(key_id=kid(9))), NOT_FOUND, "no key"),
    (
        "keyring: skips a term",
        encode(rotate_keyring=RotateKeyring(new_term=KeyringTerm(term=3, wrapped_key=b"w"))),
        CONFLICT,
        "expected term 2",
    ),
    (
        "keyring: same term",
        encode(rotate_keyring=RotateKeyring(new_term=KeyringTerm(term=1, wrapped_key=b"w"))),
        CONFLICT,
        "expected term 2",
    ),
    ("keyring: no term", encode(rotate_keyring=RotateKeyring()), INVALID, "new_term"),
    (
        "keyring: no key",
        encode(rotate_keyring=RotateKeyring(new_term=KeyringTerm(term=2))),
        INVALID,
        "wrapped_key",
    ),
]


@pytest.mark.parametrize(
    ("raw", "code", "fragment"), [case[1:] for case in REFUSALS], ids=[case[0] for case in REFUSALS]
)
def test_refusals_leave_state_unchanged(raw: bytes, code: int, fragment: str) -> None:
    store = populated()
    before, applied = state_of(store), store.applied_commands
    result = store_pb2.CommandResult.FromString(store.apply(raw))
    assert result.WhichOneof("result") == "error"
    assert (result.error.code, fragment in result.error.message) == (code, True), result.error
    assert state_of(store) == before
    assert store.applied_commands == applied + 1


BEFORE_INIT: list[tuple[str, bytes]] = [
    ("create", encode(create_key=create_op(1, "a"))),
    ("rotate", encode(rotate_key=RotateKey(key_id=kid(1), new_version=2, wrapped_material=b"m"))),
    ("enable", encode(set_key_enabled=SetKeyEnabled(key_id=kid(1), enabled=True))),
    ("schedule", encode(schedule_deletion=ScheduleDeletion(key_id=kid(1), deletion_time_ms=FAR))),
    ("cancel", encode(cancel_deletion=CancelDeletion(key_id=kid(1)))),
    (
        "keyring",
        encode(rotate_keyring=RotateKeyring(new_term=KeyringTerm(term=2, wrapped_key=b"w"))),
    ),
    ("tick", encode(tick=store_pb2.Tick())),
]


@pytest.mark.parametrize("raw", [c[1] for c in BEFORE_INIT], ids=[c[0] for c in BEFORE_INIT])
def test_every_op_needs_init(raw: bytes) -> None:
    store = KeyStore()
    result = store_pb2.CommandResult.FromString(store.apply(raw))
    assert result.error.code == PRECONDITION
    assert result.error.message == "cluster is not initialized"
    assert not store.initialized and store.init_cluster() is None


BAD_INITS: list[tuple[str, dict[str, Any], str]] = [
    ("no root", {"shamir_wrapped_root_key": b""}, "shamir_wrapped_root_key"),
    ("no shares", {"secret_shares": 0, "share_digests": []}, "secret_shares"),
    ("threshold above shares", {"secret_threshold": 4}, "secret_threshold"),
    ("zero threshold", {"secret_threshold": 0}, "secret_threshold"),
    ("digest count", {"share_digests": [b"d"]}, "share_digests"),
    ("no admins", {"admins": []}, "admins"),
    ("empty admin", {"admins": [""]}, "admins"),
    ("no first term", {"first_term": None}, "first_term"),
    ("term 0", {"first_term": KeyringTerm(term=0, wrapped_key=b"w")}, "first_term.term"),
    ("no term key", {"first_term": KeyringTerm(term=1)}, "first_term.wrapped_key"),
]


@pytest.mark.parametrize(
    ("overrides", "fragment"), [c[1:] for c in BAD_INITS], ids=[c[0] for c in BAD_INITS]
)
def test_invalid_init_is_refused(overrides: dict[str, Any], fragment: str) -> None:
    store = KeyStore()
    result = run(store, init_cluster=init_op(**overrides))
    assert result.error.code == INVALID and fragment in result.error.message
    assert not store.initialized


# --- successful commands --------------------------------------------------------------


def test_init_installs_the_first_term() -> None:
    store = KeyStore()
    assert (store.active_term, store.keyring_terms()) == (0, ())
    assert ok(run(store, init_cluster=init_op())).ok
    init = store.init_cluster()
    assert store.initialized and init is not None and list(init.admins) == ["alice"]
    assert store.active_term == 1 and [t.term for t in store.keyring_terms()] == [1]
    assert store.keyring_state() == (store.keyring_terms(), 1)


def test_create_key_fills_every_field() -> None:
    store = fresh()
    key = ok(
        run(
            store,
            t=1234,
            create_key=create_op(7, "app/db:main", labels={"team": "db"}, description="the db key"),
        )
    ).key
    assert key.id == kid(7) and key.name == "app/db:main"
    assert key.purpose == keys_pb2.KEY_PURPOSE_ENCRYPT and key.state == ENABLED
    assert key.current_version == 1 and key.created_at_ms == 1234
    assert [(v.version, v.created_at_ms) for v in key.versions] == [(1, 1234)]
    assert dict(key.labels) == {"team": "db"} and key.description == "the db key"
    stored = store.lookup("app/db:main")
    assert stored is not None and stored.key == key and dict(stored.wrapped_material) == {1: b"m1"}
    assert store.lookup(kid(7)) == stored  # decoded per read: equal, not shared
    tde = ok(run(store, create_key=create_op(8, "t", purpose=keys_pb2.KEY_PURPOSE_TDE))).key
    assert tde.purpose == keys_pb2.KEY_PURPOSE_TDE


def test_rotate_adds_versions() -> None:
    store = fresh()
    ok(run(store, create_key=create_op(1, "a")))
    held = store.lookup("a")
    key = ok(
        run(
            store,
            t=2000,
            rotate_key=RotateKey(key_id=kid(1), new_version=2, wrapped_material=b"m2"),
        )
    ).key
    assert key.current_version == 2
    assert [(v.version, v.created_at_ms) for v in key.versions] == [(1, 1000), (2, 2000)]
    stored = store.lookup(kid(1))
    assert stored is not None and dict(stored.wrapped_material) == {1: b"m1", 2: b"m2"}
    # copy-on-write: a reader's record from before the rotation never changes
    assert held is not None and held.key.current_version == 1 and len(held.wrapped_material) == 1


def test_enable_disable_is_idempotent() -> None:
    store = fresh()
    ok(run(store, create_key=create_op(1, "a")))
    revision = store.revision
    assert (
        ok(run(store, set_key_enabled=SetKeyEnabled(key_id=kid(1), enabled=True))).key.state
        == ENABLED
    )
    assert store.revision == revision  # nothing changed
    for _ in range(2):
        key = ok(run(store, set_key_enabled=SetKeyEnabled(key_id=kid(1), enabled=False))).key
        assert key.state == DISABLED
    assert (
        ok(run(store, set_key_enabled=SetKeyEnabled(key_id=kid(1), enabled=True))).key.state
        == ENABLED
    )


@pytest.mark.parametrize("start", ["en", "dis"])
def test_schedule_then_cancel_leaves_the_key_disabled(start: str) -> None:
    store = populated()
    stored = store.lookup(start)
    assert stored is not None
    key_id = stored.key.id
    key = ok(
        run(store, t=3000, schedule_deletion=ScheduleDeletion(key_id=key_id, deletion_time_ms=9000))
    ).key
    assert (key.state, key.deletion_time_ms) == (PENDING, 9000)
    assert store.deletion_due(8999) == 0 and store.deletion_due(9000) == 1
    key = ok(run(store, t=4000, cancel_deletion=CancelDeletion(key_id=key_id))).key
    assert (key.state, key.deletion_time_ms) == (DISABLED, 0)
    ok(run(store, t=10_000, tick=store_pb2.Tick()))  # the cancelled deadline is gone
    assert store.lookup(key_id) is not None and store.lookup(start) is not None
    assert store.deletion_due(FAR) == 1  # only "pend" is left


def test_tick_destroys_due_keys_and_frees_their_names() -> None:
    store = fresh()
    ok(run(store, create_key=create_op(1, "a")))
    ok(run(store, create_key=create_op(2, "b")))
    ok(run(store, schedule_deletion=ScheduleDeletion(key_id=kid(1), deletion_time_ms=5000)))
    ok(run(store, schedule_deletion=ScheduleDeletion(key_id=kid(2), deletion_time_ms=6000)))
    assert store.deletion_due(5500) == 1
    assert ok(run(store, t=5000, tick=store_pb2.Tick())).ok
    gone = store.lookup(kid(1))
    assert gone is not None and gone.key.state == DESTROYED and not gone.wrapped_material
    assert gone.key.name == "a" and gone.key.versions  # metadata kept for audit
    assert store.lookup("a") is None
    assert store.lookup("b") is not None and store.lookup("b").key.state == PENDING  # type: ignore[union-attr]
    again = ok(run(store, t=5001, create_key=create_op(3, "a"))).key
    assert again.id == kid(3)
    stored = store.lookup("a")
    assert stored is not None and stored.key.id == kid(3)


def test_every_command_purges_first() -> None:
    store = fresh()
    ok(run(store, create_key=create_op(1, "a")))
    ok(run(store, schedule_deletion=ScheduleDeletion(key_id=kid(1), deletion_time_ms=5000)))
    # a cancel that arrives after the deadline is too late, even though it is refused
    result = run(store, t=5000, cancel_deletion=CancelDeletion(key_id=kid(1)))
    assert (result.error.code, "destroyed" in result.error.message) == (PRECONDITION, True)
    assert store.lookup("a") is None


def test_rotate_keyring_appends_and_activates() -> None:
    store = fresh()
    assert (
        ok(
            run(
                store,
                rotate_keyring=RotateKeyring(
                    new_term=KeyringTerm(term=2, wrapped_key=b"w2", created_at_ms=5)
                ),
            )
        ).keyring_term
        == 2
    )
    assert store.active_term == 2 and [t.term for t in store.keyring_terms()] == [1, 2]


# --- request ids ----------------------------------------------------------------------


def test_a_retry_gets_the_first_result_and_changes_nothing() -> None:
    store = fresh()
    first = store.apply(encode(rid="r1", create_key=create_op(1, "a")))
    snapshot, applied, revision = store.snapshot(), store.applied_commands, store.revision
    # even a different command under the same id is answered, not applied
    for raw in (
        encode(rid="r1", create_key=create_op(1, "a")),
        encode(rid="r1", t=9, create_key=create_op(2, "b")),
    ):
        assert store.apply(raw) == first
    assert (store.snapshot(), store.applied_commands, store.revision) == (
        snapshot,
        applied,
        revision,
    )
    assert store.lookup("b") is None


def test_errors_are_remembered_too() -> None:
    store = fresh()
    ok(run(store, create_key=create_op(1, "a")))
    failed = run(store, rid="r2", create_key=create_op(2, "a"))
    assert failed.error.code == EXISTS
    ok(run(store, set_key_enabled=SetKeyEnabled(key_id=kid(1), enabled=False)))
    ok(run(store, t=2000, schedule_deletion=ScheduleDeletion(key_id=kid(1), deletion_time_ms=3000)))
    ok(run(store, t=3000, tick=store_pb2.Tick()))  # "a" is free now, but the retry ...
    assert run(store, t=3001, rid="r2", create_key=create_op(2, "a")) == failed
    assert store.lookup("a") is None


def test_window_keeps_the_last_ten_thousand_ids() -> None:
    store = fresh()
    first = store.apply(encode(rid="r0", create_key=create_op(1, "a")))
    for i in range(1, REQUEST_WINDOW):
        store.apply(encode(rid=f"t{i}", tick=store_pb2.Tick()))
    assert store.apply(encode(rid="r0", create_key=create_op(1, "a"))) == first
    state = store_pb2.StoreState.FromString(store.snapshot())
    assert len(state.recent_requests) == REQUEST_WINDOW
    assert state.recent_requests[0].request_id == "r0"  # oldest first
    store.apply(encode(rid="evictor", tick=store_pb2.Tick()))
    again = run(store, rid="r0", create_key=create_op(1, "a"))
    assert again.error.code == EXISTS  # applied anew: the first answer was forgotten


def test_commands_without_an_id_are_not_remembered() -> None:
    store = fresh()
    ok(run(store, create_key=create_op(1, "a")))
    assert run(store, create_key=create_op(1, "a")).error.code == EXISTS
    assert not store_pb2.StoreState.FromString(store.snapshot()).recent_requests


# --- snapshots ------------------------------------------------------------------------


def test_restore_of_a_snapshot_gives_identical_bytes() -> None:
    store = populated()
    run(store, rid="x", create_key=create_op(1, "dup"))
    snapshot = store.snapshot()
    copy = fresh()
    ok(run(copy, create_key=create_op(7, "not-this")))  # restore replaces everything
    copy.restore(snapshot)
    assert copy.snapshot() == snapshot
    assert copy.applied_commands == store.applied_commands
    assert copy.lookup("en") == store.lookup("en") and copy.lookup("gone") is None
    assert copy.lookup("not-this") is None and copy.lookup(kid(7)) is None
    assert copy.deletion_due(FAR) == 1
    # both answer the next commands alike, including remembered ids
    for raw in (
        encode(rid="x", create_key=create_op(1, "dup")),
        encode(t=FAR, tick=store_pb2.Tick()),
        encode(t=FAR, create_key=create_op(3, "pend")),
    ):
        assert copy.apply(raw) == store.apply(raw)
    assert copy.snapshot() == store.snapshot()


def test_empty_snapshot_is_the_empty_state() -> None:
    store = populated()
    store.restore(KeyStore().snapshot())
    assert not store.initialized and store.lookup("en") is None
    assert store.list_keys(10, "") == ([], "")


def _corrupt(mutate: Any) -> bytes:
    state = store_pb2.StoreState.FromString(populated().snapshot())
    mutate(state)
    return state.SerializeToString()


BAD_SNAPSHOTS: list[tuple[str, bytes]] = [
    ("garbage", b"garbage"),
    ("truncated", populated().snapshot()[:-3]),
    ("active term", _corrupt(lambda s: setattr(s, "active_term", 5))),
    ("keyring gap", _corrupt(lambda s: s.keyring.add(term=3, wrapped_key=b"w"))),
    ("no init", _corrupt(lambda s: s.ClearField("init"))),
    ("misfiled key", _corrupt(lambda s: s.keys[kid(9)].CopyFrom(s.keys[kid(1)]))),
    ("two live names", _corrupt(lambda s: s.keys[kid(2)].key.__setattr__("name", "en"))),
    ("bad state", _corrupt(lambda s: s.keys[kid(1)].key.__setattr__("state", 0))),
    (
        "material of destroyed",
        _corrupt(lambda s: s.keys[kid(4)].wrapped_material.__setitem__(1, b"m")),
    ),
    (
        "repeated request id",
        _corrupt(
            lambda s: [
                s.recent_requests.add(request_id="r", result=store_pb2.CommandResult(ok=True))
                for _ in range(2)
            ]
        ),
    ),
]


@pytest.mark.parametrize("raw", [c[1] for c in BAD_SNAPSHOTS], ids=[c[0] for c in BAD_SNAPSHOTS])
def test_bad_snapshots_are_rejected_and_change_nothing(raw: bytes) -> None:
    store = populated()
    before = store.snapshot()
    with pytest.raises(ValueError):
        store.restore(raw)
    assert store.snapshot() == before


# --- reads ----------------------------------------------------------------------------


def test_list_keys_pages_by_name_then_id_including_destroyed() -> None:
    store = fresh()
    ok(run(store, create_key=create_op(5, "b")))
    ok(run(store, schedule_deletion=ScheduleDeletion(key_id=kid(5), deletion_time_ms=2000)))
    ok(run(store, t=2000, tick=store_pb2.Tick()))
    for n, name in [(3, "c"), (4, "b"), (1, "a"), (2, "a.b")]:
        ok(run(store, t=2000, create_key=create_op(n, name)))
    seen, token, pages = [], "", 0
    while True:
        page, token = store.list_keys(2, token)
        seen += [(k.name, k.id[-1]) for k in page]
        pages += 1
        if not token:
            break
    assert seen == [("a", "1"), ("a.b", "2"), ("b", "4"), ("b", "5"), ("c", "3")]
    assert pages == 3
    page, token = store.list_keys(100, "")
    assert len(page) == 5 and token == ""
    page, token = store.list_keys(4, "")
    assert token and len(page) == 4
    ok(run(store, t=2000, create_key=create_op(6, "bb")))  # created between pages
    assert [k.name for k in store.list_keys(4, token)[0]] == ["bb", "c"]


@pytest.mark.parametrize("token", ["garbage!", "AAAA", "azEKYQpub3RoZXg", "%%%"])
def test_list_keys_rejects_foreign_tokens(token: str) -> None:
    with pytest.raises(ValueError):
        populated().list_keys(10, token)


def test_list_keys_rejects_an_empty_page() -> None:
    with pytest.raises(ValueError):
        populated().list_keys(0, "")


def test_revision_changes_with_every_mutation() -> None:
    store = fresh()
    seen = {store.revision}
    for raw in (
        encode(create_key=create_op(1, "a")),
        encode(rotate_key=RotateKey(key_id=kid(1), new_version=2, wrapped_material=b"m")),
        encode(set_key_enabled=SetKeyEnabled(key_id=kid(1))),
        encode(schedule_deletion=ScheduleDeletion(key_id=kid(1), deletion_time_ms=2000)),
        encode(t=2000, tick=store_pb2.Tick()),
        encode(rotate_keyring=RotateKeyring(new_term=KeyringTerm(term=2, wrapped_key=b"w"))),
    ):
        store.apply(raw)
        assert store.revision not in seen
        seen.add(store.revision)
    store.restore(store.snapshot())
    assert store.revision not in seen


# --- properties -----------------------------------------------------------------------


def _internal_error(result: store_pb2.CommandResult) -> bool:
    """An UNSPECIFIED error code is what `apply` returns for a bug it caught."""
    return result.WhichOneof("result") == "error" and (
        result.error.code == store_pb2.ERROR_CODE_UNSPECIFIED
    )


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_apply_never_raises_on_random_bytes(raw: bytes) -> None:
    for store in (KeyStore(), fresh()):
        result = store_pb2.CommandResult.FromString(store.apply(raw))
        assert result.WhichOneof("result") is not None
        assert not _internal_error(result)


_ids = st.integers(1, 4).map(kid)
_names = st.sampled_from(["a", "b", "c/d"])
_times = st.integers(1, 60)
_rids = st.sampled_from(["", "", "", "r1", "r2", "r3"])
_ops: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.builds(
        lambda i, n, p: {
            "create_key": store_pb2.CreateKey(key_id=i, name=n, purpose=p, wrapped_material=b"m")
        },
        _ids,
        _names,
        st.integers(0, 3),
    ),
    st.builds(
        lambda i, v: {"rotate_key": RotateKey(key_id=i, new_version=v, wrapped_material=b"m")},
        _ids,
        st.integers(1, 4),
    ),
    st.builds(
        lambda i, e: {"set_key_enabled": SetKeyEnabled(key_id=i, enabled=e)}, _ids, st.booleans()
    ),
    st.builds(
        lambda i, d: {"schedule_deletion": ScheduleDeletion(key_id=i, deletion_time_ms=d)},
        _ids,
        st.integers(1, 80),
    ),
    st.builds(lambda i: {"cancel_deletion": CancelDeletion(key_id=i)}, _ids),
    st.builds(
        lambda t: {"rotate_keyring": RotateKeyring(new_term=KeyringTerm(term=t, wrapped_key=b"w"))},
        st.integers(1, 4),
    ),
    st.just({"tick": store_pb2.Tick()}),
    st.just({"init_cluster": init_op()}),
)
_logs = st.lists(
    st.builds(lambda t, r, op: encode(t=t, rid=r, **op), _times, _rids, _ops), max_size=40
)


@settings(max_examples=200, deadline=None)
@given(st.booleans(), _logs, st.data())
def test_replaying_a_log_gives_identical_state(
    init_first: bool, log: list[bytes], data: st.DataObject
) -> None:
    if init_first:
        log = [encode(init_cluster=init_op()), *log]
    first, second = KeyStore(), KeyStore()
    results = [first.apply(raw) for raw in log]
    assert [second.apply(raw) for raw in log] == results
    assert second.snapshot() == first.snapshot()
    assert not any(_internal_error(store_pb2.CommandResult.FromString(r)) for r in results)
    # a replica restored from a snapshot taken anywhere in the log ends up the same
    cut = data.draw(st.integers(0, len(log)))
    third, prefix = KeyStore(), KeyStore()
    for raw in log[:cut]:
        prefix.apply(raw)
    third.restore(prefix.snapshot())
    assert [third.apply(raw) for raw in log[cut:]] == results[cut:]
    assert third.snapshot() == first.snapshot()
