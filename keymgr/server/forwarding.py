"""Calls a worker process does not serve itself go to its node's Raft process.

A client's connection lands on whichever process of the node the kernel picks
(SO_REUSEPORT), so a worker must answer every method. Operator and Access calls need
the Raft node, the seal and the peers; the worker passes them, bytes unchanged, to the
Raft process's private unix-socket server, with the client certificate gRPC already
verified in `keymgr-forwarded-cert` metadata. Only that socket (0600 in the node's
0700 data directory) honours the header as the transport identity; on the public port
it is a gateway's claim to act for that certificate (checked in `auth`), which a worker
relays as `keymgr-relayed-cert-bin`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

FORWARDED_CERT = "keymgr-forwarded-cert-bin"  # binary metadata: PEM has newlines
# a gateway's forwarded certificate, carried on by a worker (FORWARDED_CERT is its own)
RELAYED_CERT = "keymgr-relayed-cert-bin"
FORWARDED_SERVICES = ("/keymgr.v1.Operator/", "/keymgr.v1.Access/")
# what a forwarded call may carry on: the client's own metadata (request ids,
# read-your-writes index), never a forwarded identity it made up
_DROP = frozenset({FORWARDED_CERT, RELAYED_CERT, "authorization"})


def internal_target(data_dir: Path) -> str:
    return f"unix:{data_dir / 'api.sock'}"


def internal_socket(data_dir: Path) -> Path:
    return data_dir / "api.sock"


def is_internal_peer(context: grpc.aio.ServicerContext) -> bool:
    """True on the Raft process's unix socket (only its workers can reach it)."""
    return str(context.peer()).startswith("unix:")


def metadata_value(context: grpc.aio.ServicerContext, name: str) -> bytes | None:
    """The first value of metadata `name`, as bytes, or None."""
    for key, value in context.invocation_metadata() or ():
        if key == name:
            return value if isinstance(value, bytes) else value.encode()
    return None


def forwarded_certificate(context: grpc.aio.ServicerContext) -> bytes | None:
    """The PEM a worker forwarded, on the internal socket only."""
    if not is_internal_peer(context):
        return None
    return metadata_value(context, FORWARDED_CERT)


def _identity(data: bytes) -> bytes:
    return data


def _pairs(metadata: Any) -> tuple[tuple[str, Any], ...]:
    """gRPC's aio Metadata as the tuple of pairs a servicer context takes."""
    return tuple((key, value) for key, value in (metadata or ()))


class ForwardingHandler(grpc.GenericRpcHandler):  # type: ignore[misc]
    """Answers the forwarded services by relaying each call to the Raft process."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._channel = channel

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        if not method.startswith(FORWARDED_SERVICES):
            return None
        return grpc.unary_unary_rpc_method_handler(self._relay(method))

    def _relay(self, method: str) -> Callable[[bytes, grpc.aio.ServicerContext], Awaitable[bytes]]:
        call = self._channel.unary_unary(
            method, request_serializer=_identity, response_deserializer=_identity
        )

        async def relay(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            pems = context.auth_context().get("x509_pem_cert") or []
            received = context.invocation_metadata() or ()
            metadata: list[tuple[str, Any]] = [(k, v) for k, v in received if k not in _DROP]
            claimed = next((v for k, v in received if k == FORWARDED_CERT), None)
            if claimed is not None:  # a gateway's claim: the Raft process checks it
                metadata.append((RELAYED_CERT, claimed))
            if pems:
                metadata.append((FORWARDED_CERT, bytes(pems[0])))
            remaining = context.time_remaining()
            try:
                pending = call(request, metadata=metadata, timeout=remaining)
                response: bytes = await pending
                context.set_trailing_metadata(_pairs(await pending.trailing_metadata()))
                return response
            except grpc.aio.AioRpcError as exc:
                trailing = _pairs(exc.trailing_metadata())
                await context.abort(exc.code(), exc.details() or "", trailing)
                raise  # abort raises; this line is never reached

        return relay
