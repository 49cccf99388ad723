"""The one wrapper every servicer method goes through: audit, then status.

Every request, allowed, denied or failed, writes one audit line before its answer
leaves (fail closed: if the line cannot be written, the caller gets UNAVAILABLE and no
key material). Domain errors become gRPC statuses through one table; anything
unexpected becomes INTERNAL with a reference id, its traceback only in the node log.
Servicers name the key a call touched in `audit_target`, a context variable, so the
wrapper can put key id and version in the line without seeing the key.

Read-your-writes is handled here too, for every RPC of every service: a caller's
`keymgr-min-index` is awaited before the handler runs (except on calls about this node
itself, which must answer however far behind it is), and the Raft index of any write
the handler made goes back as `keymgr-index` trailing metadata.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import grpc

from keymgr.audit import AuditEvent, AuditUnavailable
from keymgr.consistency import INDEX_KEY
from keymgr.server.audit_target import AuditTarget, audit_target
from keymgr.server.auth import caller_of
from keymgr.server.context import NodeContext
from keymgr.server.errors import NodeError, status_for
from keymgr.server.indexes import WriteIndex, requested_min_index, write_index
from keymgr.server.logs import request_id as current_request_id

log = logging.getLogger(__name__)


class HasNode(Protocol):
    _node: NodeContext


S = TypeVar("S", bound=HasNode)
Req = TypeVar("Req")
Resp = TypeVar("Resp")

Handler = Callable[[S, Req, grpc.aio.ServicerContext], Awaitable[Resp]]

# Calls about this node, not the replicated state: they answer however far behind it is
# (an operator must see a lagging node's status, unseal it, make it step down).
NODE_LOCAL = frozenset({
    "Unseal", "Seal", "SealStatus", "LocalStatus", "ClusterStatus", "StepDown", "ListPeers",
    "Join", "ExchangeRootKey", "MigrateSeal",
})


def _principal(context: grpc.aio.ServicerContext) -> str:
    try:
        return caller_of(context).principal
    except NodeError:
        return ""


def _context_of(request: Any) -> dict[str, str]:
    """Encryption context(s) of a request; values are HMAC'd by the audit log."""
    context: dict[str, str] = {}
    for field, prefix in (
        ("encryption_context", ""),
        ("source_encryption_context", "source."),
        ("destination_encryption_context", "destination."),
    ):
        values = getattr(request, field, None)
        if values:
            context.update({prefix + k: v for k, v in values.items()})
    return context


def rpc(method: Handler[S, Req, Resp]) -> Handler[S, Req, Resp]:
    name = method.__name__

    @functools.wraps(method)
    async def wrapper(self: S, request: Req, context: grpc.aio.ServicerContext) -> Resp:
        node = self._node
        started = time.perf_counter()
        target = AuditTarget()
        token = audit_target.set(target)
        written = WriteIndex()
        index_token = write_index.set(written)
        client_rid = getattr(request, "request_id", None) or None
        rid_token = current_request_id.set(client_rid or uuid.uuid4().hex)
        code, detail, response = grpc.StatusCode.OK, "", None
        try:
            caller_of(context)  # a certificate naming no keymgr identity stops here
            wanted = requested_min_index(context)
            if name not in NODE_LOCAL:
                await node.await_index(wanted)
            response = await method(self, request, context)
        except NodeError as exc:
            code, detail = status_for(exc)
        except (grpc.aio.AbortError, grpc.RpcError):
            raise
        except Exception:
            ref = uuid.uuid4().hex[:12]
            log.exception("internal error in %s (ref=%s)", name, ref)
            code, detail = grpc.StatusCode.INTERNAL, f"internal error (ref={ref})"
        finally:
            audit_target.reset(token)
            write_index.reset(index_token)
        elapsed = time.perf_counter() - started
        if node.metrics is not None:
            node.metrics.observe_request(name, code.name, elapsed)
        log.debug("%s -> %s in %.1f ms", name, code.name, elapsed * 1000)
        try:
            node.audit.log(
                AuditEvent(
                    principal=_principal(context),
                    operation=name,
                    result=code.name,
                    latency_ms=elapsed * 1000,
                    key_id=target.key_id,
                    key_version=target.key_version,
                    request_id=client_rid,
                    context={**target.context, **_context_of(request)},
                    detail=detail,
                    batch=target.batch,
                )
            )
        except AuditUnavailable:
            log.error("audit log unavailable: refused %s (fail closed)", name)
            # the handler has run: a write it made stands, so say the outcome is unknown
            # (the SDK then never resends Init or RotateRoot, whose reply is lost)
            code, detail = (
                grpc.StatusCode.UNAVAILABLE,
                "audit log unavailable: reply withheld (fail closed), write outcome unknown; "
                "try another node",
            )
        current_request_id.reset(rid_token)
        trailing = ((INDEX_KEY, str(written.index)),) if written.index else ()
        if code != grpc.StatusCode.OK:
            await context.abort(code, detail, trailing_metadata=trailing)
        if trailing:
            context.set_trailing_metadata(trailing)
        assert response is not None
        return response

    return wrapper
