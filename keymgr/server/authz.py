"""Default-deny authorization against the replicated policies.

A call is allowed when at least one policy names the caller (its principal id, or one
of its roles) and grants the operation on the key's name, and every
`required_context` entry of that policy is satisfied by the request's encryption
context. `${principal.name}` in a required value stands for the caller's own name, so
"volume_id: ${principal.name}" lets an agent unwrap only its own volume's keys.
Everything else is denied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

from keymgr.node_errors import PermissionDenied
from keymgr.server.auth import Caller
from keymgr.v1 import store_pb2

NO_KEY = ""  # operations that name no key (GenerateRandom) match only pattern "*"


def _subject_matches(policy: store_pb2.Policy, caller: Caller, roles: tuple[str, ...]) -> bool:
    if caller.principal in policy.principals:
        return True
    return any(role in policy.roles for role in roles)


def _key_matches(policy: store_pb2.Policy, key_name: str) -> bool:
    if key_name == NO_KEY:
        return "*" in policy.key_patterns
    return any(fnmatchcase(key_name, pattern) for pattern in policy.key_patterns)


def _context_matches(policy: store_pb2.Policy, caller: Caller, context: Mapping[str, str]) -> bool:
    for name, wanted in policy.required_context.items():
        pattern = wanted.replace("${principal.name}", caller.name)
        value = context.get(name)
        if value is None or not fnmatchcase(value, pattern):
            return False
    return True


def _grants(
    policy: store_pb2.Policy, caller: Caller, roles: tuple[str, ...], operation: str
) -> bool:
    """The policy names the caller and grants `operation` (or "*"): what keys and
    secret paths both need before their own pattern is checked."""
    if operation not in policy.operations and "*" not in policy.operations:
        return False
    return _subject_matches(policy, caller, roles)


def granting(
    policies: Iterable[store_pb2.Policy],
    roles: Iterable[str],
    caller: Caller,
    operation: str,
    key_name: str,
) -> tuple[store_pb2.Policy, ...]:
    """The policies that grant `operation` on `key_name` to the caller before their
    required context is checked: a batch works this out once per key, not per item."""
    role_list = tuple(roles)
    return tuple(
        policy
        for policy in policies
        if _grants(policy, caller, role_list, operation) and _key_matches(policy, key_name)
    )


def context_allows(
    granting_policies: Iterable[store_pb2.Policy],
    caller: Caller,
    context: Mapping[str, str] | None,
) -> bool:
    """One of the `granting` policies has its required context satisfied."""
    return any(_context_matches(p, caller, context or {}) for p in granting_policies)


def allowed(
    policies: Iterable[store_pb2.Policy],
    roles: Iterable[str],
    caller: Caller,
    operation: str,
    key_name: str,
    context: Mapping[str, str] | None = None,
) -> bool:
    return context_allows(granting(policies, roles, caller, operation, key_name), caller, context)


def allowed_path(
    policies: Iterable[store_pb2.Policy],
    roles: Iterable[str],
    caller: Caller,
    operation: str,
    target: str,
) -> bool:
    """Secrets: a policy naming the caller grants `operation` (or "*") on `target`
    ("<mount>/<path>", or the folder a list call lists) through its path_patterns."""
    role_list = tuple(roles)
    return any(
        _grants(policy, caller, role_list, operation)
        and any(fnmatchcase(target, pattern) for pattern in policy.path_patterns)
        for policy in policies
    )


def require_path(
    policies: Iterable[store_pb2.Policy],
    roles: Iterable[str],
    caller: Caller,
    operation: str,
    target: str,
) -> None:
    if not allowed_path(policies, roles, caller, operation, target):
        raise PermissionDenied(f"principal {caller.principal!r} may not {operation} on {target!r}")


def denied(caller: Caller, operation: str, key_name: str) -> PermissionDenied:
    """The refusal of a key operation (NO_KEY: one on the cluster)."""
    target = f"key {key_name!r}" if key_name else "this cluster"
    return PermissionDenied(f"principal {caller.principal!r} may not {operation} on {target}")
