"""Bodies that do not decode (issue 12, finding 4): every method of the five services is
registered with a deserializer that never raises; the `rpc` wrapper answers such a body
INVALID_ARGUMENT naming the message, audits it, and logs one short line for a burst."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import grpc
import pytest

from keymgr.audit import AuditLog, FileSink, verify
from keymgr.server import rpc as rpc_module
from keymgr.server.access_service import AccessServicer
from keymgr.server.auth import Caller
from keymgr.server.keys_service import KeyManagementServicer
from keymgr.server.operator_service import OperatorServicer
from keymgr.server.rpc import RateLimitedLog, UndecodableRequest, rpc, tolerant_handlers
from keymgr.server.secrets_service import SecretsServicer
from keymgr.server.tde_service import TdeKeysServicer
from keymgr.server.volume_service import VolumeKeysServicer
from keymgr.stubs import add_servicers
from keymgr.v1 import access_pb2, keys_pb2, operator_pb2, secrets_pb2, tde_pb2, volume_pb2

SERVICES = {
    f"keymgr.v1.{name}": module
    for module in (keys_pb2, operator_pb2, access_pb2, volume_pb2, tde_pb2, secrets_pb2)
    for name in module.DESCRIPTOR.services_by_name
}
GARBAGE = b"\xff\xff\xff\xff"  # tag with field number 0: never a valid message


class Recorder:
    def __init__(self) -> None:
        self.generic: list[object] = []
        self.registered: dict[str, dict[str, grpc.RpcMethodHandler]] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        self.generic.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: Any) -> None:
        self.registered[service] = handlers


def register(server: Any) -> dict[str, dict[str, grpc.RpcMethodHandler]]:
    servicers = {  # methods only: nothing is called here
        name: object.__new__(cls)
        for name, cls in (
            ("keys", KeyManagementServicer),
            ("operator", OperatorServicer),
            ("access", AccessServicer),
            ("volume", VolumeKeysServicer),
            ("tde", TdeKeysServicer),
            ("secrets", SecretsServicer),
        )
    }
    return add_servicers(server, **servicers)


def test_every_method_of_the_six_services_is_tolerant() -> None:
    server = Recorder()
    registered = register(server)
    assert set(registered) == set(server.registered) == set(SERVICES)
    assert len(server.generic) == len(SERVICES)
    count = 0
    for service, handlers in registered.items():
        descriptor = SERVICES[service].DESCRIPTOR.services_by_name[service.split(".")[-1]]
        assert set(handlers) == {m.name for m in descriptor.methods}
        for method in descriptor.methods:
            handler = handlers[method.name]
            bad = handler.request_deserializer(GARBAGE)
            assert bad == UndecodableRequest(method.input_type.full_name, len(GARBAGE))
            assert bad.problem == f"request body is not a valid {method.input_type.full_name}"
            good = handler.request_deserializer(b"")
            assert good.DESCRIPTOR.full_name == method.input_type.full_name
            assert hasattr(handler.unary_unary, "__wrapped__"), f"{method.name} is not @rpc"
            count += 1
    assert count == 76  # 19 + 19 + 15 + 3 + 2 + 18, as in proto/keymgr/v1


class _Node:
    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit
        self.calls = None
        self.awaited: list[int] = []

    async def await_index(self, wanted: int) -> None:
        self.awaited.append(wanted)


class _Keys:
    """A servicer whose handlers must not run for a body that does not decode."""

    def __init__(self, node: _Node) -> None:
        self._node = node
        self.calls = 0

    @rpc
    async def Encrypt(self, request: Any, context: Any) -> keys_pb2.EncryptResponse:
        self.calls += 1
        return keys_pb2.EncryptResponse(key_id="k")


def test_wrapper_answers_invalid_argument_audits_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no TLS here: the valid call's caller is named by a stand-in (identity has its tests)
    monkeypatch.setattr(rpc_module, "caller_of", lambda context: Caller("", "agent", ""))
    path = tmp_path / "audit.log"
    audit = AuditLog([FileSink(path)], "node1", lambda: None)
    servicer = _Keys(_Node(audit))

    async def scenario() -> list[tuple[grpc.StatusCode, str]]:
        server = grpc.aio.server()
        generated = grpc.unary_unary_rpc_method_handler(  # as keys_pb2_grpc registers it
            servicer.Encrypt,
            request_deserializer=keys_pb2.EncryptRequest.FromString,
            response_serializer=keys_pb2.EncryptResponse.SerializeToString,
        )
        handlers = tolerant_handlers({"Encrypt": generated})
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("keymgr.v1.KeyManagement", handlers),)
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        answers = []
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                call = channel.unary_unary("/keymgr.v1.KeyManagement/Encrypt")
                for body in [GARBAGE] * 50 + [b"\x0a\x02\xc3\x28"]:  # last: bad UTF-8
                    try:
                        await call(body, timeout=5)
                        answers.append((grpc.StatusCode.OK, ""))
                    except grpc.aio.AioRpcError as exc:
                        answers.append((exc.code(), exc.details() or ""))
                ok = await call(keys_pb2.EncryptRequest(key_name="k").SerializeToString())
                assert keys_pb2.EncryptResponse.FromString(ok).key_id == "k"
        finally:
            await server.stop(None)
        return answers

    with caplog.at_level(logging.DEBUG):
        answers = asyncio.run(scenario())
    assert set(answers) == {
        (grpc.StatusCode.INVALID_ARGUMENT, "request body is not a valid keymgr.v1.EncryptRequest")
    }
    assert servicer.calls == 1  # only the valid request reached the handler
    assert servicer._node.awaited == [0]
    audit.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["result"] for r in lines] == ["INVALID_ARGUMENT"] * 51 + ["OK"]
    first = lines[0]
    assert first["operation"] == "Encrypt" and first["principal"] == ""
    assert first["detail"] == "request body is not a valid keymgr.v1.EncryptRequest"
    assert first["context"] == {} and first["request_id"] is None
    assert max(len(line) for line in path.read_bytes().splitlines()) < 512
    assert verify([path]).ok
    noted = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(noted) == 1, [r.getMessage() for r in noted]
    assert noted[0].exc_info is None and "\n" not in noted[0].getMessage()
    assert "Encrypt" in noted[0].getMessage()
    assert not any("Traceback" in r.getMessage() or r.exc_info for r in caplog.records)


def test_rate_limited_log_says_how_many_it_stands_for(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    limited = RateLimitedLog(logging.getLogger("t"), 60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        assert limited.note("a")
        for n in range(99):
            now[0] = n * 0.5
            assert not limited.note("b")
        now[0] = 60.0
        assert limited.note("c")
    first, second = (r.getMessage() for r in caplog.records)
    assert first.startswith("1 request(s)") and second.startswith("100 request(s)")


def test_undecodable_request_has_no_request_fields() -> None:
    """The wrapper reads request_id and contexts with getattr: none come from garbage."""
    bad = UndecodableRequest("keymgr.v1.ReEncryptRequest", 3)
    for name in ("request_id", "encryption_context", "source_encryption_context"):
        assert getattr(bad, name, None) is None
