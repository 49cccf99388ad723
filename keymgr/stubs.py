"""Typed constructors for the generated gRPC stubs and registrations.

grpc_tools does not generate type information for `*_pb2_grpc`; these few functions
are the one place where that untyped code meets ours.
"""

from __future__ import annotations

from typing import Any

import grpc

from keymgr.v1 import (
    access_pb2_grpc,
    keys_pb2_grpc,
    operator_pb2_grpc,
    tde_pb2_grpc,
    volume_pb2_grpc,
)


def keys_stub(channel: grpc.Channel | grpc.aio.Channel) -> Any:
    return keys_pb2_grpc.KeyManagementStub(channel)  # type: ignore[no-untyped-call]


def operator_stub(channel: grpc.Channel | grpc.aio.Channel) -> Any:
    return operator_pb2_grpc.OperatorStub(channel)  # type: ignore[no-untyped-call]


def access_stub(channel: grpc.Channel | grpc.aio.Channel) -> Any:
    return access_pb2_grpc.AccessStub(channel)  # type: ignore[no-untyped-call]


def volume_stub(channel: grpc.Channel | grpc.aio.Channel) -> Any:
    return volume_pb2_grpc.VolumeKeysStub(channel)  # type: ignore[no-untyped-call]


def tde_stub(channel: grpc.Channel | grpc.aio.Channel) -> Any:
    return tde_pb2_grpc.TdeKeysStub(channel)  # type: ignore[no-untyped-call]


def add_servicers(
    server: grpc.aio.Server,
    *,
    keys: object,
    operator: object,
    access: object,
    volume: object,
    tde: object,
) -> None:
    keys_pb2_grpc.add_KeyManagementServicer_to_server(keys, server)  # type: ignore[no-untyped-call]
    operator_pb2_grpc.add_OperatorServicer_to_server(operator, server)  # type: ignore[no-untyped-call]
    access_pb2_grpc.add_AccessServicer_to_server(access, server)  # type: ignore[no-untyped-call]
    volume_pb2_grpc.add_VolumeKeysServicer_to_server(volume, server)  # type: ignore[no-untyped-call]
    tde_pb2_grpc.add_TdeKeysServicer_to_server(tde, server)  # type: ignore[no-untyped-call]


def add_local_servicers(
    server: grpc.aio.Server, *, keys: object, volume: object, tde: object
) -> None:
    """What a worker process serves itself (it relays Operator and Access calls)."""
    keys_pb2_grpc.add_KeyManagementServicer_to_server(keys, server)  # type: ignore[no-untyped-call]
    volume_pb2_grpc.add_VolumeKeysServicer_to_server(volume, server)  # type: ignore[no-untyped-call]
    tde_pb2_grpc.add_TdeKeysServicer_to_server(tde, server)  # type: ignore[no-untyped-call]
