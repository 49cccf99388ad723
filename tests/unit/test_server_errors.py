"""Every domain error the node raises maps to one precise gRPC status."""

from __future__ import annotations

import grpc

from keymgr import node_errors as errors
from keymgr.v1 import store_pb2


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_domain_error_has_a_specific_code() -> None:
    for cls in _subclasses(errors.NodeError):
        assert cls.code != grpc.StatusCode.INTERNAL, cls


def test_command_errors_map_to_domain_errors() -> None:
    expected = {
        store_pb2.ERROR_CODE_INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
        store_pb2.ERROR_CODE_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
        store_pb2.ERROR_CODE_ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
        store_pb2.ERROR_CODE_FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
        store_pb2.ERROR_CODE_CONFLICT: grpc.StatusCode.ABORTED,
    }
    for code, status in expected.items():
        error = errors.error_from_command(store_pb2.CommandError(code=code, message="m"))
        assert errors.status_for(error) == (status, "m")


def test_invalid_argument_names_the_field() -> None:
    code, message = errors.status_for(errors.InvalidArgument("key_name", "must not be empty"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert message == "key_name: must not be empty"


def test_sealed_message_says_sealed() -> None:
    code, message = errors.status_for(errors.Sealed("waiting for shares"))
    assert code == grpc.StatusCode.UNAVAILABLE and "sealed" in message
