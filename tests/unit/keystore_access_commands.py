"""Transcript commands for the access side of the state machine: split-key approvals,
join tokens, seal migrations, node removal, membership and root rotation (used by
test_keystore_transcripts.py; the script syntax is documented there).

`as=NAME` on any of these sets the proposing principal (default alice). Times default
to one minute after the script's clock (`expires=` for a request, `until=` for the
authorization the request carries).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from keymgr.store.access import GATED
from keymgr.store.keystore import KeyStore
from keymgr.v1 import store_pb2

MINUTE_MS = 60_000
KIND_TO_OP = {kind: op for op, kind in GATED.items()}


class Env(Protocol):
    store: KeyStore
    now: int

    def propose(self, args: dict[str, str], **op: Any) -> list[str]: ...

    def resolve(self, ref: str) -> str: ...


def _words(text: str) -> list[str]:
    return [word for word in text.split(",") if word]


def _until(env: Env, args: dict[str, str]) -> int:
    return int(args.get("until", str(env.now + MINUTE_MS)))


# --- the inner commands a request wraps (by approval kind) ------------------------------


def _set_roles(env: Env, args: dict[str, str]) -> Any:
    return store_pb2.SetRoles(
        binding=store_pb2.RoleBinding(
            principal=args.get("principal", ""), roles=_words(args.get("roles", ""))
        )
    )


def _set_approval_rule(env: Env, args: dict[str, str]) -> Any:
    return store_pb2.SetApprovalRule(
        rule=store_pb2.ApprovalRule(
            kind=args.get("rule", ""), required=int(args.get("required", "1"))
        )
    )


def _put_policy(env: Env, args: dict[str, str]) -> Any:
    return store_pb2.PutPolicy(
        policy=store_pb2.Policy(
            name=args.get("name", ""),
            roles=_words(args.get("roles", "")),
            operations=_words(args.get("ops", "")),
            key_patterns=_words(args.get("patterns", "*")),
        )
    )


def _delete_policy(env: Env, args: dict[str, str]) -> Any:
    return store_pb2.DeletePolicy(name=args.get("name", ""))


def _destroy_key(env: Env, args: dict[str, str]) -> Any:
    return store_pb2.DestroyKey(key_id=env.resolve(args["key"]))


def _authorize_join(env: Env, args: dict[str, str]) -> Any:
    return store_pb2.AuthorizeJoin(
        token_id=args.get("token", ""),
        node_id=args.get("node", ""),
        secret_digest=b"s" * int(args.get("digest", "32")),
        expires_at_ms=_until(env, args),
    )


def _authorize_seal_migration(env: Env, args: dict[str, str]) -> Any:
    return store_pb2.AuthorizeSealMigration(
        migration_id=args.get("migration", ""),
        node_id=args.get("node", ""),
        to_type=args.get("to", ""),
        expires_at_ms=_until(env, args),
    )


def _authorize_removal(env: Env, args: dict[str, str]) -> Any:
    return store_pb2.AuthorizeRemoval(
        member_id=args.get("member", ""), expires_at_ms=_until(env, args)
    )


def _rotate_root(env: Env, args: dict[str, str]) -> Any:
    """The keyring as it is now (the request's view), and the next term after it."""
    shares = int(args.get("shares", "3"))
    terms = env.store.keyring_terms()
    new_term = int(args.get("term", str(env.store.active_term + 1)))
    return store_pb2.RotateRoot(
        from_generation=int(args.get("from", str(env.store.root_generation))),
        shamir_wrapped_root_key=args.get("root", "root2").encode(),
        secret_shares=shares,
        secret_threshold=int(args.get("threshold", "2")),
        share_digests=[b"digest"] * shares,
        root_successor=args.get("successor", "successor").encode(),
        keyring=terms,
        new_term=store_pb2.KeyringTerm(
            term=new_term, wrapped_key=b"term-under-new-root", created_at_ms=env.now
        ),
    )


INNER: dict[str, Callable[[Env, dict[str, str]], Any]] = {
    "set-roles": _set_roles,
    "set-approval-rule": _set_approval_rule,
    "put-policy": _put_policy,
    "delete-policy": _delete_policy,
    "destroy-key": _destroy_key,
    "authorize-join": _authorize_join,
    "migrate-seal": _authorize_seal_migration,
    "remove-node": _authorize_removal,
    "rotate-root": _rotate_root,
}


def _inner_command(env: Env, kind: str, args: dict[str, str]) -> store_pb2.Command:
    command = store_pb2.Command()
    getattr(command, KIND_TO_OP[kind]).CopyFrom(INNER[kind](env, args))
    return command


# --- commands ---------------------------------------------------------------------------


def request(env: Env, args: dict[str, str]) -> list[str]:
    """request KIND id=OP [expires=MS] [claim=KIND] FIELDS...: RequestApproval of the
    command KIND builds; `claim` names another kind than the command's."""
    kind = args["_"]
    return env.propose(
        args,
        request_approval=store_pb2.RequestApproval(
            operation_id=args.get("id", ""),
            kind=args.get("claim", kind),
            command=_inner_command(env, kind, args),
            expires_at_ms=int(args.get("expires", str(env.now + MINUTE_MS))),
            summary=args.get("summary", ""),
        ),
    )


def direct(env: Env, args: dict[str, str]) -> list[str]:
    """direct KIND FIELDS...: the split-key command proposed on its own (refused)."""
    command = _inner_command(env, args["_"], args)
    op = command.WhichOneof("op")
    assert op is not None
    return env.propose(args, **{op: getattr(command, op)})


def approve(env: Env, args: dict[str, str], yes: bool = True) -> list[str]:
    return env.propose(
        args, decide_approval=store_pb2.DecideApproval(operation_id=args.get("id", ""), approve=yes)
    )


def reject(env: Env, args: dict[str, str]) -> list[str]:
    return approve(env, args, yes=False)


def consume_join(env: Env, args: dict[str, str]) -> list[str]:
    return env.propose(
        args,
        consume_join=store_pb2.ConsumeJoin(
            token_id=args.get("token", ""), node_id=args.get("node", "")
        ),
    )


def consume_seal_migration(env: Env, args: dict[str, str]) -> list[str]:
    return env.propose(
        args,
        consume_seal_migration=store_pb2.ConsumeSealMigration(
            migration_id=args.get("migration", ""), node_id=args.get("node", "")
        ),
    )


def consume_removal(env: Env, args: dict[str, str]) -> list[str]:
    return env.propose(
        args, consume_removal=store_pb2.ConsumeRemoval(member_id=args.get("member", ""))
    )


def member(env: Env, args: dict[str, str]) -> list[str]:
    """member ID [api=A] [raft=R] [zone=Z] [remove=1]: SetMember."""
    node = args.get("_", "")
    return env.propose(
        args,
        set_member=store_pb2.SetMember(
            member=store_pb2.Member(
                id=node,
                api=args.get("api", f"{node}:7001"),
                raft=args.get("raft", f"{node}:7101"),
                zone=args.get("zone", ""),
            ),
            remove=args.get("remove") == "1",
        ),
    )


# --- views ------------------------------------------------------------------------------


def describe_operation(op: store_pb2.PendingOperation) -> list[str]:
    state = store_pb2.OperationState.Name(op.state).removeprefix("OPERATION_STATE_")
    line = (
        f"operation {op.id} kind={op.kind} state={state} "
        f"approvals={','.join(op.approvals) or '-'} required={op.required} "
        f"expires={op.expires_at_ms}"
    )
    if op.rejections:
        line += f" rejections={','.join(op.rejections)}"
    if op.decided_at_ms:
        line += f" decided={op.decided_at_ms}"
    out = [line]
    outcome = op.result.WhichOneof("result")
    if outcome == "error":
        code = store_pb2.ErrorCode.Name(op.result.error.code).removeprefix("ERROR_CODE_")
        out.append(f"  result: error {code}: {op.result.error.message}")
    elif outcome == "keyring_term":
        out.append(f"  result: keyring term {op.result.keyring_term}")
    elif outcome is not None:
        out.append(f"  result: {outcome}")
    return out


def access(env: Env, args: dict[str, str]) -> list[str]:
    """Roles, approvals required (the usual number, then the kinds that differ), and
    every non-empty access table."""
    tables = env.store.access
    out = ["roles: " + " ".join(f"{p}={'+'.join(r)}" for p, r in sorted(tables.roles.items()))]
    usual = Counter(tables.rules.values()).most_common(1)[0][0] if tables.rules else 0
    others = [f"{kind}={n}" for kind, n in sorted(tables.rules.items()) if n != usual]
    out.append(" ".join([f"rules: every kind {usual}", *others]))
    if tables.policies:
        out.append("policies: " + " ".join(sorted(tables.policies)))
    for op in tables.operations.values():
        state = store_pb2.OperationState.Name(op.state).removeprefix("OPERATION_STATE_")
        out.append(f"operation {op.id} {op.kind} {state}")
    for join in tables.joins.values():
        token = join.token
        out.append(
            f"join {token.token_id} node={token.node_id} expires={token.expires_at_ms} "
            f"used={str(join.used).lower()}"
        )
    for migration in tables.seal_migrations.values():
        auth = migration.authorization
        out.append(
            f"seal-migration {auth.migration_id} node={auth.node_id} to={auth.to_type} "
            f"expires={auth.expires_at_ms} used={str(migration.used).lower()}"
        )
    for removal in sorted(tables.removals.values(), key=lambda r: r.member_id):
        out.append(
            f"removal {removal.member_id} expires={removal.expires_at_ms} "
            f"used={str(removal.used).lower()}"
        )
    for node, entry in sorted(env.store.members().items()):
        out.append(f"member {node} api={entry.api} raft={entry.raft} zone={entry.zone or '-'}")
    return out


def root(env: Env, args: dict[str, str]) -> list[str]:
    """The root key's record: generation, Shamir parameters, links, keyring terms."""
    init = env.store.init_cluster()
    if init is None:
        return ["no init record"]
    generation, terms = env.store.root_view()
    return [
        f"generation={generation} shares={init.secret_shares} threshold={init.secret_threshold} "
        f"wrapped_root={init.shamir_wrapped_root_key.decode()} "
        f"links={','.join(str(link.generation) for link in init.root_links) or '-'}",
        f"rotated_at={init.root_rotated_at_ms} by={init.root_rotated_by or '-'} "
        "terms=" + ",".join(f"{t.term}:{t.wrapped_key.decode()}" for t in terms),
    ]


HANDLERS: dict[str, Callable[[Env, dict[str, str]], list[str]]] = {
    "request": request,
    "direct": direct,
    "approve": approve,
    "reject": reject,
    "consume-join": consume_join,
    "consume-seal-migration": consume_seal_migration,
    "consume-removal": consume_removal,
    "member": member,
    "access": access,
    "root": root,
}
