"""Domain errors raised by the node and the one table that maps them to gRPC codes.

Servicers translate, they do not decide: every failure a caller can cause is one of
these classes, and `status_for` is the only place that picks a gRPC code (so a test can
check that each class is mapped). Lower layers' exceptions (Raft, HSM, crypto, snapshot
files, ...) become these classes in one table, `keymgr.server.rpc.LOWER_LAYER_ERRORS`.
Messages are one line, name the offending field where there is one, and never carry
key material.

`kind`, when set, travels as `keymgr-error` trailing metadata (`keymgr.error_metadata`),
so the SDK tells "outcome unknown" and "unauthenticated" apart without matching text.
"""

from __future__ import annotations

import grpc

from keymgr.error_metadata import OUTCOME_UNKNOWN, UNAUTHENTICATED
from keymgr.v1 import store_pb2


class NodeError(Exception):
    """Base of every error the node reports to a caller."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    kind: str = ""  # a keymgr.error_metadata kind, sent as `keymgr-error`; "" = none


class InvalidArgument(NodeError):
    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class NotFound(NodeError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(NodeError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(NodeError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Conflict(NodeError):
    """Lost a race with another writer; the caller may retry with fresh state."""

    code = grpc.StatusCode.ABORTED


class PermissionDenied(NodeError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(NodeError):
    code = grpc.StatusCode.UNAUTHENTICATED
    kind = UNAUTHENTICATED


class Unavailable(NodeError):
    """This node cannot serve now (sealed, no leader, lagging); another node may."""

    code = grpc.StatusCode.UNAVAILABLE


class OutcomeUnknown(Unavailable):
    """A write may or may not have been applied (timed out, or the leader changed under
    it); the status carries `keymgr-error: outcome-unknown` (`keymgr.error_metadata`)."""

    kind = OUTCOME_UNKNOWN


class Sealed(Unavailable):
    def __init__(self, reason: str = "") -> None:
        suffix = f" ({reason})" if reason else ""
        super().__init__(f"node is sealed{suffix}: unseal it with `keymgr operator unseal`")


class DecryptFailed(NodeError):
    """One opaque answer for every authentication failure of a ciphertext."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str = "ciphertext_blob") -> None:
        super().__init__(
            f"{field}: decryption failed (wrong ciphertext, key version or encryption_context)"
        )


class CommandRejected(NodeError):
    """The state machine refused a command with INVALID_ARGUMENT (its message names
    the field already, so it is not re-prefixed as InvalidArgument would)."""

    code = grpc.StatusCode.INVALID_ARGUMENT


_COMMAND_ERRORS: dict[int, type[NodeError]] = {
    store_pb2.ERROR_CODE_INVALID_ARGUMENT: CommandRejected,
    store_pb2.ERROR_CODE_NOT_FOUND: NotFound,
    store_pb2.ERROR_CODE_ALREADY_EXISTS: AlreadyExists,
    store_pb2.ERROR_CODE_FAILED_PRECONDITION: FailedPrecondition,
    store_pb2.ERROR_CODE_CONFLICT: Conflict,
}


def error_from_command(error: store_pb2.CommandError) -> NodeError:
    """The domain error for a state machine's CommandError (INTERNAL if unknown)."""
    return _COMMAND_ERRORS.get(error.code, NodeError)(error.message)


def status_for(error: NodeError) -> tuple[grpc.StatusCode, str]:
    """The gRPC status code and one-line message for a domain error (its `kind`, if any,
    goes in the `keymgr-error` metadata: see `keymgr.server.rpc`)."""
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    return error.code, message
