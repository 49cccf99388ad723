"""Replicated access state: policies, role bindings, approval rules, pending operations.

Part of the pure state machine (`KeyStore` delegates to it): no clock, no I/O. Split-key
operations (policy changes, role changes, approval-rule changes, destroying a key now)
cannot be proposed directly: they arrive wrapped in a RequestApproval, wait in
`operations`, and run inside `apply` when `required` distinct admins have approved:
so they run exactly once, on every replica, in log order. The requester counts as one
approval; an admin approving twice counts once; an expired request never runs.

Reads from other threads are safe by copy-on-write: every table is a dict that is
replaced, never mutated, when it changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from keymgr import naming
from keymgr.naming import NODE_ID
from keymgr.store.keystore_validation import (
    ALREADY_EXISTS,
    FAILED_PRECONDITION,
    NOT_FOUND,
    CommandRefused,
    export_bundle,
    invalid,
)
from keymgr.v1 import store_pb2

ADMIN = "admin"
GATEWAY = "gateway"  # may act for a client certificate it forwards (keymgr-forwarded-cert-bin)
ROLES = frozenset({"admin", "operator", "auditor", "agent", "service", GATEWAY})
SECRET_OPERATIONS = frozenset(
    {"secret-read", "secret-write", "secret-list", "secret-delete", "secret-destroy"}
)
OPERATIONS = frozenset(
    {
        "*",
        "encrypt",
        "decrypt",
        "generate-data-key",
        "re-encrypt",
        "describe",
        "manage",
        "random",
        "volume",
        "tde",
        *SECRET_OPERATIONS,
    }
)
# command op -> approval kind: these ops run only through an approved RequestApproval
GATED = {
    "put_policy": "put-policy",
    "delete_policy": "delete-policy",
    "set_roles": "set-roles",
    "set_approval_rule": "set-approval-rule",
    "destroy_key": "destroy-key",
    "grant_export": "export-key",
    "authorize_join": "authorize-join",
    "authorize_seal_migration": "migrate-seal",
    "authorize_removal": "remove-node",
    "rotate_root": "rotate-root",
}
KINDS = frozenset(GATED.values())
DECIDED_KEPT = 1000
JOINS_KEPT = 1000
BUNDLES_KEPT = 10_000  # export records; the audit keeps every one beyond that
SEAL_TYPES = frozenset(naming.SEAL_TYPES)
NAME = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
PENDING = store_pb2.OPERATION_STATE_PENDING


def state_word(state: int) -> str:
    """ "pending", "executed", ... as the CLI and responses show an operation's state."""
    return store_pb2.OperationState.Name(state).removeprefix("OPERATION_STATE_").lower()


M = TypeVar(
    "M",
    store_pb2.Policy,
    store_pb2.PendingOperation,
    store_pb2.ExportGrant,
    store_pb2.JoinAuthorization,
    store_pb2.SealMigration,
    store_pb2.AuthorizeRemoval,
    store_pb2.ExportBundle,
)
Execute = Callable[[store_pb2.Command], store_pb2.CommandResult]


class Access:
    """The access tables; `KeyStore` calls the `apply_*` methods from its handlers."""

    def __init__(self) -> None:
        self.policies: dict[str, store_pb2.Policy] = {}
        self.roles: dict[str, tuple[str, ...]] = {}
        self.rules: dict[str, int] = {}
        self.operations: dict[str, store_pb2.PendingOperation] = {}
        self.grants: dict[str, store_pb2.ExportGrant] = {}
        self.joins: dict[str, store_pb2.JoinAuthorization] = {}  # by token id
        self.seal_migrations: dict[str, store_pb2.SealMigration] = {}  # by migration id
        self.removals: dict[str, store_pb2.AuthorizeRemoval] = {}  # by member id
        self.bundles: tuple[store_pb2.ExportBundle, ...] = ()  # export records, oldest first
        # derived from `operations`: the earliest expiry of a pending one, so that
        # `expire` (run before every command) need not scan the decided ones
        self._next_expiry: int | None = None

    # --- reads ----------------------------------------------------------------------

    def roles_of(self, principal: str) -> tuple[str, ...]:
        return self.roles.get(principal, ())

    def is_admin(self, principal: str) -> bool:
        return ADMIN in self.roles.get(principal, ())

    def required(self, kind: str) -> int:
        """Approvals `kind` needs. A kind with no rule (state from before the kind
        existed) needs as many as the strictest rule: fail closed, not open."""
        strictest = max(self.rules.values(), default=1)
        return max(1, self.rules.get(kind, strictest))

    # --- init / snapshot --------------------------------------------------------------

    def initialise(self, init: store_pb2.InitCluster) -> None:
        """Init makes the first admins and the default policy that lets admins use keys."""
        self.roles = {admin: (ADMIN,) for admin in init.admins}
        self.rules = {kind: max(1, init.approvals_required) for kind in sorted(KINDS)}
        default = store_pb2.Policy(
            name="admins",
            roles=[ADMIN],
            operations=["*"],
            key_patterns=["*"],
            path_patterns=["*"],
            description="made at init: admins may use and manage every key and secret",
        )
        self.policies = {default.name: default}

    def save(self, state: store_pb2.StoreState) -> None:
        state.policies.extend(self.policies[name] for name in sorted(self.policies))
        for principal in sorted(self.roles):
            state.role_bindings.add(principal=principal, roles=self.roles[principal])
        for kind in sorted(self.rules):
            state.approval_rules.add(kind=kind, required=self.rules[kind])
        state.operations.extend(self.operations.values())
        state.export_grants.extend(self.grants.values())
        state.joins.extend(self.joins.values())
        state.seal_migrations.extend(self.seal_migrations.values())
        state.removals.extend(self.removals[k] for k in sorted(self.removals))
        state.export_bundles.extend(self.bundles)

    @classmethod
    def load(cls, state: store_pb2.StoreState) -> Access:
        access = cls()
        access.policies = {p.name: _copy(p) for p in state.policies}
        access.roles = {b.principal: tuple(b.roles) for b in state.role_bindings}
        access.rules = {r.kind: r.required for r in state.approval_rules}
        access.operations = {op.id: _copy(op) for op in state.operations}
        access._next_expiry = _earliest_expiry(access.operations)
        if len(access.operations) != len(state.operations):
            raise ValueError("snapshot repeats an operation id")
        access.grants = {g.id: _copy(g) for g in state.export_grants}
        access.joins = {j.token.token_id: _copy(j) for j in state.joins}
        if len(access.joins) != len(state.joins):
            raise ValueError("snapshot repeats a join token id")
        access.seal_migrations = {
            m.authorization.migration_id: _copy(m) for m in state.seal_migrations
        }
        if len(access.seal_migrations) != len(state.seal_migrations):
            raise ValueError("snapshot repeats a seal migration id")
        access.removals = {r.member_id: _copy(r) for r in state.removals}
        access.bundles = tuple(_copy(b) for b in state.export_bundles)
        return access

    # --- gated operations (run only from an approved request) ---------------------------

    def put_policy(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        policy = command.put_policy.policy
        check_policy(policy)
        self.policies = {**self.policies, policy.name: _copy(policy)}
        return store_pb2.CommandResult(ok=True)

    def delete_policy(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        name = command.delete_policy.name
        if name not in self.policies:
            raise CommandRefused(NOT_FOUND, f"delete_policy.name: no policy {name!r}")
        self.policies = {k: v for k, v in self.policies.items() if k != name}
        return store_pb2.CommandResult(ok=True)

    def set_roles(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        binding = command.set_roles.binding
        if not binding.principal:
            raise invalid("set_roles.binding.principal", "must not be empty")
        unknown = set(binding.roles) - ROLES
        if unknown:
            raise invalid("set_roles.binding.roles", f"unknown role(s) {sorted(unknown)}")
        roles = tuple(sorted(set(binding.roles)))
        admins = [p for p, r in self.roles.items() if ADMIN in r and p != binding.principal]
        if ADMIN not in roles and not admins:
            raise CommandRefused(FAILED_PRECONDITION, "the last admin cannot lose the admin role")
        table = {k: v for k, v in self.roles.items() if k != binding.principal}
        if roles:
            table[binding.principal] = roles
        self.roles = table
        return store_pb2.CommandResult(ok=True)

    def set_approval_rule(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        rule = command.set_approval_rule.rule
        if rule.kind not in KINDS:
            raise invalid("set_approval_rule.rule.kind", f"unknown kind {rule.kind!r}")
        admins = sum(1 for r in self.roles.values() if ADMIN in r)
        if not 1 <= rule.required <= max(1, admins):
            raise invalid("set_approval_rule.rule.required", f"must be 1..{admins} (the admins)")
        self.rules = {**self.rules, rule.kind: rule.required}
        return store_pb2.CommandResult(ok=True)

    def grant_export(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        grant = command.grant_export.grant
        if not grant.id or not grant.key_id or grant.version < 1 or not grant.grantee:
            raise invalid("grant_export.grant", "needs id, key_id, version and grantee")
        if grant.id in self.grants:
            raise CommandRefused(ALREADY_EXISTS, "grant id exists")
        table = dict(self.grants)
        table[grant.id] = _copy(grant)
        for stale in [k for k, g in table.items() if g.used][: max(0, len(table) - DECIDED_KEPT)]:
            del table[stale]
        self.grants = table
        return store_pb2.CommandResult(ok=True)

    def use_export_grant(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        """Marks a grant used: an export happens once, whichever node serves it."""
        grant = self.grants.get(command.use_export_grant.grant_id)
        if grant is None or grant.grantee != command.principal:
            raise CommandRefused(NOT_FOUND, "no export grant with this id for this principal")
        if grant.used:
            raise CommandRefused(FAILED_PRECONDITION, "export grant was already used")
        if grant.expires_at_ms <= command.time_ms:
            raise CommandRefused(FAILED_PRECONDITION, "export grant has expired")
        use = command.use_export_grant
        if use.HasField("bundle"):  # absent only in commands from before export records
            export_bundle("use_export_grant.bundle", use.bundle)
        used = _copy(grant)
        used.used = True
        self.grants = {**self.grants, used.id: used}
        if use.HasField("bundle"):
            self._record_bundle(grant, use.bundle, command)
        return store_pb2.CommandResult(ok=True)

    def _record_bundle(
        self,
        grant: store_pb2.ExportGrant,
        proposed: store_pb2.ExportBundle,
        command: store_pb2.Command,
    ) -> None:
        """Keeps the export's record: the proposer's where/how, the grant's what and who."""
        bundle = _copy(proposed)
        bundle.id = grant.id
        bundle.key_id = grant.key_id
        bundle.version = grant.version
        approval = self.operations.get(grant.id)
        del bundle.approvers[:]
        bundle.approvers.extend(approval.approvals if approval is not None else ())
        bundle.exported_by = command.principal
        bundle.exported_at_ms = command.time_ms
        self.bundles = (*self.bundles, bundle)[-BUNDLES_KEPT:]

    def bundles_of(self, key_id: str) -> list[store_pb2.ExportBundle]:
        return [b for b in self.bundles if b.key_id == key_id]

    def authorize_join(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        token = command.authorize_join
        if not NAME.fullmatch(token.token_id):
            raise invalid("authorize_join.token_id", "1..128 of letters, digits and _ . : -")
        if not NODE_ID.fullmatch(token.node_id):
            raise invalid("authorize_join.node_id", "not a node id")
        if len(token.secret_digest) != 32:
            raise invalid("authorize_join.secret_digest", "must be 32 bytes (SHA-256)")
        if token.expires_at_ms <= command.time_ms:
            raise invalid("authorize_join.expires_at_ms", "must be after the command time")
        if token.token_id in self.joins:
            raise CommandRefused(ALREADY_EXISTS, "join token id exists")
        self.joins = _with_capped(
            self.joins, token.token_id, store_pb2.JoinAuthorization(token=token)
        )
        return store_pb2.CommandResult(ok=True)

    def consume_join(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        """Uses a join token up; refused if unknown, for another node, used or expired."""
        use = command.consume_join
        old = self.joins.get(use.token_id)
        if old is None or old.token.node_id != use.node_id:
            raise CommandRefused(NOT_FOUND, "no approved join token for this node")
        if old.used:
            raise CommandRefused(FAILED_PRECONDITION, "join token was already used")
        if old.token.expires_at_ms <= command.time_ms:
            raise CommandRefused(FAILED_PRECONDITION, "join token has expired")
        used = _copy(old)
        used.used, used.used_at_ms = True, command.time_ms
        self.joins = {**self.joins, use.token_id: used}
        return store_pb2.CommandResult(ok=True)

    def authorize_seal_migration(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        auth = command.authorize_seal_migration
        if not NAME.fullmatch(auth.migration_id):
            raise invalid(
                "authorize_seal_migration.migration_id", "1..128 of letters, digits and _ . : -"
            )
        if not NODE_ID.fullmatch(auth.node_id):
            raise invalid("authorize_seal_migration.node_id", "not a node id")
        if auth.to_type not in SEAL_TYPES:
            raise invalid("authorize_seal_migration.to_type", f"one of {sorted(SEAL_TYPES)}")
        if auth.expires_at_ms <= command.time_ms:
            raise invalid(
                "authorize_seal_migration.expires_at_ms", "must be after the command time"
            )
        if auth.migration_id in self.seal_migrations:
            raise CommandRefused(ALREADY_EXISTS, "seal migration id exists")
        self.seal_migrations = _with_capped(
            self.seal_migrations, auth.migration_id, store_pb2.SealMigration(authorization=auth)
        )
        return store_pb2.CommandResult(ok=True)

    def consume_seal_migration(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        use = command.consume_seal_migration
        old = self.seal_migrations.get(use.migration_id)
        if old is None or old.authorization.node_id != use.node_id:
            raise CommandRefused(NOT_FOUND, "no approved seal migration for this node")
        if old.used:
            raise CommandRefused(FAILED_PRECONDITION, "seal migration was already done")
        if old.authorization.expires_at_ms <= command.time_ms:
            raise CommandRefused(FAILED_PRECONDITION, "seal migration approval has expired")
        used = _copy(old)
        used.used, used.used_at_ms = True, command.time_ms
        self.seal_migrations = {**self.seal_migrations, use.migration_id: used}
        return store_pb2.CommandResult(ok=True)

    def authorize_removal(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        auth = command.authorize_removal
        if not NODE_ID.fullmatch(auth.member_id):
            raise invalid("authorize_removal.member_id", "not a node id")
        if auth.expires_at_ms <= command.time_ms:
            raise invalid("authorize_removal.expires_at_ms", "must be after the command time")
        fresh = _copy(auth)
        fresh.used = False
        self.removals = {**self.removals, auth.member_id: fresh}  # a newer one replaces
        return store_pb2.CommandResult(ok=True)

    def consume_removal(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        """Uses an approved removal once: the leader then changes the Raft membership."""
        old = self.removals.get(command.consume_removal.member_id)
        if old is None or old.used:
            raise CommandRefused(NOT_FOUND, "no approved, unused removal of this member")
        if old.expires_at_ms <= command.time_ms:
            raise CommandRefused(FAILED_PRECONDITION, "the approved removal has expired")
        used = _copy(old)
        used.used = True
        self.removals = {**self.removals, used.member_id: used}
        return store_pb2.CommandResult(ok=True)

    # --- the approval flow --------------------------------------------------------------

    def request(self, command: store_pb2.Command, execute: Execute) -> store_pb2.CommandResult:
        request = command.request_approval
        requester = command.principal
        if not self.is_admin(requester):
            raise CommandRefused(FAILED_PRECONDITION, f"{requester!r} is not an admin")
        op = request.command.WhichOneof("op")
        if op is None or GATED.get(op) != request.kind:
            raise invalid("request_approval.kind", f"does not match the command ({op})")
        if not request.operation_id or len(request.operation_id) > 64:
            raise invalid("request_approval.operation_id", "must be 1..64 characters")
        if request.operation_id in self.operations:
            raise CommandRefused(ALREADY_EXISTS, "operation id exists")
        if request.expires_at_ms <= command.time_ms:
            raise invalid("request_approval.expires_at_ms", "must be after the command time")
        pending = store_pb2.PendingOperation(
            id=request.operation_id,
            kind=request.kind,
            command=request.command,
            requester=requester,
            approvals=[requester],
            created_at_ms=command.time_ms,
            expires_at_ms=request.expires_at_ms,
            state=PENDING,
            summary=request.summary[:512],
            required=self.required(request.kind),
        )
        return self._maybe_run(pending, command.time_ms, execute)

    def decide(self, command: store_pb2.Command, execute: Execute) -> store_pb2.CommandResult:
        decision = command.decide_approval
        admin = command.principal
        if not self.is_admin(admin):
            raise CommandRefused(FAILED_PRECONDITION, f"{admin!r} is not an admin")
        old = self.operations.get(decision.operation_id)
        if old is None:
            raise CommandRefused(NOT_FOUND, f"no operation {decision.operation_id!r}")
        if old.state != PENDING:
            raise CommandRefused(FAILED_PRECONDITION, f"operation is {state_word(old.state)}")
        pending = _copy(old)
        if not decision.approve:
            if admin not in pending.rejections:
                pending.rejections.append(admin)
            pending.state = store_pb2.OPERATION_STATE_REJECTED
            pending.decided_at_ms = command.time_ms
            self._store(pending)
            return store_pb2.CommandResult(operation=pending)
        if admin not in pending.approvals:
            pending.approvals.append(admin)
        return self._maybe_run(pending, command.time_ms, execute)

    def expire(self, now_ms: int) -> None:
        """Pending operations whose time ran out can never run."""
        if self._next_expiry is None or now_ms < self._next_expiry:
            return
        due = [
            op
            for op in self.operations.values()
            if op.state == PENDING and op.expires_at_ms <= now_ms
        ]
        for old in due:
            expired = _copy(old)
            expired.state = store_pb2.OPERATION_STATE_EXPIRED
            expired.decided_at_ms = now_ms
            self._store(expired)

    def _maybe_run(
        self, pending: store_pb2.PendingOperation, now_ms: int, execute: Execute
    ) -> store_pb2.CommandResult:
        admins = [p for p in pending.approvals if self.is_admin(p)]
        if len(admins) >= pending.required:
            inner = store_pb2.Command()
            inner.CopyFrom(pending.command)
            inner.time_ms, inner.principal, inner.request_id = now_ms, pending.requester, ""
            try:
                result = execute(inner)
                pending.state = store_pb2.OPERATION_STATE_EXECUTED
            except CommandRefused as refused:
                result = store_pb2.CommandResult(
                    error=store_pb2.CommandError(code=refused.code, message=refused.message)
                )
                pending.state = store_pb2.OPERATION_STATE_FAILED
            pending.result.CopyFrom(result)
            pending.decided_at_ms = now_ms
        self._store(pending)
        return store_pb2.CommandResult(operation=pending)

    def _store(self, op: store_pb2.PendingOperation) -> None:
        table = dict(self.operations)
        table[op.id] = op
        decided = [k for k, v in table.items() if v.state != PENDING]
        for stale in decided[: max(0, len(decided) - DECIDED_KEPT)]:
            del table[stale]
        self.operations = table
        self._next_expiry = _earliest_expiry(table)


def check_policy(policy: store_pb2.Policy) -> None:
    if not NAME.fullmatch(policy.name):
        raise invalid("policy.name", "1..128 of letters, digits and _ . : -")
    if not policy.principals and not policy.roles:
        raise invalid("policy", "names no principal and no role")
    unknown_roles = set(policy.roles) - ROLES
    if unknown_roles:
        raise invalid("policy.roles", f"unknown role(s) {sorted(unknown_roles)}")
    if not policy.operations:
        raise invalid("policy.operations", "must not be empty")
    unknown_ops = set(policy.operations) - OPERATIONS
    if unknown_ops:
        raise invalid("policy.operations", f"unknown operation(s) {sorted(unknown_ops)}")
    if not policy.key_patterns and not policy.path_patterns:
        raise invalid(
            "policy.key_patterns",
            "must not be empty (use '*' for every key) unless path_patterns is set",
        )
    if len(policy.key_patterns) > 64 or len(policy.required_context) > 16:
        raise invalid("policy", "at most 64 key patterns and 16 required context entries")
    if len(policy.path_patterns) > 64 or any(not p or len(p) > 1024 for p in policy.path_patterns):
        raise invalid("policy.path_patterns", "at most 64 patterns of 1..1024 characters")


def _earliest_expiry(operations: dict[str, store_pb2.PendingOperation]) -> int | None:
    return min(
        (op.expires_at_ms for op in operations.values() if op.state == PENDING), default=None
    )


def _with_capped(table: dict[str, M], key: str, value: M) -> dict[str, M]:
    """A copy of `table` (insertion order) with `value` added, oldest dropped beyond
    JOINS_KEPT: readers keep seeing the old table until it is swapped in."""
    out = {**table, key: value}
    for stale in list(out)[: max(0, len(out) - JOINS_KEPT)]:
        del out[stale]
    return out


def _copy(message: M) -> M:
    fresh = type(message)()
    fresh.CopyFrom(message)
    return fresh
