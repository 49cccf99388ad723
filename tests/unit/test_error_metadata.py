"""The `keymgr-error` contract: a node marks "outcome unknown" and "unauthenticated" in
the status's trailing metadata, and the SDK acts on the mark, not on the message text.

The server half runs the real `rpc` wrapper behind a real gRPC server on loopback; the
SDK half maps the real `AioRpcError` each call raised."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import pytest

import keymgr.client as sdk
from keymgr import node_errors as errors
from keymgr.audit import AuditLog, AuditUnavailable, FileSink
from keymgr.client._exceptions import from_rpc_error, may_have_been_applied
from keymgr.error_metadata import ERROR_KEY, OUTCOME_UNKNOWN, UNAUTHENTICATED, error_kind
from keymgr.server import rpc as rpc_module
from keymgr.server.auth import Caller
from keymgr.server.rpc import rpc, tolerant_handlers
from keymgr.v1 import keys_pb2


def test_error_kind_reads_only_known_values() -> None:
    assert error_kind(None) is None
    assert error_kind([("keymgr-index", "4")]) is None
    assert error_kind([("keymgr-index", "4"), (ERROR_KEY, OUTCOME_UNKNOWN)]) == OUTCOME_UNKNOWN
    assert error_kind([(ERROR_KEY, b"unauthenticated")]) == UNAUTHENTICATED
    assert error_kind([(ERROR_KEY, "something-newer")]) is None  # the code still applies


class _Node:
    def __init__(self, audit: Any) -> None:
        self.audit = audit
        self.calls = None

    async def await_index(self, wanted: int) -> None:
        pass


class _BrokenAudit:
    def log(self, event: object) -> None:
        raise AuditUnavailable("disk full")


# what each handler raises (by the key name a request carries)
RAISES: dict[str, Exception] = {
    "outcome": errors.OutcomeUnknown("the leader changed under this write"),
    "nobody": errors.Unauthenticated("no keymgr identity in client certificate"),
    "missing": errors.NotFound("no key 'missing'"),
    "sealed": errors.Sealed("waiting for shares"),
}


class _Keys:
    def __init__(self, node: _Node) -> None:
        self._node = node

    @rpc
    async def Encrypt(self, request: Any, context: Any) -> keys_pb2.EncryptResponse:
        if request.key_name in RAISES:
            raise RAISES[request.key_name]
        return keys_pb2.EncryptResponse(key_id="k")


def _serve_and_call(audit: Any, names: list[str]) -> dict[str, grpc.aio.AioRpcError]:
    servicer = _Keys(_Node(audit))

    async def scenario() -> dict[str, grpc.aio.AioRpcError]:
        server = grpc.aio.server()
        generated = grpc.unary_unary_rpc_method_handler(
            servicer.Encrypt,
            request_deserializer=keys_pb2.EncryptRequest.FromString,
            response_serializer=keys_pb2.EncryptResponse.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "keymgr.v1.KeyManagement", tolerant_handlers({"Encrypt": generated})
                ),
            )
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        refused: dict[str, grpc.aio.AioRpcError] = {}
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                call = channel.unary_unary("/keymgr.v1.KeyManagement/Encrypt")
                for name in names:
                    body = keys_pb2.EncryptRequest(key_name=name).SerializeToString()
                    try:
                        await call(body, timeout=5)
                    except grpc.aio.AioRpcError as exc:
                        refused[name] = exc
        finally:
            await server.stop(None)
        return refused

    return asyncio.run(scenario())


def _marks(exc: grpc.aio.AioRpcError) -> list[str]:
    return [v for k, v in (exc.trailing_metadata() or ()) if k == ERROR_KEY]


def test_node_marks_the_two_cases_and_the_sdk_maps_the_mark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rpc_module, "caller_of", lambda context: Caller("", "agent", ""))
    audit = AuditLog([FileSink(tmp_path / "audit.log")], "node1", lambda: None)
    try:
        refused = _serve_and_call(audit, ["outcome", "nobody", "missing", "sealed", "ok"])
    finally:
        audit.close()
    assert set(refused) == {"outcome", "nobody", "missing", "sealed"}  # "ok" answered
    assert _marks(refused["outcome"]) == [OUTCOME_UNKNOWN]
    assert _marks(refused["nobody"]) == [UNAUTHENTICATED]
    assert _marks(refused["missing"]) == _marks(refused["sealed"]) == []

    outcome = from_rpc_error(refused["outcome"], endpoint="n1", request_id="r")
    assert type(outcome) is sdk.OutcomeUnknown and may_have_been_applied(outcome)
    assert outcome.code == grpc.StatusCode.UNAVAILABLE and outcome.request_id == "r"
    assert type(from_rpc_error(refused["nobody"], endpoint="n1")) is sdk.Unauthenticated
    assert type(from_rpc_error(refused["missing"], endpoint="n1")) is sdk.NotFound
    sealed = from_rpc_error(refused["sealed"], endpoint="n1")
    assert type(sealed) is sdk.Unavailable and not may_have_been_applied(sealed)


def test_a_reply_withheld_by_a_failed_audit_is_marked_outcome_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The handler ran (a write stands) but the audit line could not be written."""
    monkeypatch.setattr(rpc_module, "caller_of", lambda context: Caller("", "agent", ""))
    refused = _serve_and_call(_BrokenAudit(), ["ok", "missing"])
    for name in ("ok", "missing"):
        assert refused[name].code() == grpc.StatusCode.UNAVAILABLE
        assert _marks(refused[name]) == [OUTCOME_UNKNOWN]
        assert type(from_rpc_error(refused[name], endpoint="n1")) is sdk.OutcomeUnknown


class _Refusal(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str, trailers: Any = ()) -> None:
        self._code, self._details, self._trailers = code, details, trailers

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Any:
        return self._trailers


def test_the_sdk_acts_on_the_mark_not_on_the_words() -> None:
    unavailable = grpc.StatusCode.UNAVAILABLE
    words_only = from_rpc_error(_Refusal(unavailable, "write outcome unknown"), endpoint="n")
    assert type(words_only) is sdk.Unavailable  # text alone decides nothing
    reworded = _Refusal(unavailable, "the write may have happened", ((ERROR_KEY, OUTCOME_UNKNOWN),))
    assert type(from_rpc_error(reworded, endpoint="n")) is sdk.OutcomeUnknown
    marked = _Refusal(grpc.StatusCode.UNAUTHENTICATED, "who?", ((ERROR_KEY, UNAUTHENTICATED),))
    assert type(from_rpc_error(marked, endpoint="n")) is sdk.Unauthenticated
    newer = _Refusal(grpc.StatusCode.NOT_FOUND, "gone", ((ERROR_KEY, "from-a-newer-node"),))
    assert type(from_rpc_error(newer, endpoint="n")) is sdk.NotFound
