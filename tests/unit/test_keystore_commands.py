"""Every command of the Raft `Command.op` oneof has a handler in the state machine.

A command without one would be accepted into the log and then answered "internal error
applying a command (KeyError)" on every replica. The test walks the oneof from the
generated descriptor, so commands added later (proto/keymgr/v1/store.proto) are checked
without touching it: each is applied with an empty body to a fresh store, directly and,
for split-key commands, through an approved RequestApproval (the path that runs them).
An empty body is refused by the handler's own checks, which proves the handler ran.
"""

from __future__ import annotations

import pytest

from keymgr.store.access import GATED
from keymgr.store.keystore import KeyStore
from keymgr.v1 import store_pb2

OPS = [field.name for field in store_pb2.Command.DESCRIPTOR.oneofs_by_name["op"].fields]
NOW = 10_000
INTERNAL = store_pb2.ERROR_CODE_UNSPECIFIED  # what `apply` answers for a crash


def _initialised() -> KeyStore:
    store = KeyStore()
    init = store_pb2.Command(
        time_ms=NOW,
        principal="alice",
        init_cluster=store_pb2.InitCluster(
            shamir_wrapped_root_key=b"root",
            secret_shares=1,
            secret_threshold=1,
            share_digests=[b"d"],
            admins=["alice"],
            approvals_required=1,
            first_term=store_pb2.KeyringTerm(term=1, wrapped_key=b"term", created_at_ms=NOW),
        ),
    )
    assert _apply(store, init).WhichOneof("result") == "ok"
    return store


def _apply(store: KeyStore, command: store_pb2.Command) -> store_pb2.CommandResult:
    return store_pb2.CommandResult.FromString(store.apply(command.SerializeToString()))


def _empty(op: str) -> store_pb2.Command:
    command = store_pb2.Command(time_ms=NOW + 1, principal="alice")
    getattr(command, op).SetInParent()
    assert command.WhichOneof("op") == op
    return command


def _not_a_crash(result: store_pb2.CommandResult, what: str) -> None:
    if result.WhichOneof("result") == "error":
        assert result.error.code != INTERNAL, f"{what}: {result.error.message}"


def test_the_oneof_is_walked() -> None:
    assert len(OPS) >= 29 and "create_key" in OPS and "rotate_root" in OPS
    assert set(GATED) <= set(OPS)  # the approval kinds name real commands


@pytest.mark.parametrize("op", OPS)
def test_every_command_has_a_handler(op: str) -> None:
    check_handled(op)


def check_handled(op: str) -> None:
    _not_a_crash(_apply(KeyStore(), _empty(op)), f"{op} before init")
    store = _initialised()
    direct = _apply(store, _empty(op))
    _not_a_crash(direct, op)
    if op not in GATED:
        return
    assert direct.error.code == store_pb2.ERROR_CODE_FAILED_PRECONDITION  # needs approval
    request = store_pb2.Command(
        time_ms=NOW + 2,
        principal="alice",
        request_approval=store_pb2.RequestApproval(
            operation_id=f"op-{op}",
            kind=GATED[op],
            command=_empty(op),
            expires_at_ms=NOW + 60_000,
        ),
    )
    result = _apply(store, request)
    _not_a_crash(result, f"{op} approved")
    operation = result.operation  # one approval is enough: the handler ran at once
    assert operation.state in (
        store_pb2.OPERATION_STATE_EXECUTED,
        store_pb2.OPERATION_STATE_FAILED,
    ), f"{op}: {operation}"
    _not_a_crash(operation.result, f"{op} approved")


@pytest.mark.parametrize("op", ["set_member", "authorize_removal"])  # direct; approved
def test_a_missing_handler_would_be_caught(op: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check fails for a command the dispatch table does not know."""
    from keymgr.store import keystore

    monkeypatch.delitem(keystore._HANDLERS, op)
    with pytest.raises(AssertionError, match="KeyError"):
        check_handled(op)
