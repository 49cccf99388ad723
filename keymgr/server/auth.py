"""Who is calling: the principal is read from the mTLS client certificate.

gRPC has already verified the certificate chain against the cluster CA (client
certificates are required on every port), so here we only name the caller. The
principal id is the certificate's one URI SAN, `spiffe://keymgr/<kind>/<name>`, on a
client certificate (`keymgr.pki.principal_from_certificate`). A certificate that names
no such identity (CN only, a malformed or second URI SAN, no clientAuth, a CA) is
refused with UNAUTHENTICATED: the `@rpc` wrapper asks before any handler runs, and its
audit line records the refusal and why.

Two credentials may stand in for the certificate's principal (the certificate's holder
is then recorded as `via`):

- metadata `keymgr-token`: a token an admin issued (`keymgr secrets token create`); the
  call acts as the token's principal. Unknown, expired and revoked tokens get one opaque
  UNAUTHENTICATED ("token not valid").
- metadata `keymgr-forwarded-cert-bin` from a caller holding role `gateway`: the call
  acts as that certificate's principal, once it is verified against the cluster CA.
  From anyone else it is refused (PERMISSION_DENIED). A worker relaying a call to its
  Raft process's unix socket carries the client's own claim on in
  `keymgr-relayed-cert-bin` (the socket's `keymgr-forwarded-cert-bin` is the worker's).

Both need the node's replicated state (roles, tokens) and CA: the `@rpc` wrapper puts
them in `identity_source` for the call.
"""

from __future__ import annotations

import contextvars
import hashlib
import time
from dataclasses import dataclass
from typing import Protocol

import grpc

from keymgr.node_errors import PermissionDenied, Unauthenticated
from keymgr.pki import NODE_KIND, IdentityRefused, parse_principal, principal_from_certificate
from keymgr.server.forwarding import (
    FORWARDED_CERT,
    RELAYED_CERT,
    forwarded_certificate,
    is_internal_peer,
    metadata_value,
)
from keymgr.v1 import store_pb2

TOKEN_METADATA = "keymgr-token"
GATEWAY_ROLE = "gateway"
TOKEN_NOT_VALID = "token not valid"
MAX_TOKEN_CHARS = 256
MAX_FORWARDED_CERT = 16 * 1024


@dataclass(frozen=True, slots=True)
class Caller:
    principal: str  # the id recorded in audit and admin lists: the URI SAN
    kind: str  # "admin", "node", "agent", ... from the URI SAN
    name: str = ""  # the last part of the id
    via: str = ""  # the certificate's principal when a token or forwarded cert stood in
    accessor: str = ""  # the token's accessor when a token stood in


class IdentitySource(Protocol):
    """What naming a token's or forwarded certificate's principal needs from the node."""

    def roles_of(self, principal: str) -> tuple[str, ...]: ...

    def token_for(self, digest: bytes) -> store_pb2.StoredToken | None: ...

    def verified_client_certificate(self, certificate: bytes) -> bytes: ...


identity_source: contextvars.ContextVar[IdentitySource | None] = contextvars.ContextVar(
    "keymgr_identity_source", default=None
)


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
    transport = transport_caller(context)
    token = metadata_value(context, TOKEN_METADATA)
    claimed = metadata_value(context, RELAYED_CERT if is_internal_peer(context) else FORWARDED_CERT)
    if token is None and claimed is None:
        return transport
    source = identity_source.get()
    if source is None:
        raise Unauthenticated("tokens and forwarded certificates are not accepted here")
    if token is not None and claimed is not None:
        raise Unauthenticated("send a token or a forwarded certificate, not both")
    if claimed is not None:
        return _forwarded_caller(source, transport, claimed)
    assert token is not None
    return _token_caller(source, transport, token)


def _forwarded_caller(source: IdentitySource, transport: Caller, claimed: bytes) -> Caller:
    if GATEWAY_ROLE not in source.roles_of(transport.principal):
        raise PermissionDenied(
            f"principal {transport.principal!r} may not forward a certificate "
            f"(needs role {GATEWAY_ROLE!r})"
        )
    if len(claimed) > MAX_FORWARDED_CERT:
        raise Unauthenticated("forwarded certificate is too large")
    try:
        pem = source.verified_client_certificate(claimed)
        principal = principal_from_certificate(pem, role="client")
    except IdentityRefused as exc:
        raise Unauthenticated(f"no keymgr identity in forwarded certificate: {exc}") from None
    if principal.kind == NODE_KIND:
        raise PermissionDenied("a forwarded certificate cannot name a node")
    return Caller(
        principal=principal.uri,
        kind=principal.kind,
        name=principal.name,
        via=transport.principal,
    )


def _token_caller(source: IdentitySource, transport: Caller, token: bytes) -> Caller:
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthenticated(TOKEN_NOT_VALID)
    stored = source.token_for(hashlib.sha256(token).digest())
    if stored is None or stored.revoked or stored.expires_at_ms <= time.time() * 1000:
        raise Unauthenticated(TOKEN_NOT_VALID)
    try:
        principal = parse_principal(stored.principal)
    except IdentityRefused:
        raise Unauthenticated(TOKEN_NOT_VALID) from None
    if principal.kind == NODE_KIND:  # never issued; a node's identity needs its certificate
        raise Unauthenticated(TOKEN_NOT_VALID)
    return Caller(
        principal=principal.uri,
        kind=principal.kind,
        name=principal.name,
        via=transport.principal,
        accessor=stored.accessor,
    )


def transport_caller(context: grpc.aio.ServicerContext) -> Caller:
    """The holder of the connection's verified client certificate (or, on the internal
    socket, of the certificate the relaying worker verified)."""
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
