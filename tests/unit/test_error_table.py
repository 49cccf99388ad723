"""One table for lower layers' exceptions (server/rpc.py), checked from both ends.

Every exception class keymgr defines (all modules imported) is either mapped by
`LOWER_LAYER_ERRORS` / a domain error, or listed in `NEVER_AT_THE_RPC_BOUNDARY` with the
reason; every state-machine error code has a status. The wrapper sends the kinds the SDK
must not guess from text (`outcome-unknown`, `unauthenticated`) as `keymgr-error`
trailing metadata, over a real gRPC call.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pkgutil
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest

import keymgr
from keymgr.audit import AuditLog, FileSink
from keymgr.audit.errors import AuditCorrupt, AuditUnavailable, SinkError
from keymgr.config import ConfigError
from keymgr.crypto.errors import DecryptionFailed, InvalidShare, MalformedCiphertext
from keymgr.crypto.key_export import ExportRefused
from keymgr.crypto.key_import import ImportRejected
from keymgr.error_metadata import ERROR_KEY, OUTCOME_UNKNOWN, UNAUTHENTICATED
from keymgr.node_errors import NodeError, OutcomeUnknown, Unauthenticated, error_from_command
from keymgr.pki import IdentityRefused
from keymgr.raft.durable_journal import StorageFailure
from keymgr.raft.node import NoLeader, ProposalRejected, ProposalTimeout, RaftError
from keymgr.raft.proposer import CommandFailed, WriteOutcomeUnknown
from keymgr.raft.snapshot_file import SnapshotFileError
from keymgr.seal.pkcs11 import HsmUnavailable
from keymgr.server import rpc as rpc_module
from keymgr.server.auth import Caller
from keymgr.server.rpc import (
    LOWER_LAYER_ERRORS,
    NEVER_AT_THE_RPC_BOUNDARY,
    node_error_for,
    rpc,
    tolerant_handlers,
)
from keymgr.store.keystore_validation import CommandRefused
from keymgr.v1 import keys_pb2, store_pb2

Code = grpc.StatusCode


def keymgr_exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in a keymgr module, by qualified name."""
    for info in pkgutil.walk_packages(keymgr.__path__, "keymgr."):
        if not info.name.endswith(".__main__"):  # runs the CLI when imported
            importlib.import_module(info.name)
    found: dict[str, type[BaseException]] = {}
    for name, module in list(sys.modules.items()):
        if name != "keymgr" and not name.startswith("keymgr."):
            continue
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == name:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def _named(cls: type[BaseException]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _never_crosses(cls: type[BaseException]) -> bool:
    return any(_named(base) in NEVER_AT_THE_RPC_BOUNDARY for base in cls.__mro__)


def _mapped(cls: type[BaseException]) -> bool:
    if issubclass(cls, NodeError):
        return True
    return any(issubclass(cls, exc_type) for exc_type, _ in LOWER_LAYER_ERRORS)


def test_every_keymgr_exception_is_mapped_or_said_never_to_cross() -> None:
    classes = keymgr_exception_classes()
    assert len(classes) > 40  # the walk found the packages, not just a few modules
    unaccounted = sorted(
        name for name, cls in classes.items() if not _mapped(cls) and not _never_crosses(cls)
    )
    assert unaccounted == [], (
        "map these in LOWER_LAYER_ERRORS (keymgr/server/rpc.py) or list them, with the "
        f"reason, in NEVER_AT_THE_RPC_BOUNDARY: {unaccounted}"
    )


def test_the_never_list_names_real_classes_with_reasons() -> None:
    classes = keymgr_exception_classes()
    for name, reason in NEVER_AT_THE_RPC_BOUNDARY.items():
        assert name in classes, f"{name}: no such exception class (renamed or removed?)"
        assert len(reason) > 20, name
        assert not _mapped(classes[name]), f"{name} is both mapped and listed as never crossing"


def test_no_entry_is_shadowed_by_an_earlier_base() -> None:
    types = [exc_type for exc_type, _ in LOWER_LAYER_ERRORS]
    for i, earlier in enumerate(types):
        for later in types[i + 1 :]:
            assert not issubclass(later, earlier), f"{later.__name__} after {earlier.__name__}"


# one instance of each mapped class and the status the caller must get for it
SAMPLES: list[tuple[Exception, Code, str]] = [
    (WriteOutcomeUnknown(), Code.UNAVAILABLE, "write outcome unknown"),
    (
        CommandFailed(
            store_pb2.CommandError(code=store_pb2.ERROR_CODE_NOT_FOUND, message="no key 'x'")
        ),
        Code.NOT_FOUND,
        "no key",
    ),
    (ProposalRejected("10.0.0.9:7101 is not a peer"), Code.FAILED_PRECONDITION, "not a peer"),
    (NoLeader("no leader to accept the command"), Code.UNAVAILABLE, "no Raft leader: no leader"),
    (ProposalTimeout("no outcome within 5s"), Code.UNAVAILABLE, "no outcome within 5s"),
    (RaftError("unexpected failure"), Code.UNAVAILABLE, "write not accepted: unexpected"),
    (StorageFailure("disk full"), Code.UNAVAILABLE, "Raft storage failed: disk full"),
    (HsmUnavailable("token removed"), Code.UNAVAILABLE, "HSM failed: token removed"),
    (DecryptionFailed("tag mismatch"), Code.INVALID_ARGUMENT, "decryption failed"),
    (MalformedCiphertext("truncated header"), Code.INVALID_ARGUMENT, "ciphertext_blob: trunc"),
    (InvalidShare("checksum mismatch"), Code.INVALID_ARGUMENT, "share: checksum mismatch"),
    (ImportRejected("bad padding"), Code.INVALID_ARGUMENT, "wrapped_key_material: bad"),
    (ExportRefused("algorithm", "not for aws"), Code.INVALID_ARGUMENT, "algorithm: not for aws"),
    (
        CommandRefused(store_pb2.ERROR_CODE_FAILED_PRECONDITION, "key is disabled"),
        Code.FAILED_PRECONDITION,
        "key is disabled",
    ),
    (SnapshotFileError("MAC mismatch"), Code.INVALID_ARGUMENT, "file: MAC mismatch"),
    (IdentityRefused("certificate has no SAN"), Code.UNAUTHENTICATED, "no keymgr identity"),
    (
        ConfigError("node.yaml", "unknown field", field="seal.tipe"),
        Code.FAILED_PRECONDITION,
        "node config: node.yaml: seal.tipe",
    ),
    (AuditUnavailable("disk full"), Code.UNAVAILABLE, "audit log unavailable: disk full"),
    (SinkError("syslog unreachable"), Code.UNAVAILABLE, "audit log: syslog unreachable"),
    (AuditCorrupt("last line damaged"), Code.UNAVAILABLE, "audit log: last line damaged"),
]


@pytest.mark.parametrize(("exc", "code", "fragment"), SAMPLES, ids=lambda v: type(v).__name__)
def test_each_lower_layer_exception_gets_its_status(
    exc: Exception, code: Code, fragment: str
) -> None:
    mapped = node_error_for(exc)
    assert mapped is not None
    assert mapped.code == code
    assert fragment in str(mapped)
    assert "\n" not in str(mapped)


def test_every_table_entry_has_a_sample() -> None:
    for exc_type, _ in LOWER_LAYER_ERRORS:
        assert any(isinstance(exc, exc_type) for exc, _, _ in SAMPLES), exc_type.__name__


def test_only_an_unknown_write_outcome_and_a_missing_identity_carry_a_kind() -> None:
    kinds = {
        type(exc).__name__: getattr(node_error_for(exc), "kind", None) for exc, _, _ in SAMPLES
    }
    assert kinds.pop("WriteOutcomeUnknown") == OUTCOME_UNKNOWN
    assert kinds.pop("IdentityRefused") == UNAUTHENTICATED
    assert set(kinds.values()) == {""}
    assert Unauthenticated("no client certificate").kind == UNAUTHENTICATED
    assert OutcomeUnknown("the leader changed").kind == OUTCOME_UNKNOWN


def test_every_state_machine_error_code_has_a_status() -> None:
    for name, number in store_pb2.ErrorCode.items():
        if number == store_pb2.ERROR_CODE_UNSPECIFIED:
            continue
        error = store_pb2.CommandError(code=number, message="why")
        answered = error_from_command(error)
        assert answered.code != Code.INTERNAL, name
        refused = node_error_for(CommandRefused(number, "why"))
        assert refused is not None and refused.code == answered.code, name


def test_an_unmapped_exception_is_a_bug_not_a_status() -> None:
    assert node_error_for(KeyError("x")) is None
    assert node_error_for(ValueError("x")) is None


# --- over a real gRPC call: the trailing metadata the SDK reads ----------------------


class _Node:
    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit
        self.calls = None

    async def await_index(self, wanted: int) -> None:
        return None


class _Failing:
    """Encrypt raises whatever the test puts in `raises`."""

    def __init__(self, node: _Node) -> None:
        self._node = node
        self.raises: Exception = RuntimeError("unset")

    @rpc
    async def Encrypt(self, request: Any, context: Any) -> keys_pb2.EncryptResponse:
        raise self.raises


Answer = tuple[Code, str, dict[str, str]]


def _call_failing(servicer: _Failing, raises: list[Exception]) -> list[Answer]:
    async def scenario() -> list[Answer]:
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
        answers = []
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                call = channel.unary_unary("/keymgr.v1.KeyManagement/Encrypt")
                for exc in raises:
                    servicer.raises = exc
                    with pytest.raises(grpc.aio.AioRpcError) as failed:
                        await call(
                            keys_pb2.EncryptRequest(key_name="k").SerializeToString(), timeout=5
                        )
                    trailing = {k: v for k, v in (failed.value.trailing_metadata() or ())}
                    answers.append((failed.value.code(), failed.value.details() or "", trailing))
        finally:
            await server.stop(None)
        return answers

    return asyncio.run(scenario())


def test_the_wrapper_sends_the_kind_as_keymgr_error_metadata_and_keeps_the_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rpc_module, "caller_of", lambda context: Caller("", "agent", ""))
    audit = AuditLog([FileSink(tmp_path / "audit.log")], "node1", lambda: None)
    servicer = _Failing(_Node(audit))
    answers = _call_failing(
        servicer,
        [
            WriteOutcomeUnknown(),
            Unauthenticated("a client certificate issued by the cluster CA is required"),
            NoLeader("no leader to accept the command"),
            HsmUnavailable("token removed"),
        ],
    )
    audit.close()
    unknown, unauthenticated, no_leader, hsm = answers
    assert unknown[0] == Code.UNAVAILABLE and "outcome unknown" in unknown[1]
    assert unknown[2].get(ERROR_KEY) == "outcome-unknown"
    assert unauthenticated[0] == Code.UNAUTHENTICATED
    assert unauthenticated[2].get(ERROR_KEY) == "unauthenticated"
    assert no_leader[0] == Code.UNAVAILABLE and ERROR_KEY not in no_leader[2]
    assert hsm[0] == Code.UNAVAILABLE and "HSM failed" in hsm[1] and ERROR_KEY not in hsm[2]


def test_audit_fail_closed_says_outcome_unknown_in_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reply is withheld after the handler ran: the write may stand."""
    monkeypatch.setattr(rpc_module, "caller_of", lambda context: Caller("", "agent", ""))
    audit = AuditLog([FileSink(tmp_path / "audit.log")], "node1", lambda: None)
    audit.close()  # every line now fails: AuditUnavailable("audit log is closed")
    servicer = _Failing(_Node(audit))
    [(code, detail, trailing)] = _call_failing(servicer, [NoLeader("x")])
    assert code == Code.UNAVAILABLE and "write outcome unknown" in detail
    assert trailing.get(ERROR_KEY) == "outcome-unknown"
