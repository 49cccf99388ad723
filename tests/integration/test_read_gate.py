"""The read gate and read-your-writes on real node processes (mTLS, 3 nodes).

A follower is frozen with SIGSTOP while the others acknowledge a write, then resumed.
Requests are already queued at it when it resumes (threads sent them while it was
frozen), so the node's first moments back, before it has heard from the leader, are
exercised: the old gate served stale state exactly then (a follower's commit index is
clamped to its own log, and its last leader contact looked recent).
"""

from __future__ import annotations

import functools
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import grpc
import pytest

from keymgr.client import FailedPrecondition, KeymgrError
from keymgr.consistency import INDEX_KEY, MIN_INDEX_KEY
from keymgr.ops.devcluster import LocalCluster
from keymgr.stubs import keys_stub, operator_stub
from keymgr.v1 import keys_pb2, operator_pb2
from tests.integration.conftest import MakeCluster
from tests.integration.helpers import eventually, leader_id

HAMMER_S = 2.0
THREADS = 4


def _roles(cluster: LocalCluster) -> tuple[str, str, str]:
    """(leader, a follower to freeze, the other follower)."""
    leader = leader_id(cluster)
    followers = [n.id for n in cluster.spec.nodes if n.id != leader]
    return leader, followers[0], followers[1]


@contextmanager
def frozen(cluster: LocalCluster, node_id: str) -> Iterator[None]:
    """SIGSTOP the node (by its PID) for the block; SIGCONT on leaving, whatever happens."""
    pid = cluster.pid(node_id)
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def hammer(
    call: Callable[[], object], resume: Callable[[], None], seconds: float = HAMMER_S
) -> Counter[str]:
    """Runs `call` from THREADS threads, started before `resume()`, for `seconds` after
    it; counts outcomes by exception class name ("ok" for success)."""
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    stop_at: list[float] = []
    started = threading.Barrier(THREADS + 1)

    def worker() -> None:
        started.wait()
        while not stop_at or time.monotonic() < stop_at[0]:
            try:
                call()
                outcome = "ok"
            except KeymgrError as exc:
                outcome = type(exc).__name__
            with lock:
                outcomes[outcome] += 1

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(0.2)  # the first calls are now queued at the frozen node
    resume()
    stop_at.append(time.monotonic() + seconds)
    for t in threads:
        t.join(timeout=seconds + 15)
    assert not any(t.is_alive() for t in threads), "a call did not return"
    return outcomes


def test_a_resumed_follower_never_uses_a_key_disabled_while_it_was_frozen(
    make_cluster: MakeCluster,
) -> None:
    """DisableKey is acknowledged by the others; the follower stays frozen for longer
    than serving.max_staleness_s after that, so any Encrypt it serves with the key
    afterwards breaks the bound. It must refuse UNAVAILABLE until it has caught up,
    then FAILED_PRECONDITION (disabled)."""
    cluster = make_cluster()
    cluster.bring_up()
    _, follower, _ = _roles(cluster)
    api = cluster.node(follower).api
    with cluster.client() as admin:
        key = admin.create_key("gate-disable")
    with cluster.client([follower], attempts=1, timeout=10.0) as reader:
        eventually(lambda: reader.encrypt(key.name, b"probe", endpoint=api), timeout=20)
        with frozen(cluster, follower):
            with cluster.client([n.id for n in cluster.spec.nodes if n.id != follower]) as w:
                assert w.disable_key(key.name).state == keys_pb2.KEY_STATE_DISABLED
            acknowledged = time.monotonic()
            time.sleep(cluster.spec.max_staleness_s + 0.5)
            resume = functools.partial(os.kill, cluster.pid(follower), signal.SIGCONT)
            outcomes = hammer(lambda: reader.encrypt(key.name, b"x", endpoint=api), resume)
    assert time.monotonic() - acknowledged > cluster.spec.max_staleness_s
    assert outcomes["ok"] == 0, f"served a disabled key after the bound: {dict(outcomes)}"
    assert set(outcomes) <= {"Unavailable", "FailedPrecondition"}, dict(outcomes)
    assert outcomes["FailedPrecondition"] > 0, f"never caught up: {dict(outcomes)}"
    with pytest.raises(FailedPrecondition):
        reader.encrypt(key.name, b"x", endpoint=api)


def test_create_then_encrypt_on_a_resumed_follower_reads_its_own_write(
    make_cluster: MakeCluster,
) -> None:
    """The SDK sends the index of its CreateKey; the resumed follower waits for it or
    refuses UNAVAILABLE, never NOT_FOUND. Pinned to the follower, a call may fail
    retryably; with failover (the follower tried first), every call succeeds."""
    cluster = make_cluster()
    cluster.bring_up()
    _, follower, _ = _roles(cluster)
    api = cluster.node(follower).api
    # the others first: CreateKey goes to them while the follower is frozen
    order = [n.id for n in cluster.spec.nodes if n.id != follower] + [follower]
    with cluster.client([follower]) as probe:
        eventually(lambda: probe.local_status(endpoint=api).serving, timeout=20)
    resume = functools.partial(os.kill, cluster.pid(follower), signal.SIGCONT)

    with cluster.client(order, timeout=10.0) as pinned, frozen(cluster, follower):
        key = pinned.create_key("ryw-pinned")
        assert pinned.seen_index > 0
        pinned_outcomes = hammer(lambda: pinned.encrypt(key.name, b"x", endpoint=api), resume)
    assert pinned_outcomes["NotFound"] == 0, dict(pinned_outcomes)
    assert set(pinned_outcomes) <= {"ok", "Unavailable"}, dict(pinned_outcomes)
    assert pinned_outcomes["ok"] > 0, dict(pinned_outcomes)

    with cluster.client(order, timeout=10.0) as client:
        with frozen(cluster, follower):
            key = client.create_key("ryw-failover")
            # queued at the frozen follower; answered first when it resumes (it is
            # exempt from the index wait), which puts the follower first in line
            status = threading.Thread(target=client.local_status, kwargs={"endpoint": api})
            status.start()
            time.sleep(0.2)
        status.join(timeout=15)
        outcomes: Counter[str] = Counter()
        deadline = time.monotonic() + HAMMER_S
        while time.monotonic() < deadline:
            try:
                client.encrypt(key.name, b"x")
                outcomes["ok"] += 1
            except KeymgrError as exc:
                outcomes[type(exc).__name__] += 1
    assert outcomes == Counter(ok=outcomes["ok"]), dict(outcomes)


# --- metadata on the shared cluster -----------------------------------------------------


def _channel(cluster: LocalCluster, node_id: str) -> grpc.Channel:
    return grpc.secure_channel(cluster.node(node_id).api, cluster.credentials.channel_credentials())


def test_writes_return_their_index_and_reads_do_not(cluster: LocalCluster) -> None:
    with _channel(cluster, "node1") as channel:
        keys = keys_stub(channel)
        _, call = keys.CreateKey.with_call(
            keys_pb2.CreateKeyRequest(name="indexed", request_id="indexed-1"), timeout=10
        )
        written = dict(call.trailing_metadata())
        assert int(written[INDEX_KEY]) > 0
        _, call = keys.GetKey.with_call(keys_pb2.GetKeyRequest(name_or_id="indexed"), timeout=10)
        assert INDEX_KEY not in dict(call.trailing_metadata())
        # a write refused by the state machine was still applied at an index
        with pytest.raises(grpc.RpcError) as raised:
            keys.CreateKey(
                keys_pb2.CreateKeyRequest(name="indexed", request_id="indexed-2"), timeout=10
            )
        assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
        refused = dict(raised.value.trailing_metadata())  # type: ignore[attr-defined]
        assert int(refused[INDEX_KEY]) > int(written[INDEX_KEY])


def test_a_node_waits_briefly_for_the_callers_index_then_refuses(cluster: LocalCluster) -> None:
    with _channel(cluster, "node2") as channel:
        keys = keys_stub(channel)
        far = ((MIN_INDEX_KEY, str(10**15)),)
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as raised:
            keys.ListKeys(keys_pb2.ListKeysRequest(), timeout=10, metadata=far)
        waited = time.monotonic() - started
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        assert f"behind the caller's index {10**15} ({MIN_INDEX_KEY})" in raised.value.details()
        assert 0.4 < waited < 5.0
        # a call about the node itself answers however far behind it is
        status = operator_stub(channel).LocalStatus(
            operator_pb2.LocalStatusRequest(), timeout=10, metadata=far
        )
        assert status.applied_index > 0 and status.leader_commit_index > 0
        assert 0 <= status.seconds_since_caught_up <= cluster.spec.max_staleness_s
        # an index it has applied costs nothing
        keys.ListKeys(
            keys_pb2.ListKeysRequest(),
            timeout=10,
            metadata=((MIN_INDEX_KEY, str(status.applied_index)),),
        )


@pytest.mark.parametrize("value", ["abc", "-3", "1e9", "99999999999999999999"])
def test_a_bad_min_index_is_invalid_argument_naming_the_metadata_key(
    cluster: LocalCluster, value: str
) -> None:
    with _channel(cluster, "node3") as channel, pytest.raises(grpc.RpcError) as raised:
        keys_stub(channel).GetKey(
            keys_pb2.GetKeyRequest(name_or_id="x"),
            timeout=10,
            metadata=((MIN_INDEX_KEY, value),),
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith(f"{MIN_INDEX_KEY}: ")
    assert value not in raised.value.details()


def test_the_sdk_reads_its_own_writes_through_any_node(cluster: LocalCluster) -> None:
    with cluster.client() as client:
        for i in range(5):
            key = client.create_key(f"ryw-{i}")
            seen = client.seen_index
            assert seen > 0
            for node in cluster.spec.nodes:
                assert client.get_key(key.name).id == key.id
                client.encrypt(key.name, b"x", endpoint=node.api)
            assert client.seen_index == seen
