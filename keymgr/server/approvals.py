"""Asking for a split-key operation: the one way every servicer proposes a gated change.

A gated command (policy, role and approval-rule changes, destroying a key now, join
tokens, seal migrations, node removal, root rotation, export grants) is never proposed
directly: it is wrapped in a RequestApproval that the state machine runs once enough
distinct admins approved (the requester counts as one, so with one required approval it
runs at once). Used by the access, operator, join, migration and root-rotation code.
"""

from __future__ import annotations

import uuid

from keymgr.node_errors import InvalidArgument
from keymgr.raft.proposer import now_ms
from keymgr.server.auth import Caller
from keymgr.server.context import NodeContext
from keymgr.store.access import GATED
from keymgr.v1 import store_pb2

DEFAULT_TTL_S = 24 * 3600
MAX_TTL_S = 30 * 86400
NODE_OP_TTL_S = 3600  # join tokens and seal migrations: about one node, act soon
NODE_OP_MAX_TTL_S = 7 * 86400


def expiry_ms(ttl_seconds: int, *, default_s: int = DEFAULT_TTL_S, max_s: int = MAX_TTL_S) -> int:
    """When a request made with `ttl_seconds` (0 = `default_s`) expires; the field named
    if it is over `max_s`."""
    ttl = ttl_seconds or default_s
    if ttl > max_s:
        raise InvalidArgument("ttl_seconds", f"at most {max_s}")
    return now_ms() + ttl * 1000


async def request_approval(
    node: NodeContext,
    caller: Caller,
    op: str,
    message: object,
    *,
    summary: str,
    ttl_s: int = 0,
    expires_at_ms: int = 0,
    set_grant_id: bool = False,
    operation_id: str = "",
) -> store_pb2.PendingOperation:
    """Proposes a split-key operation; it has run already if one approval is enough.
    It expires at `expires_at_ms` if given, else `ttl_s` from now. `operation_id`: the
    client's, already checked; "" = a new one."""
    expires_at_ms = expires_at_ms or expiry_ms(ttl_s)
    inner = store_pb2.Command()
    getattr(inner, op).CopyFrom(message)
    operation_id = operation_id or uuid.uuid4().hex[:16]
    if set_grant_id:
        inner.grant_export.grant.id = operation_id
    command = store_pb2.Command(
        request_id=f"approval-{operation_id}",
        principal=caller.principal,
        request_approval=store_pb2.RequestApproval(
            operation_id=operation_id,
            kind=GATED[op],
            command=inner,
            expires_at_ms=expires_at_ms,
            summary=summary,
        ),
    )
    result = await node.proposer.submit(command)
    return result.operation
