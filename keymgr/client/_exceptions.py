"""The client's exception tree: act on the branch, not on the message.

    KeymgrError
    ├── RetryableError          the call may succeed on another node or later
    │   ├── Unavailable         sealed node, no leader, lagging node, unreachable
    │   └── Timeout             deadline exceeded; a write's outcome is unknown
    └── FinalError              retrying the same call will not help
        ├── InvalidArgument     names the offending field
        ├── NotFound
        ├── AlreadyExists
        ├── FailedPrecondition  e.g. the key is disabled, cluster not initialized
        ├── Conflict            lost a race; safe to retry with fresh state
        ├── PermissionDenied
        ├── Unauthenticated
        │   └── TlsHandshakeFailed  the node refused our certificate, or we refused its
        └── ServerError         internal error on the node

Every exception carries the endpoint that answered and the request id (for writes),
so a retry after a Timeout can reuse it: the cluster returns the first result again.

`OutcomeUnknown` and `Unauthenticated` come from the node's structured trailing
metadata (`keymgr-error`, see `keymgr.error_metadata`), never from its message text.
The one text the SDK still reads is gRPC core's own, for failures no node answered: a
TLS handshake that failed (the certificate was refused) or a connection that was lost.
"""

from __future__ import annotations

import grpc

from keymgr.error_metadata import OUTCOME_UNKNOWN, UNAUTHENTICATED, error_kind


class KeymgrError(Exception):
    def __init__(
        self,
        message: str,
        *,
        endpoint: str = "",
        request_id: str = "",
        code: grpc.StatusCode | None = None,
    ) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.request_id = request_id
        self.code = code


class RetryableError(KeymgrError):
    pass


class Unavailable(RetryableError):
    pass


class OutcomeUnknown(Unavailable):
    """The write may or may not have been applied (the leader changed under it). An
    idempotent write is retried with the same request id; Init and RotateRoot are not
    (their shares exist only in the lost reply): check status before running them again."""


class Timeout(RetryableError):
    pass


class FinalError(KeymgrError):
    pass


class InvalidArgument(FinalError):
    pass


class NotFound(FinalError):
    pass


class AlreadyExists(FinalError):
    pass


class FailedPrecondition(FinalError):
    pass


class Conflict(FinalError):
    pass


class PermissionDenied(FinalError):
    pass


class Unauthenticated(FinalError):
    pass


class TlsHandshakeFailed(Unauthenticated):
    """The TLS handshake failed for a reason retrying cannot fix (a certificate from
    another CA, an expired one, a CA file that does not sign the node's certificate);
    the message says which."""


class ServerError(FinalError):
    pass


_BY_CODE: dict[grpc.StatusCode, type[KeymgrError]] = {
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: Timeout,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ABORTED: Conflict,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.INTERNAL: ServerError,
    grpc.StatusCode.UNKNOWN: ServerError,
    grpc.StatusCode.UNIMPLEMENTED: ServerError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: Unavailable,
    grpc.StatusCode.CANCELLED: Unavailable,
    grpc.StatusCode.DATA_LOSS: ServerError,
}


# the node's structured `keymgr-error` trailer -> the exception it stands for
_BY_KIND: dict[str, type[KeymgrError]] = {
    OUTCOME_UNKNOWN: OutcomeUnknown,
    UNAUTHENTICATED: Unauthenticated,
}

# gRPC core's words (no node answered) for a connection lost or refused. A handshake cut
# short because the node died or restarted is retryable, not a certificate problem
# (seen in leader-loss drills: "Handshake read failed (recvmsg: Connection reset by peer)").
_TRANSPORT_LOSS = ("recvmsg", "connection reset", "connection refused", "socket closed", "eof")


def _trailers(exc: grpc.RpcError) -> tuple[tuple[str, str | bytes], ...]:
    try:
        return tuple(exc.trailing_metadata() or ())
    except Exception:  # not a call error (no trailers), or a call that never started
        return ()


def from_rpc_error(exc: grpc.RpcError, *, endpoint: str, request_id: str = "") -> KeymgrError:
    """The most specific client exception for a gRPC error: the node's `keymgr-error`
    trailer first, then a refused TLS handshake (no node answered), then the code."""
    code: grpc.StatusCode = exc.code()
    details: str = exc.details() or code.name
    lower = details.lower()
    kind = error_kind(_trailers(exc))
    if kind is not None:
        cls: type[KeymgrError] = _BY_KIND[kind]
    elif (
        code == grpc.StatusCode.UNAVAILABLE
        and "handshake" in lower
        and not any(sign in lower for sign in _TRANSPORT_LOSS)
    ):
        cls = Unauthenticated
    else:
        cls = _BY_CODE.get(code, ServerError)
    return cls(f"{endpoint}: {details}", endpoint=endpoint, request_id=request_id, code=code)


_BY_NUMBER: dict[int, grpc.StatusCode] = {code.value[0]: code for code in grpc.StatusCode}


def from_status_code(number: int, message: str, *, endpoint: str = "") -> KeymgrError:
    """The client exception for a status code number and message (a batch item's error)."""
    code = _BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN)
    cls = _BY_CODE.get(code, ServerError)
    text = f"{endpoint}: {message}" if endpoint else message
    return cls(text, endpoint=endpoint, code=code)


def may_have_been_applied(error: KeymgrError) -> bool:
    """True if the request may have reached a server and run: an unknown write outcome,
    a timeout, a cancelled call, or a connection lost mid-call (a refused connection
    never sent it)."""
    if isinstance(error, (OutcomeUnknown, Timeout)) or error.code == grpc.StatusCode.CANCELLED:
        return True
    text = str(error).lower()
    lost = (sign for sign in _TRANSPORT_LOSS if sign != "connection refused")
    return isinstance(error, Unavailable) and any(sign in text for sign in lost)
