"""Who is calling: the principal is read from the mTLS client certificate.

gRPC has already verified the certificate chain against the cluster CA (client
certificates are required on every port), so here we only name the caller. The
principal id is the certificate's one URI SAN, `spiffe://keymgr/<kind>/<name>`, on a
client certificate (`keymgr.pki.principal_from_certificate`). A certificate that names
no such identity (CN only, a malformed or second URI SAN, no clientAuth, a CA) is
refused with UNAUTHENTICATED: the `@rpc` wrapper asks before any handler runs, and its
audit line records the refusal and why.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

import grpc

from keymgr.pki import IdentityRefused, principal_from_certificate
from keymgr.server.errors import PermissionDenied, Unauthenticated
from keymgr.server.forwarding import forwarded_certificate


@dataclass(frozen=True, slots=True)
class Caller:
    principal: str  # the id recorded in audit and admin lists: the URI SAN
    kind: str  # "admin", "node", "agent", ... from the URI SAN
    name: str = ""  # the last part of the id


# Each RPC runs in its own asyncio task, so a context variable holds one RPC's caller:
# the handler and the audit wrapper both ask, the certificate is read once.
_current: contextvars.ContextVar[tuple[int, Caller] | None] = contextvars.ContextVar(
    "keymgr_caller", default=None
)


def caller_of(context: grpc.aio.ServicerContext) -> Caller:
    """The authenticated caller of this RPC, from its verified client certificate."""
    cached = _current.get()
    if cached is not None and cached[0] == id(context):
        return cached[1]
    caller = _read_caller(context)
    _current.set((id(context), caller))
    return caller


def _read_caller(context: grpc.aio.ServicerContext) -> Caller:
    auth = context.auth_context()
    pems = auth.get("x509_pem_cert") or []
    if not pems:
        forwarded = forwarded_certificate(context)  # a call relayed by a worker process
        pems = [forwarded] if forwarded is not None else []
    if not pems:
        raise Unauthenticated("a client certificate issued by the cluster CA is required")
    try:
        principal = principal_from_certificate(pems[0], role="client")
    except IdentityRefused as exc:
        raise Unauthenticated(f"no keymgr identity in client {exc}") from None
    return Caller(principal=principal.uri, kind=principal.kind, name=principal.name)


def require_admin(caller: Caller, is_admin: bool) -> None:
    """Operator calls are for admins (recorded at init, then by role changes)."""
    if not is_admin:
        raise PermissionDenied(f"principal {caller.principal!r} is not an admin")


def require_node_or_admin(caller: Caller, is_admin: bool) -> None:
    """Status fan-out: nodes ask each other with their node certificates."""
    if caller.kind != "node" and not is_admin:
        raise PermissionDenied(f"principal {caller.principal!r} is neither a node nor an admin")
