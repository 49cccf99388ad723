"""The replicated state machine: every node applies the same commands in the same order.

`KeyStore` is pure and deterministic, like etcd-raft's `RawNode`: time (`time_ms`), key
ids and barrier-encrypted material all arrive in the command; it reads no clock, draws
no random numbers, does no I/O and logs nothing. `apply`, `snapshot` and `restore` form
the `StateMachine` protocol that the Raft adapter drives from its tick thread; `apply`
never raises, a refused command becomes a `CommandError` result.

Semantics callers rely on:

- Request ids: a command whose non-empty `request_id` is among the last
  `REQUEST_WINDOW` ids answered gets the first answer again (success or error) and is
  not applied, even if the command differs: the id, not the content, names the
  intent, so a retry after a failover can never create a second key. The window is
  part of the snapshot, so replay and restore answer the same way.
- Deletion purge: before applying any command other than InitCluster (and after the
  request-id check), every key pending deletion whose `deletion_time_ms` is at or
  before the command's `time_ms` is destroyed, as if a Tick had come first. So a key
  whose deadline passed cannot be re-enabled by a late CancelDeletion, and the outcome
  depends only on the log. The purge also runs when the command itself is refused.
- Secrets (mounts, versioned values as ciphertext, tokens) are a table of their own
  (`keymgr.store.secrets`), applied under the same rules and part of the same snapshot.
- `applied_commands` counts every `apply` call not answered from the request window,
  refused or not (a per-replica progress counter: equal logs, equal counts). A refused
  command otherwise changes nothing but the request window (when it carries an id).

Reads happen in other threads while `apply` runs, without locks, by copy-on-write:
a key is kept as an immutable record (its encoded snapshot entry, `key_records`), and an
`InitCluster` or `KeyringTerm` is never mutated once published; a change publishes a
new record or copy with one dict assignment (atomic in CPython), and `restore` swaps all
tables in one attribute assignment. A `StoredKey` a read method returns is decoded for
the caller; other returned messages are shared: treat them as read-only.

Costs that must not grow with the number of keys while nothing happens: counts by
state are kept up to date by `apply` (metrics), and the keys a timer must act on
(deletion, rotation) are indexed by due time (`DueIndex`), so the leader's scheduler
does O(due) work. Imported material that expires is indexed the same way (`expiries`):
the leader proposes ExpireMaterial for each due version, and the command's own time_ms
decides whether it is due, so every replica erases the same material. A snapshot is
cut in O(keys) pointer copies (`freeze`) and encoded later, in any thread.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from keymgr.store import key_records
from keymgr.store import keystore_validation as check
from keymgr.store.access import GATED, Access
from keymgr.store.due_index import DueIndex
from keymgr.store.keystore_validation import CommandRefused
from keymgr.store.secrets import Secrets
from keymgr.v1 import keys_pb2, store_pb2

REQUEST_WINDOW = 10_000

ENABLED = keys_pb2.KEY_STATE_ENABLED
DISABLED = keys_pb2.KEY_STATE_DISABLED
PENDING = keys_pb2.KEY_STATE_PENDING_DELETION
DESTROYED = keys_pb2.KEY_STATE_DESTROYED
EXTERNAL = keys_pb2.KEY_ORIGIN_EXTERNAL

_Handler = Callable[["KeyStore", store_pb2.Command], store_pb2.CommandResult]


def _error(code: store_pb2.ErrorCode, message: str) -> bytes:
    result = store_pb2.CommandResult(error=store_pb2.CommandError(code=code, message=message))
    return result.SerializeToString(deterministic=True)


def rotation_due_ms(key: keys_pb2.Key) -> int | None:
    """When an enabled key with a rotation period next rotates (ms), else None."""
    period = key.rotation_period_seconds
    if not period or key.state != ENABLED or not key.versions or key.origin == EXTERNAL:
        return None
    return int(key.versions[-1].created_at_ms + period * 1000)


def _deletion_due_ms(key: keys_pb2.Key) -> int | None:
    return int(key.deletion_time_ms) if key.state == PENDING else None


def expiry_due_ms(key: keys_pb2.Key) -> int | None:
    """When the key's first imported version with an expiry is due for erasure, else None."""
    if key.state == DESTROYED:
        return None
    due = [v.expires_at_ms for v in key.versions if v.expires_at_ms and not v.material_expired]
    return int(min(due)) if due else None


def expired_versions(key: keys_pb2.Key, now_ms: int) -> list[int]:
    """Versions whose imported material expired at or before `now_ms`, not yet erased."""
    return [
        v.version
        for v in key.versions
        if v.expires_at_ms and not v.material_expired and v.expires_at_ms <= now_ms
    ]


_UNDECODABLE = _error(check.INVALID_ARGUMENT, "command: not a valid keymgr.v1.Command")
_OK = store_pb2.CommandResult(ok=True)


class _Tables:
    """Everything readers see, swapped as one object by `restore`."""

    __slots__ = (
        "access",
        "counts",
        "deletions",
        "expiries",
        "init",
        "keyring",
        "keys",
        "members",
        "names",
        "root_view",
        "rotations",
        "secrets",
    )

    def __init__(self) -> None:
        self.init: store_pb2.InitCluster | None = None
        self.keyring: tuple[store_pb2.KeyringTerm, ...] = ()  # appended in term order
        # (root generation, keyring) published as ONE object after every change to
        # either, so a reader never pairs a generation with the other one's terms
        self.root_view: tuple[int, tuple[store_pb2.KeyringTerm, ...]] = (0, ())
        self.keys: dict[str, bytes] = {}  # key id -> record (key_records), destroyed too
        self.names: dict[str, str] = {}  # name -> id of keys that are not destroyed
        self.deletions = DueIndex()  # pending keys by deletion_time_ms
        self.rotations = DueIndex()  # enabled keys with a period, by next rotation
        self.expiries = DueIndex()  # keys with imported material that expires, by expiry
        self.counts = dict.fromkeys(check.STATE_WORDS, 0)  # keys by state
        self.access = Access()  # policies, roles, approvals
        self.members: dict[str, store_pb2.Member] = {}  # by id; runtime membership
        self.secrets = Secrets()  # secrets mounts, paths and tokens


@dataclass(frozen=True)
class PreparedState:
    """A snapshot decoded off the apply thread, ready for `KeyStore.install_prepared`."""

    tables: _Tables
    recent: OrderedDict[str, bytes]
    applied: int


class KeyStore:
    """Key records, the keyring and the cluster's init record, as replicated by Raft.

    `apply`, `snapshot` and `restore` must be called from one thread at a time (the
    Raft thread); the read views may be called from any thread at any time.
    """

    def __init__(self) -> None:
        self._t = _Tables()
        self._recent: OrderedDict[str, bytes] = OrderedDict()  # request id -> result
        self._applied = 0
        self._revision = 0
        self._generation = 0  # changes when the set of key ids changes
        self._index: tuple[int, list[tuple[str, str]]] = (0, [])
        self._approved = False  # true while an approved operation's command runs

    # --- StateMachine protocol (Raft tick thread) ----------------------------------

    def apply(self, command: bytes) -> bytes:
        """Applies an encoded Command; returns the encoded CommandResult. Never raises."""
        try:
            return self._apply(command)
        except Exception as exc:  # a bug must not kill the Raft thread
            return _error(
                store_pb2.ERROR_CODE_UNSPECIFIED,
                f"internal error applying a command ({type(exc).__name__})",
            )

    def snapshot(self) -> bytes:
        """The whole state as an encoded StoreState: equal logs give equal bytes."""
        return self.freeze().encode()

    def freeze(self) -> key_records.FrozenState:
        """A consistent cut to encode later in any thread (apply thread; O(keys) pointer
        copies, no per-key encoding)."""
        t = self._t
        state = store_pb2.StoreState()
        if t.init is not None:
            state.init.CopyFrom(t.init)
        state.keyring.extend(t.keyring)
        state.active_term = _newest_term(t.keyring)
        state.applied_commands = self._applied
        t.access.save(state)
        state.members.extend(t.members[m] for m in sorted(t.members))
        t.secrets.save(state)
        return key_records.FrozenState(
            state.SerializeToString(deterministic=True),
            list(self._recent.items()),
            list(t.keys.values()),
            t.secrets.frozen_records(),
        )

    def restore(self, snapshot: bytes) -> None:
        """Replaces the whole state; ValueError (state unchanged) if `snapshot` is bad."""
        self.install_prepared(self.prepare_restore(snapshot))

    @staticmethod
    def prepare_restore(snapshot: bytes) -> PreparedState:
        """Decodes a snapshot into tables without touching any store: the slow part of
        `restore` (O(keys)), safe on any thread. ValueError if `snapshot` is bad."""
        state = store_pb2.StoreState()
        try:
            rest, records = key_records.split(bytes(snapshot))
            state.ParseFromString(rest)
        except Exception:
            raise ValueError("snapshot is not an encoded keymgr.v1.StoreState") from None
        tables = _tables_from(state, records)
        recent = check.snapshot_requests(state, REQUEST_WINDOW)
        return PreparedState(tables, recent, state.applied_commands)

    def install_prepared(self, prepared: PreparedState) -> None:
        """Swaps in a prepared state (apply thread; O(1)): readers see the old state or
        the new one, never a mix, and no command is applied to a half-built one."""
        self._t = prepared.tables
        self._recent = prepared.recent
        self._applied = prepared.applied
        self._generation += 1
        self._revision += 1

    # --- read views (any thread; returned messages are read-only) ------------------

    def recorded_result(self, request_id: str) -> bytes | None:
        """The result applied for `request_id`, if it is still in the window: how a
        proposer learns the fate of a write whose Raft outcome was unknown."""
        return self._recent.get(request_id) if request_id else None

    @property
    def initialized(self) -> bool:
        return self._t.init is not None

    def init_cluster(self) -> store_pb2.InitCluster | None:
        return self._t.init

    def keyring_terms(self) -> tuple[store_pb2.KeyringTerm, ...]:
        return self._t.root_view[1]

    @property
    def active_term(self) -> int:
        ring = self._t.root_view[1]
        return _newest_term(ring)

    @property
    def root_generation(self) -> int:
        return self._t.root_view[0]

    def keyring_state(self) -> tuple[tuple[store_pb2.KeyringTerm, ...], int]:
        """Terms and active term read together: two separate reads may straddle a rotation."""
        ring = self._t.root_view[1]
        return ring, _newest_term(ring)

    def root_view(self) -> tuple[int, tuple[store_pb2.KeyringTerm, ...]]:
        """(root generation, keyring terms) as one consistent pair: the terms are
        wrapped by that generation's root key."""
        return self._t.root_view

    @property
    def access(self) -> Access:
        """Policies, role bindings, approval rules and operations (read-only tables)."""
        return self._t.access

    @property
    def secrets(self) -> Secrets:
        """Secrets mounts, paths and tokens (read-only tables; see keymgr.store.secrets)."""
        return self._t.secrets

    @property
    def applied_commands(self) -> int:
        return self._applied

    @property
    def revision(self) -> int:
        """Local counter (not replicated) that changes whenever readable state may have."""
        return self._revision

    def lookup(self, name_or_id: str) -> store_pb2.StoredKey | None:
        """The key with this id (even destroyed), else the live key with this name."""
        t = self._t
        record = t.keys.get(name_or_id)
        if record is not None:
            return key_records.decode(record)
        key_id = t.names.get(name_or_id)
        record = t.keys.get(key_id) if key_id is not None else None
        if record is None:
            return None  # raced with a purge or a restore
        stored = key_records.decode(record)
        if stored.key.name != name_or_id or stored.key.state == DESTROYED:
            return None
        return stored

    def list_keys(self, page_size: int, page_token: str) -> tuple[list[keys_pb2.Key], str]:
        """A page of all keys (destroyed ones too) by name then id; "" token = last page.

        Raises ValueError for a page size below 1 or a token this method did not make.
        Tokens name the last key returned, so paging survives keys created meanwhile.
        """
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        index = self._sorted_index()
        start = bisect_right(index, check.decode_page_token(page_token)) if page_token else 0
        page = index[start : start + page_size]
        keys = self._t.keys
        found = [
            key_records.decode(record).key
            for _, key_id in page
            if (record := keys.get(key_id)) is not None
        ]
        more = start + page_size < len(index)
        return found, check.encode_page_token(page[-1]) if more and page else ""

    def key_counts(self) -> dict[str, int]:
        """Keys by lower-case state name, e.g. {"enabled": 3, "destroyed": 1, ...}; O(1)."""
        counts = dict(self._t.counts)  # one C-level copy: atomic under the GIL
        return {check.STATE_WORDS[state]: n for state, n in counts.items()}

    def key_states(self) -> list[str]:
        """One lower-case state name per key (kept for callers that count them)."""
        return [word for word, n in self.key_counts().items() for _ in range(n)]

    def members(self) -> dict[str, store_pb2.Member]:
        """Members recorded by runtime membership changes, by id (read-only)."""
        return dict(self._t.members)

    def deletion_due(self, now_ms: int) -> int:
        """How many pending keys a Tick at `now_ms` would destroy (leader's timer; O(due))."""
        return len(self._t.deletions.due(now_ms))

    def rotations_due(self, now_ms: int, limit: int = 1000) -> list[keys_pb2.Key]:
        """Enabled keys whose newest version is older than their rotation period at
        `now_ms`, earliest first, at most `limit` (leader's timer; O(due))."""
        t = self._t
        due: list[keys_pb2.Key] = []
        for _, key_id in t.rotations.due(now_ms, limit):
            record = t.keys.get(key_id)
            if record is not None:
                key = key_records.decode(record).key
                if (when := rotation_due_ms(key)) is not None and when <= now_ms:
                    due.append(key)  # re-checked: the index may have moved on meanwhile
        return due

    def expiries_due(self, now_ms: int, limit: int = 1000) -> list[tuple[keys_pb2.Key, int]]:
        """(key, version) of imported material whose expiry is at or before `now_ms`,
        not yet erased, earliest key first, at most `limit` keys (leader's timer; O(due))."""
        t = self._t
        due: list[tuple[keys_pb2.Key, int]] = []
        for _, key_id in t.expiries.due(now_ms, limit):
            record = t.keys.get(key_id)
            if record is not None:
                key = key_records.decode(record).key
                if key.state != DESTROYED:  # re-checked, as rotations_due does
                    due.extend((key, version) for version in expired_versions(key, now_ms))
        return due

    # --- apply ---------------------------------------------------------------------

    def _apply(self, raw: bytes) -> bytes:
        command = store_pb2.Command()
        try:
            command.ParseFromString(raw)
        except Exception:
            self._applied += 1
            return _UNDECODABLE
        request_id = command.request_id
        if request_id:
            seen = self._recent.get(request_id)
            if seen is not None:
                return seen
        self._applied += 1
        try:
            check.command_envelope(command)
        except CommandRefused as refused:
            if len(request_id) > check.MAX_REQUEST_ID:
                return _error(refused.code, refused.message)  # not worth remembering
            return self._remember(request_id, _error(refused.code, refused.message))
        try:
            result = self._dispatch(command)
            out = result.SerializeToString(deterministic=True)
        except CommandRefused as refused:
            out = _error(refused.code, refused.message)
        return self._remember(request_id, out)

    def _dispatch(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        op = command.WhichOneof("op")
        if op is None:
            raise check.invalid("op", "command carries no operation")
        if op == "init_cluster":
            return self._init_cluster(command)
        if op == "restore_state":
            return self._restore_state(command)
        if self._t.init is None:
            raise CommandRefused(check.FAILED_PRECONDITION, "cluster is not initialized")
        self._purge(command.time_ms)
        self._t.access.expire(command.time_ms)
        if op in GATED and not self._approved:
            raise CommandRefused(
                check.FAILED_PRECONDITION,
                f"{op} is a split-key operation: request it for approval (RequestApproval)",
            )
        return _HANDLERS[op](self, command)

    def _execute_approved(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        """Runs an approved operation's command, inside the apply of the deciding vote."""
        op = command.WhichOneof("op")
        if op not in GATED:
            raise check.invalid("request_approval.command", f"{op} needs no approval")
        self._approved = True
        try:
            result = _HANDLERS[op](self, command)
        finally:
            self._approved = False
        self._revision += 1
        return result

    def _remember(self, request_id: str, out: bytes) -> bytes:
        if request_id:
            recent = self._recent
            recent[request_id] = out
            if len(recent) > REQUEST_WINDOW:
                recent.popitem(last=False)
        return out

    def _purge(self, now_ms: int) -> None:
        """Destroys pending keys whose deadline is at or before `now_ms`."""
        t = self._t
        for key_id in t.deletions.pop_due(now_ms):
            self._destroy(key_records.decode(t.keys[key_id]))

    def _destroy(self, old: store_pb2.StoredKey) -> store_pb2.StoredKey:
        destroyed = store_pb2.StoredKey()  # no wrapped material: it is erased
        destroyed.key.CopyFrom(old.key)
        destroyed.key.state = DESTROYED
        self._publish(destroyed, old)
        names = self._t.names
        if names.get(old.key.name) == old.key.id:
            del names[old.key.name]
        return destroyed

    def _publish(
        self, stored: store_pb2.StoredKey, old: store_pb2.StoredKey | None
    ) -> store_pb2.CommandResult:
        """Installs a key's new record (immutable bytes), keeps the counts and due-time
        indexes in step with it, and answers with its Key."""
        t = self._t
        key = stored.key
        t.keys[key.id] = key_records.encode(stored)
        counts = t.counts
        if old is not None:
            counts[old.key.state] -= 1
        counts[key.state] += 1
        t.deletions.set(key.id, _deletion_due_ms(key))
        t.rotations.set(key.id, rotation_due_ms(key))
        t.expiries.set(key.id, expiry_due_ms(key))
        self._revision += 1
        return store_pb2.CommandResult(key=key)

    def _existing(self, field: str, key_id: str) -> store_pb2.StoredKey:
        """The key's current record, decoded: a fresh message the caller may change."""
        check.key_id(field, key_id)
        record = self._t.keys.get(key_id)
        if record is None:
            raise CommandRefused(check.NOT_FOUND, f"{field}: no key {key_id}")
        return key_records.decode(record)

    def _init_cluster(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        t = self._t
        if t.init is not None:
            raise CommandRefused(check.ALREADY_EXISTS, "cluster is already initialized")
        check.init_cluster(command.init_cluster)
        init = store_pb2.InitCluster()
        init.CopyFrom(command.init_cluster)
        t.keyring = (init.first_term,)
        t.access.initialise(init)
        t.root_view = (init.root_generation, t.keyring)
        t.init = init  # last: `initialized` implies a keyring
        self._revision += 1
        return _OK

    def _restore_state(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        """DR restore: only onto an uninitialised cluster (never over live keys)."""
        if self._t.init is not None:
            raise CommandRefused(
                check.FAILED_PRECONDITION,
                "cluster is already initialized: restore needs a fresh cluster",
            )
        try:
            self.restore(command.restore_state.state)
        except ValueError as exc:
            raise check.invalid("restore_state.state", str(exc)) from None
        if self._t.init is None:
            raise check.invalid("restore_state.state", "snapshot has no init record")
        self._t.members = {}  # the source cluster's addresses mean nothing here
        return _OK

    def _set_member(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        member = command.set_member.member
        if not member.id:
            raise check.invalid("set_member.member.id", "must not be empty")
        if command.set_member.remove:
            self._t.members.pop(member.id, None)
        else:
            copy = store_pb2.Member()
            copy.CopyFrom(member)
            self._t.members[member.id] = copy
        self._revision += 1
        return _OK

    def _create_key(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        create = command.create_key
        key_id = check.key_id("create_key.key_id", create.key_id)
        name = check.key_name("create_key.name", create.name)
        purpose = check.purpose("create_key.purpose", create.purpose)
        check.labels("create_key.labels", create.labels)
        check.description("create_key.description", create.description)
        external = check.create_origin(create)
        t = self._t
        if key_id in t.keys:
            raise CommandRefused(check.ALREADY_EXISTS, f"create_key.key_id: key {key_id} exists")
        if name in t.names:
            raise CommandRefused(check.ALREADY_EXISTS, f"a key named {name!r} already exists")
        stored = store_pb2.StoredKey()
        key = stored.key
        key.id = key_id
        key.name = name
        key.purpose = purpose
        key.state = ENABLED
        if external:
            key.origin = EXTERNAL  # no version until ImportMaterial
        else:
            key.current_version = 1
            key.versions.add(version=1, created_at_ms=command.time_ms, created_by=command.principal)
            stored.wrapped_material[1] = create.wrapped_material
        key.created_by = command.principal
        key.rotation_period_seconds = create.rotation_period_s
        key.labels.update(create.labels)
        key.description = create.description
        key.non_exportable = create.non_exportable
        key.created_at_ms = command.time_ms
        result = self._publish(stored, None)
        t.names[name] = key_id  # after the record, so a name always resolves
        self._generation += 1
        return result

    def _rotate_key(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        rotate = command.rotate_key
        check.key_id("rotate_key.key_id", rotate.key_id)
        if rotate.new_version < 2:
            raise check.invalid("rotate_key.new_version", "must be at least 2")
        check.wrapped("rotate_key.wrapped_material", rotate.wrapped_material)
        old = self._existing("rotate_key.key_id", rotate.key_id)
        check.require_state(old.key, (ENABLED,), "rotate")
        if old.key.origin == EXTERNAL:
            raise CommandRefused(
                check.FAILED_PRECONDITION,
                f"key {old.key.name!r} has imported material: import a new version instead",
            )
        expected = old.key.current_version + 1
        if rotate.new_version != expected:
            raise CommandRefused(
                check.CONFLICT, f"concurrent rotation: expected version {expected}"
            )
        stored = _copy(old)
        stored.key.current_version = expected
        stored.key.versions.add(
            version=expected, created_at_ms=command.time_ms, created_by=command.principal
        )
        stored.wrapped_material[expected] = rotate.wrapped_material
        return self._publish(stored, old)

    def _set_key_enabled(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        change = command.set_key_enabled
        old = self._existing("set_key_enabled.key_id", change.key_id)
        check.require_state(old.key, (ENABLED, DISABLED), "enable" if change.enabled else "disable")
        wanted = ENABLED if change.enabled else DISABLED
        if old.key.state == wanted:
            return store_pb2.CommandResult(key=old.key)  # idempotent, no new revision
        stored = _copy(old)
        stored.key.state = wanted
        return self._publish(stored, old)

    def _schedule_deletion(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        schedule = command.schedule_deletion
        check.key_id("schedule_deletion.key_id", schedule.key_id)
        due = schedule.deletion_time_ms
        if due <= command.time_ms:
            raise check.invalid(
                "schedule_deletion.deletion_time_ms", "must be after the command's time_ms"
            )
        old = self._existing("schedule_deletion.key_id", schedule.key_id)
        check.require_state(old.key, (ENABLED, DISABLED), "schedule its deletion")
        stored = _copy(old)
        stored.key.state = PENDING
        stored.key.deletion_time_ms = due
        return self._publish(stored, old)

    def _cancel_deletion(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        old = self._existing("cancel_deletion.key_id", command.cancel_deletion.key_id)
        check.require_state(old.key, (PENDING,), "cancel its deletion")
        stored = _copy(old)
        stored.key.state = DISABLED  # as AWS KMS: re-enabling is a separate, explicit step
        stored.key.deletion_time_ms = 0
        return self._publish(stored, old)

    def _rotate_keyring(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        rotate = command.rotate_keyring
        if not rotate.HasField("new_term"):
            raise check.invalid("rotate_keyring.new_term", "must be set")
        check.keyring_term("rotate_keyring.new_term", rotate.new_term)
        t = self._t
        assert t.init is not None  # _dispatch refuses every op before init
        if rotate.root_generation != t.init.root_generation:
            raise CommandRefused(
                check.CONFLICT, "the root key was rotated meanwhile: wrap the term again"
            )
        expected = t.keyring[-1].term + 1
        if rotate.new_term.term != expected:
            raise CommandRefused(
                check.CONFLICT, f"concurrent keyring rotation: expected term {expected}"
            )
        term = store_pb2.KeyringTerm()
        term.CopyFrom(rotate.new_term)
        t.keyring = (*t.keyring, term)
        t.root_view = (t.init.root_generation, t.keyring)
        self._revision += 1
        return store_pb2.CommandResult(keyring_term=term.term)

    def _rotate_root(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        """Installs a new root key's records (approved). The keyring's term keys stay the
        same, re-wrapped, so no key material and no ciphertext changes."""
        rotate = command.rotate_root
        check.rotate_root(rotate)
        t = self._t
        assert t.init is not None  # _dispatch refuses every op before init
        if rotate.from_generation != t.init.root_generation:
            raise CommandRefused(
                check.CONFLICT,
                f"the root key was rotated since this request (now generation "
                f"{t.init.root_generation}): request the rotation again",
            )
        if [(x.term, x.created_at_ms) for x in rotate.keyring] != [
            (x.term, x.created_at_ms) for x in t.keyring
        ]:
            raise CommandRefused(
                check.CONFLICT,
                "the keyring was rotated since this request: request the rotation again",
            )
        expected = t.keyring[-1].term + 1
        if rotate.new_term.term != expected:
            raise check.invalid("rotate_root.new_term.term", f"must be {expected}")
        generation = t.init.root_generation + 1
        init = store_pb2.InitCluster()
        init.CopyFrom(t.init)
        init.shamir_wrapped_root_key = rotate.shamir_wrapped_root_key
        init.secret_shares = rotate.secret_shares
        init.secret_threshold = rotate.secret_threshold
        init.ClearField("share_digests")
        init.share_digests.extend(rotate.share_digests)
        init.root_generation = generation
        init.root_links.add(generation=generation, wrapped=rotate.root_successor)
        if len(init.root_links) > check.ROOT_LINKS_KEPT:
            del init.root_links[: len(init.root_links) - check.ROOT_LINKS_KEPT]
        init.root_rotated_at_ms = command.time_ms
        init.root_rotated_by = command.principal
        keyring = tuple(_copy_term(term) for term in (*rotate.keyring, rotate.new_term))
        t.init = init  # the links first: a reader that sees the new generation finds them
        t.keyring = keyring
        t.root_view = (generation, keyring)
        self._revision += 1
        return store_pb2.CommandResult(keyring_term=rotate.new_term.term)

    def _tick(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        return _OK  # the purge already ran in _dispatch

    def _destroy_key(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        """Ends a pending deletion early (split-key: only from an approved operation)."""
        old = self._existing("destroy_key.key_id", command.destroy_key.key_id)
        check.require_state(old.key, (PENDING,), "destroy it now")
        return store_pb2.CommandResult(key=self._destroy(old).key)

    def _set_rotation_policy(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        change = command.set_rotation_policy
        old = self._existing("set_rotation_policy.key_id", change.key_id)
        check.require_state(old.key, (ENABLED, DISABLED), "change its rotation policy")
        if change.rotation_period_s and old.key.origin == EXTERNAL:
            raise check.invalid(
                "set_rotation_policy.rotation_period_s",
                "must be 0 for a key of origin EXTERNAL: new versions are imported",
            )
        if change.min_decryption_version > old.key.current_version:
            raise check.invalid(
                "set_rotation_policy.min_decryption_version",
                f"must be at most the current version {old.key.current_version}",
            )
        stored = _copy(old)
        stored.key.rotation_period_seconds = change.rotation_period_s
        stored.key.min_decryption_version = change.min_decryption_version
        return self._publish(stored, old)

    def _prepare_import(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        prepare = command.prepare_import
        check.prepare_import(prepare, command.time_ms)
        old = self._existing("prepare_import.key_id", prepare.key_id)
        check.importable(old.key, "prepare_import.key_id")
        stored = _copy(old)
        pending = stored.pending_import
        pending.token_id = prepare.token_id
        pending.public_key = prepare.public_key
        pending.wrapped_private_key = prepare.wrapped_private_key
        pending.expires_at_ms = prepare.expires_at_ms
        return self._publish(stored, old)

    def _import_material(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        """Adds imported material as a new version, or accepts the same material again
        for an imported version (by its keyed digest); either way the token is spent."""
        imp = command.import_material
        check.import_material(imp)
        if imp.expires_at_ms and imp.expires_at_ms <= command.time_ms:
            raise check.invalid("import_material.expires_at_ms", "must be after time_ms")
        old = self._existing("import_material.key_id", imp.key_id)
        check.importable(old.key, "import_material.key_id")
        check.pending_token(old, imp.token_id, command.time_ms)
        stored = _copy(old)
        stored.ClearField("pending_import")
        key = stored.key
        if imp.version == key.current_version + 1:
            check.wrapped("import_material.wrapped_material", imp.wrapped_material)
            key.current_version = imp.version
            key.versions.add(
                version=imp.version,
                created_at_ms=command.time_ms,
                created_by=command.principal,
                origin=EXTERNAL,
                expires_at_ms=imp.expires_at_ms,
            )
            stored.wrapped_material[imp.version] = imp.wrapped_material
            stored.import_digests[imp.version] = imp.material_digest
        else:
            check.same_material(old, imp)
            version = key.versions[imp.version - 1]
            if version.material_expired:  # the same material, back after its erasure
                check.wrapped("import_material.wrapped_material", imp.wrapped_material)
                stored.wrapped_material[imp.version] = imp.wrapped_material
                version.material_expired = False
            version.expires_at_ms = imp.expires_at_ms
        return self._publish(stored, old)

    def _expire_material(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        """Erases one imported version's material once its expiry has passed; the
        version, its digest and its history stay (the same material can come back)."""
        expire = command.expire_material
        old = self._existing("expire_material.key_id", expire.key_id)
        if not 1 <= expire.version <= old.key.current_version:
            raise check.invalid("expire_material.version", f"key has no version {expire.version}")
        version = old.key.versions[expire.version - 1]
        if version.material_expired or old.key.state == DESTROYED:
            return store_pb2.CommandResult(key=old.key)  # already erased: idempotent
        if not version.expires_at_ms or version.expires_at_ms > command.time_ms:
            raise CommandRefused(
                check.FAILED_PRECONDITION,
                f"expire_material: version {expire.version} has not expired at time_ms",
            )
        stored = _copy(old)
        del stored.wrapped_material[expire.version]
        stored.key.versions[expire.version - 1].material_expired = True
        return self._publish(stored, old)

    def _put_policy(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        return self._t.access.put_policy(command)

    def _delete_policy(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        return self._t.access.delete_policy(command)

    def _set_roles(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        return self._t.access.set_roles(command)

    def _set_approval_rule(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        return self._t.access.set_approval_rule(command)

    def _grant_export(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        grant = command.grant_export.grant
        stored = self._existing("grant_export.grant.key_id", grant.key_id)
        if 1 <= grant.version <= len(stored.key.versions) and (
            stored.key.versions[grant.version - 1].material_expired
        ):
            raise CommandRefused(
                check.FAILED_PRECONDITION, check.material_expired(stored.key.name, grant.version)
            )
        if grant.version not in stored.wrapped_material:
            raise CommandRefused(check.NOT_FOUND, f"key has no version {grant.version}")
        if stored.key.purpose == keys_pb2.KEY_PURPOSE_HSM:
            raise CommandRefused(check.FAILED_PRECONDITION, check.HSM_NOT_EXPORTABLE)
        if stored.key.non_exportable:
            raise CommandRefused(check.FAILED_PRECONDITION, check.NOT_EXPORTABLE)
        return self._t.access.grant_export(command)

    def _use_export_grant(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        result = self._t.access.use_export_grant(command)
        self._revision += 1
        return result

    def _authorize_join(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        return self._t.access.authorize_join(command)

    def _consume_join(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        return self._t.access.consume_join(command)

    def _authorize_seal_migration(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        return self._t.access.authorize_seal_migration(command)

    def _consume_seal_migration(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        return self._t.access.consume_seal_migration(command)

    def _authorize_removal(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        return self._t.access.authorize_removal(command)

    def _consume_removal(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        return self._t.access.consume_removal(command)

    def _request_approval(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        result = self._t.access.request(command, self._execute_approved)
        self._revision += 1
        return result

    def _decide_approval(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        result = self._t.access.decide(command, self._execute_approved)
        self._revision += 1
        return result

    def _secrets_write(
        self,
        command: store_pb2.Command,
        write: Callable[[store_pb2.Command], store_pb2.CommandResult],
    ) -> store_pb2.CommandResult:
        result = write(command)
        self._revision += 1
        return result

    def _enable_secrets_mount(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        secrets = self._t.secrets
        return self._secrets_write(
            command, lambda c: secrets.enable_mount(c, self._mount_key_problem)
        )

    def _mount_key_problem(self, key_id: str) -> str:
        """Why key `key_id` cannot encrypt a mount's values, or ""."""
        record = self._t.keys.get(key_id)
        if record is None:
            return f"no key {key_id!r}"
        key = key_records.decode(record).key
        if key.purpose != keys_pb2.KEY_PURPOSE_ENCRYPT:
            return f"key {key.name!r} is not an ENCRYPT key"
        if key.state == DESTROYED:
            return f"key {key.name!r} is destroyed"
        return ""

    def _configure_secrets_mount(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        return self._secrets_write(command, self._t.secrets.configure_mount)

    def _put_secret(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        return self._secrets_write(command, self._t.secrets.put)

    def _delete_secret_versions(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        return self._secrets_write(command, self._t.secrets.delete_versions)

    def _undelete_secret_versions(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        return self._secrets_write(command, self._t.secrets.undelete_versions)

    def _destroy_secret_versions(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        return self._secrets_write(command, self._t.secrets.destroy_versions)

    def _write_secret_metadata(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        return self._secrets_write(command, self._t.secrets.write_metadata)

    def _delete_secret_metadata(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        return self._secrets_write(command, self._t.secrets.delete_metadata)

    def _create_secret_token(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        return self._secrets_write(command, self._t.secrets.create_token)

    def _revoke_secret_token(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        return self._secrets_write(command, self._t.secrets.revoke_token)

    def _sorted_index(self) -> list[tuple[str, str]]:
        """(name, id) of every key, sorted; rebuilt only when keys were created/restored."""
        generation = self._generation
        cached_generation, index = self._index
        if cached_generation != generation:
            keys = self._t.keys.copy()
            index = sorted(
                (key_records.decode(record).key.name, key_id) for key_id, record in keys.items()
            )
            self._index = (generation, index)
        return index


_HANDLERS: dict[str, _Handler] = {
    "authorize_join": KeyStore._authorize_join,
    "consume_join": KeyStore._consume_join,
    "authorize_seal_migration": KeyStore._authorize_seal_migration,
    "consume_seal_migration": KeyStore._consume_seal_migration,
    "authorize_removal": KeyStore._authorize_removal,
    "consume_removal": KeyStore._consume_removal,
    "create_key": KeyStore._create_key,
    "rotate_key": KeyStore._rotate_key,
    "set_key_enabled": KeyStore._set_key_enabled,
    "schedule_deletion": KeyStore._schedule_deletion,
    "cancel_deletion": KeyStore._cancel_deletion,
    "rotate_keyring": KeyStore._rotate_keyring,
    "rotate_root": KeyStore._rotate_root,
    "tick": KeyStore._tick,
    "destroy_key": KeyStore._destroy_key,
    "set_rotation_policy": KeyStore._set_rotation_policy,
    "put_policy": KeyStore._put_policy,
    "delete_policy": KeyStore._delete_policy,
    "set_roles": KeyStore._set_roles,
    "set_approval_rule": KeyStore._set_approval_rule,
    "request_approval": KeyStore._request_approval,
    "decide_approval": KeyStore._decide_approval,
    "grant_export": KeyStore._grant_export,
    "use_export_grant": KeyStore._use_export_grant,
    "set_member": KeyStore._set_member,
    "prepare_import": KeyStore._prepare_import,
    "import_material": KeyStore._import_material,
    "expire_material": KeyStore._expire_material,
    "enable_secrets_mount": KeyStore._enable_secrets_mount,
    "configure_secrets_mount": KeyStore._configure_secrets_mount,
    "put_secret": KeyStore._put_secret,
    "delete_secret_versions": KeyStore._delete_secret_versions,
    "undelete_secret_versions": KeyStore._undelete_secret_versions,
    "destroy_secret_versions": KeyStore._destroy_secret_versions,
    "write_secret_metadata": KeyStore._write_secret_metadata,
    "delete_secret_metadata": KeyStore._delete_secret_metadata,
    "create_secret_token": KeyStore._create_secret_token,
    "revoke_secret_token": KeyStore._revoke_secret_token,
}


def _copy(stored: store_pb2.StoredKey) -> store_pb2.StoredKey:
    fresh = store_pb2.StoredKey()
    fresh.CopyFrom(stored)
    return fresh


def _tables_from(state: store_pb2.StoreState, records: list[bytes]) -> _Tables:
    """Validated tables for a decoded snapshot (key records apart, in snapshot order);
    ValueError if it is inconsistent."""
    tables = _Tables()
    if state.HasField("init"):
        tables.init = store_pb2.InitCluster()
        tables.init.CopyFrom(state.init)
    check.snapshot_header(state)
    if records and not state.keyring:
        raise ValueError("snapshot has keys but no init record")
    tables.keyring = tuple(_copy_term(term) for term in state.keyring)
    generation = tables.init.root_generation if tables.init is not None else 0
    tables.root_view = (generation, tables.keyring)
    keys, names, counts = tables.keys, tables.names, tables.counts
    deletions: list[tuple[str, int]] = []
    rotations: list[tuple[str, int]] = []
    expiries: list[tuple[str, int]] = []
    for raw in records:
        try:
            key_id, stored, record = key_records.read_entry(raw)
        except Exception:
            raise ValueError("snapshot key record is not a StoredKey map entry") from None
        check.snapshot_key(key_id, stored)
        if key_id in keys:
            raise ValueError(f"snapshot has key {key_id} twice")
        key = stored.key
        keys[key_id] = record
        counts[key.state] += 1
        if key.state != DESTROYED:
            if key.name in names:
                raise ValueError("snapshot has two live keys with one name")
            names[key.name] = key_id
        if (due := _deletion_due_ms(key)) is not None:
            deletions.append((key_id, due))
        if (due := rotation_due_ms(key)) is not None:
            rotations.append((key_id, due))
        if (due := expiry_due_ms(key)) is not None:
            expiries.append((key_id, due))
    tables.deletions = DueIndex(deletions)
    tables.rotations = DueIndex(rotations)
    tables.expiries = DueIndex(expiries)
    tables.access = Access.load(state)
    tables.secrets = Secrets.load(state)
    for member in state.members:
        copy = store_pb2.Member()
        copy.CopyFrom(member)
        tables.members[member.id] = copy
    return tables


def _newest_term(ring: tuple[store_pb2.KeyringTerm, ...]) -> int:
    return ring[-1].term if ring else 0


def _copy_term(term: store_pb2.KeyringTerm) -> store_pb2.KeyringTerm:
    fresh = store_pb2.KeyringTerm()
    fresh.CopyFrom(term)
    return fresh
