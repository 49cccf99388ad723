"""Typed constructors for the generated gRPC stubs and registrations.

grpc_tools does not generate type information for `*_pb2_grpc`; these few functions
are the one place where that untyped code meets ours.

`add_servicers` registers every method with a deserializer that never raises
(`keymgr.server.rpc.tolerant_handlers`): the generated `add_*_to_server` functions are
run against a recorder, and what they would have registered is registered tolerant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import grpc

from keymgr.v1 import (
    access_pb2_grpc,
    keys_pb2_grpc,
    operator_pb2_grpc,
    secrets_pb2_grpc,
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


def secrets_stub(channel: grpc.Channel | grpc.aio.Channel) -> Any:
    return secrets_pb2_grpc.SecretsStub(channel)  # type: ignore[no-untyped-call]


class _Registrations:
    """Stands in for the server while a generated `add_*_to_server` runs: keeps what it
    registers, by service."""

    def __init__(self) -> None:
        self.services: dict[str, Mapping[str, grpc.RpcMethodHandler]] = {}

    def add_generic_rpc_handlers(self, handlers: Iterable[object]) -> None:
        pass  # the same methods come again through add_registered_method_handlers (checked)

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]
    ) -> None:
        self.services[service] = handlers


def add_servicers(
    server: grpc.aio.Server,
    *,
    keys: object,
    operator: object,
    access: object,
    volume: object,
    tde: object,
    secrets: object,
) -> dict[str, dict[str, grpc.RpcMethodHandler]]:
    """Registers the six services, every method tolerant of bodies that do not decode;
    returns what was registered (service -> method -> handler)."""
    recorded = _Registrations()
    keys_pb2_grpc.add_KeyManagementServicer_to_server(keys, recorded)  # type: ignore[no-untyped-call]
    operator_pb2_grpc.add_OperatorServicer_to_server(operator, recorded)  # type: ignore[no-untyped-call]
    access_pb2_grpc.add_AccessServicer_to_server(access, recorded)  # type: ignore[no-untyped-call]
    volume_pb2_grpc.add_VolumeKeysServicer_to_server(volume, recorded)  # type: ignore[no-untyped-call]
    tde_pb2_grpc.add_TdeKeysServicer_to_server(tde, recorded)  # type: ignore[no-untyped-call]
    secrets_pb2_grpc.add_SecretsServicer_to_server(secrets, recorded)  # type: ignore[no-untyped-call]
    return _register_tolerant(server, recorded, expected=6)


def add_local_servicers(
    server: grpc.aio.Server, *, keys: object, volume: object, tde: object, secrets: object
) -> dict[str, dict[str, grpc.RpcMethodHandler]]:
    """What a worker process serves itself (it relays Operator and Access calls)."""
    recorded = _Registrations()
    keys_pb2_grpc.add_KeyManagementServicer_to_server(keys, recorded)  # type: ignore[no-untyped-call]
    volume_pb2_grpc.add_VolumeKeysServicer_to_server(volume, recorded)  # type: ignore[no-untyped-call]
    tde_pb2_grpc.add_TdeKeysServicer_to_server(tde, recorded)  # type: ignore[no-untyped-call]
    secrets_pb2_grpc.add_SecretsServicer_to_server(secrets, recorded)  # type: ignore[no-untyped-call]
    return _register_tolerant(server, recorded, expected=4)


def _register_tolerant(
    server: grpc.aio.Server, recorded: _Registrations, *, expected: int
) -> dict[str, dict[str, grpc.RpcMethodHandler]]:
    from keymgr.server.rpc import tolerant_handlers  # the server side only

    if len(recorded.services) != expected:  # generated code that registers another way
        raise RuntimeError(f"recorded {sorted(recorded.services)}, not {expected} services")
    registered = {}
    for service, handlers in recorded.services.items():
        tolerant = tolerant_handlers(handlers)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, tolerant),))
        server.add_registered_method_handlers(service, tolerant)
        registered[service] = tolerant
    return registered
