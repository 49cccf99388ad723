"""The client SDK's pure parts: failover order, error mapping, public surface."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest

import keymgr.client as sdk
from keymgr.client._exceptions import _BY_CODE, from_rpc_error, may_have_been_applied


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str, error_kind: str = "") -> None:
        self._code, self._details = code, details
        self._trailers = (("keymgr-error", error_kind),) if error_kind else ()

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._trailers


def test_every_status_code_is_mapped() -> None:
    unmapped = [c for c in grpc.StatusCode if c != grpc.StatusCode.OK and c not in _BY_CODE]
    assert unmapped == []


@pytest.mark.parametrize(
    ("code", "cls", "retryable"),
    [
        (grpc.StatusCode.UNAVAILABLE, sdk.Unavailable, True),
        (grpc.StatusCode.DEADLINE_EXCEEDED, sdk.Timeout, True),
        (grpc.StatusCode.INVALID_ARGUMENT, sdk.InvalidArgument, False),
        (grpc.StatusCode.NOT_FOUND, sdk.NotFound, False),
        (grpc.StatusCode.FAILED_PRECONDITION, sdk.FailedPrecondition, False),
        (grpc.StatusCode.PERMISSION_DENIED, sdk.PermissionDenied, False),
        (grpc.StatusCode.ABORTED, sdk.Conflict, False),
        (grpc.StatusCode.INTERNAL, sdk.ServerError, False),
    ],
)
def test_errors_map_to_the_right_branch(
    code: grpc.StatusCode, cls: type[sdk.KeymgrError], retryable: bool
) -> None:
    error = from_rpc_error(FakeRpcError(code, "why"), endpoint="h:1", request_id="r1")
    assert type(error) is cls
    assert isinstance(error, sdk.RetryableError) is retryable
    assert (error.endpoint, error.request_id, error.code) == ("h:1", "r1", code)
    assert str(error) == "h:1: why"


def test_failed_handshake_is_unauthenticated() -> None:
    error = from_rpc_error(
        FakeRpcError(grpc.StatusCode.UNAVAILABLE, "Ssl handshake failed"), endpoint="h:1"
    )
    assert isinstance(error, sdk.Unauthenticated)


def test_failover_prefers_the_last_good_node() -> None:
    policy = sdk.FailoverPolicy(["a", "b", "c", "a"])
    assert policy.endpoints == ("a", "b", "c")
    assert policy.plan(5) == ["a", "b", "c", "a", "b"]
    policy.failed("a")
    assert policy.endpoints == ("b", "c", "a")
    policy.succeeded("c")
    assert policy.endpoints == ("c", "b", "a")
    policy.failed("b")  # not the first: order unchanged
    assert policy.endpoints == ("c", "b", "a")
    with pytest.raises(ValueError):
        sdk.FailoverPolicy([])


def test_exported_members() -> None:
    for name in sdk.__all__:
        assert getattr(sdk, name) is not None
    assert set(sdk.__all__) == {n for n in dir(sdk) if not n.startswith("_")} - {"annotations"}


def test_data_key_repr_hides_plaintext() -> None:
    data_key = sdk.DataKey(b"ct", b"\x01secret-bytes", "kid", 1)
    assert "secret" not in repr(data_key) and "\\x01" not in repr(data_key)


def test_handshake_cut_by_a_dying_node_is_retryable() -> None:
    import grpc

    from keymgr.client._exceptions import RetryableError, Unauthenticated, from_rpc_error

    class _Err(grpc.RpcError):
        def __init__(self, details: str) -> None:
            self._details = details

        def code(self) -> grpc.StatusCode:
            return grpc.StatusCode.UNAVAILABLE

        def details(self) -> str:
            return self._details

    reset = "Handshake read failed (recvmsg:Connection reset by peer)"
    assert isinstance(from_rpc_error(_Err(reset), endpoint="x"), RetryableError)
    bad_cert = "Ssl handshake failed: SSL_ERROR_SSL: CERTIFICATE_VERIFY_FAILED"
    assert isinstance(from_rpc_error(_Err(bad_cert), endpoint="x"), Unauthenticated)


@pytest.mark.parametrize(
    ("code", "details", "kind", "maybe_ran"),
    [
        (
            grpc.StatusCode.UNAVAILABLE,
            "write outcome unknown (timed out or the leader changed)",
            "outcome-unknown",
            True,
        ),
        (
            grpc.StatusCode.UNAVAILABLE,
            "audit log unavailable: reply withheld (fail closed), "
            "write outcome unknown; try another node",
            "outcome-unknown",
            True,
        ),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", "", True),
        (grpc.StatusCode.CANCELLED, "Cancelled", "", True),
        (grpc.StatusCode.UNAVAILABLE, "Socket closed", "", True),
        (
            grpc.StatusCode.UNAVAILABLE,
            "failed to connect to all addresses; last error: "
            "UNKNOWN: ipv4:127.0.0.1:1: Failed to connect to remote host: Connection refused",
            "",
            False,
        ),
        (grpc.StatusCode.UNAVAILABLE, "no Raft leader: no leader to accept the command", "", False),
        (grpc.StatusCode.UNAVAILABLE, "node is sealed: unseal it", "", False),
    ],
)
def test_at_most_once_calls_know_when_a_request_may_have_run(
    code: grpc.StatusCode, details: str, kind: str, maybe_ran: bool
) -> None:
    """Init and RotateRoot fail over only when the request surely did not run: their
    reply (the shares) cannot be had twice. "Outcome unknown" is the node's
    `keymgr-error` trailer (tests/unit/test_error_metadata.py), not its words."""
    error = from_rpc_error(FakeRpcError(code, details, kind), endpoint="h:1")
    assert may_have_been_applied(error) is maybe_ran
    if kind:
        assert isinstance(error, sdk.OutcomeUnknown) and isinstance(error, sdk.RetryableError)


def test_failover_policy_can_be_shared_between_threads() -> None:
    """Agents serve many connections through one client."""
    import threading

    policy = sdk.FailoverPolicy(["a", "b", "c"])
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        try:
            for i in range(3000):
                target = "abc"[(seed + i) % 3]
                (policy.succeeded if i % 2 else policy.failed)(target)
                assert len(policy.plan(4)) == 4
        except BaseException as exc:  # recorded and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and sorted(policy.endpoints) == ["a", "b", "c"]


# --- read-your-writes: the index a write was applied at, sent back on every call --------


class _Call:
    def __init__(self, trailers: tuple[tuple[str, str], ...]) -> None:
        self._trailers = trailers

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._trailers


class _IndexRpcError(FakeRpcError):
    def __init__(self, code: grpc.StatusCode, details: str, index: str) -> None:
        super().__init__(code, details)
        self._index = index

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("keymgr-index", self._index),)


class _Method:
    """A stub method that records the metadata sent and answers from a script."""

    def __init__(self, script: list[object], sent: list[object]) -> None:
        self._script, self._sent = script, sent

    def with_call(self, request: object, *, timeout: float, metadata: object) -> object:
        self._sent.append(metadata)
        answer = self._script.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def _scripted_client(tmp_path: Path, script: list[object], sent: list[object]) -> sdk.Client:
    for name in ("ca", "cert", "key"):
        (tmp_path / name).write_bytes(b"unused: no connection is made")
    creds = sdk.Credentials(ca=tmp_path / "ca", cert=tmp_path / "cert", key=tmp_path / "key")
    client = sdk.Client(["a:1", "b:1"], credentials=creds, backoff=0.0)
    method = _Method(script, sent)
    client._stub = lambda endpoint, service: SimpleNamespace(  # type: ignore[method-assign]
        GetKey=method, CreateKey=method
    )
    return client


def test_client_sends_the_highest_index_it_has_seen(tmp_path: Path) -> None:
    sent: list[object] = []
    script: list[object] = [
        ("r1", _Call((("keymgr-index", "41"),))),  # a write
        ("r2", _Call(())),  # a read: no index
        ("r3", _Call((("keymgr-index", "17"), ("other", "x")))),  # lower: ignored
        ("r4", _Call((("keymgr-index", "oops"),))),  # malformed: ignored
        ("r5", _Call(())),
    ]
    client = _scripted_client(tmp_path, script, sent)
    assert client.seen_index == 0
    for _ in range(5):
        client._call("keys", "GetKey", object())
    assert sent[0] is None  # nothing seen yet: no metadata
    assert sent[1:] == [(("keymgr-min-index", "41"),)] * 4
    assert client.seen_index == 41


def test_a_lagging_node_is_retried_elsewhere_and_error_trailers_count(tmp_path: Path) -> None:
    sent: list[object] = []
    lagging = FakeRpcError(
        grpc.StatusCode.UNAVAILABLE,
        "node has applied Raft index 3, behind the caller's index 41 (keymgr-min-index) "
        "after waiting 0.5s; try another node",
    )
    refused = _IndexRpcError(grpc.StatusCode.NOT_FOUND, "no key", "60")
    script: list[object] = [
        ("w", _Call((("keymgr-index", "41"),))),
        lagging,
        ("ok", _Call(())),
        refused,
        ("ok", _Call(())),
    ]
    client = _scripted_client(tmp_path, script, sent)
    client._call("keys", "CreateKey", object())
    assert client._call("keys", "GetKey", object()) == "ok"  # failed over after UNAVAILABLE
    with pytest.raises(sdk.NotFound):
        client._call("keys", "GetKey", object())
    client._call("keys", "GetKey", object())
    assert sent[-1] == (("keymgr-min-index", "60"),)


def test_seen_index_is_safe_across_threads(tmp_path: Path) -> None:
    import threading

    count = 400
    script: list[object] = [("r", _Call((("keymgr-index", str(i)),))) for i in range(count)]
    lock = threading.Lock()
    client = _scripted_client(tmp_path, script, [])

    def worker() -> None:
        for _ in range(count // 8):
            with lock:
                answer = script.pop(0)
            client._note_index(answer[1])  # type: ignore[index]

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert client.seen_index == count - 1


# --- the client's layout: a transport plus one module per service -----------------------

# Every public method `Client` had before it was split by service (names and order of
# parameters are checked by the integration tests and the SDK guide that call them).
CLIENT_METHODS = frozenset(
    {
        "add_peer",
        "approve",
        "batch_decrypt",
        "batch_encrypt",
        "batch_generate_data_key",
        "cancel_key_deletion",
        "close",
        "cluster_status",
        "create_join_token",
        "create_key",
        "create_volume_key",
        "decrypt",
        "delete_policy",
        "destroy_key",
        "disable_key",
        "enable_key",
        "encrypt",
        "export_key",
        "generate_data_key",
        "generate_random",
        "get_import_parameters",
        "get_key",
        "get_master_key",
        "get_policy",
        "import_key_material",
        "init",
        "iter_keys",
        "join",
        "list_approvals",
        "list_export_bundles",
        "list_keys",
        "list_peers",
        "list_policies",
        "list_roles",
        "local_status",
        "migrate_seal",
        "re_encrypt",
        "reject",
        "remove_peer",
        "request_export",
        "request_seal_migration",
        "restore_snapshot",
        "rewrap_volume_key",
        "rotate_key",
        "rotate_keyring",
        "rotate_master_key",
        "rotate_root",
        "save_snapshot",
        "schedule_key_deletion",
        "seal",
        "seal_status",
        "seen_index",
        "set_approval_rule",
        "set_key_rotation",
        "set_roles",
        "step_down",
        "unseal",
        "unwrap_volume_key",
        "whoami",
        "secrets",
    }
)


def test_client_keeps_every_public_method() -> None:
    public = {name for name in dir(sdk.Client) if not name.startswith("_")}
    assert CLIENT_METHODS - public == set()


def test_each_client_method_lives_in_one_service_module() -> None:
    """No service module shadows another's method (the MRO would hide one silently)."""
    from keymgr.client._transport import Transport

    owners: dict[str, list[str]] = {}
    for base in sdk.Client.__mro__[1:]:
        if base is object:
            continue
        for name, value in vars(base).items():
            if not name.startswith("__") and (callable(value) or isinstance(value, property)):
                owners.setdefault(name, []).append(base.__module__)
    shadowed = {name: mods for name, mods in owners.items() if len(mods) > 1}
    assert shadowed == {}
    assert {base.__module__ for base in sdk.Client.__mro__[1:-2]} <= {
        f"keymgr.client._{m}"
        for m in ("keys", "crypto", "volume", "tde", "operator", "snapshots", "access", "secrets")
    }
    assert sdk.Client.__mro__[-2] is Transport
