"""Worker processes: several processes of one node accept on its API port.

Each test opens many separate connections to one node (a local subchannel pool per
channel, so gRPC does not share one TCP connection between them): the kernel spreads
them over the node's processes, and every process must answer every method correctly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from keymgr.audit.verify import verify
from keymgr.consistency import INDEX_KEY, MIN_INDEX_KEY
from keymgr.ops.devcluster import LocalCluster
from keymgr.stubs import access_stub, keys_stub, operator_stub
from keymgr.v1 import access_pb2, keys_pb2, operator_pb2
from tests.integration.conftest import MakeCluster
from tests.integration.helpers import eventually, leader_id

CONNECTIONS = 24  # P(all on one of 2 processes) = 2**-23


@contextlib.contextmanager
def connections(
    cluster: LocalCluster, node_id: str, count: int = CONNECTIONS
) -> Iterator[list[grpc.Channel]]:
    creds = cluster.credentials.channel_credentials()
    channels = [
        grpc.secure_channel(
            cluster.node(node_id).api, creds, options=[("grpc.use_local_subchannel_pool", 1)]
        )
        for _ in range(count)
    ]
    try:
        yield channels
    finally:
        for channel in channels:
            channel.close()


def _written_index(call: Any) -> int:
    return max((int(v) for k, v in call.trailing_metadata() if k == INDEX_KEY), default=0)


def _audit_lines(path: os.PathLike[str]) -> int:
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def test_every_process_of_a_node_answers_every_service(make_cluster: MakeCluster) -> None:
    cluster = make_cluster(processes=2)
    cluster.bring_up()
    node = "node1"
    cluster.wait_workers(node)
    audit_dir = cluster.data_dir(node) / "audit"
    with connections(cluster, node) as channels:
        for i, channel in enumerate(channels):
            keys = keys_stub(channel)
            created, call = keys.CreateKey.with_call(
                keys_pb2.CreateKeyRequest(name=f"spread-{i}"), timeout=10
            )
            index = _written_index(call)
            assert index > 0
            # read-your-writes on every other connection (any process of the node)
            for other in channels:
                got = keys_stub(other).GetKey(
                    keys_pb2.GetKeyRequest(name_or_id=f"spread-{i}"),
                    metadata=[(MIN_INDEX_KEY, str(index))],
                    timeout=10,
                )
                assert got.key.id == created.key.id
            made = keys.GenerateDataKey(
                keys_pb2.GenerateDataKeyRequest(
                    key_name=f"spread-{i}", encryption_context={"i": str(i)}
                ),
                timeout=10,
            )
            opened = keys_stub(channels[-1 - i]).Decrypt(
                keys_pb2.DecryptRequest(
                    ciphertext_blob=made.ciphertext_blob, encryption_context={"i": str(i)}
                ),
                timeout=10,
            )
            assert opened.plaintext == made.plaintext
            # relayed services answer with the caller's own identity
            status = operator_stub(channel).SealStatus(operator_pb2.SealStatusRequest(), timeout=10)
            assert not status.sealed
            me = access_stub(channel).WhoAmI(access_pb2.WhoAmIRequest(), timeout=10)
            assert me.principal.endswith("/admin/admin") and "admin" in me.roles
            with pytest.raises(grpc.RpcError) as refused:  # a relayed error keeps its status
                access_stub(channel).GetPolicy(
                    access_pb2.GetPolicyRequest(name=f"no-such-policy-{i}"), timeout=10
                )
            assert refused.value.code() == grpc.StatusCode.NOT_FOUND
            assert f"no-such-policy-{i}" in (refused.value.details() or "")
        # a body that does not decode: INVALID_ARGUMENT from every process, relayed or not
        for method in ("/keymgr.v1.KeyManagement/Encrypt", "/keymgr.v1.Access/GetPolicy"):
            for channel in channels:
                garbage = channel.unary_unary(method)
                with pytest.raises(grpc.RpcError) as refused:
                    garbage(b"\xff\xff\xff\xff", timeout=10)
                assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, method
                assert "request body is not a valid" in (refused.value.details() or "")
    # the SDK over several connections: each write is readable at once on any of them
    with cluster.client([node], connections_per_node=8) as client:
        for i in range(16):
            made_key = client.create_key(f"sdk-{i}")
            for _ in range(8):
                assert client.get_key(f"sdk-{i}").id == made_key.id
    main_lines = _audit_lines(audit_dir / "audit.log")
    worker_lines = _audit_lines(audit_dir / "audit-worker1.log")
    assert main_lines > 0 and worker_lines > 0, (main_lines, worker_lines)
    for chain in ("audit.log", "audit-worker1.log"):
        report = verify([audit_dir / chain])
        assert report.ok, report.problems


def test_a_killed_worker_is_restarted_and_no_acknowledged_write_is_lost(
    make_cluster: MakeCluster,
) -> None:
    cluster = make_cluster(processes=2)
    cluster.bring_up()
    node = leader_id(cluster)
    first = cluster.wait_workers(node)
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def write(channel: grpc.Channel, thread: int) -> None:
        keys = keys_stub(channel)
        n = 0
        while not stop.is_set():
            name = f"w{thread}-{n}"
            try:
                keys.CreateKey(
                    keys_pb2.CreateKeyRequest(name=name, request_id=uuid.uuid4().hex), timeout=5
                )
            except grpc.RpcError:
                time.sleep(0.02)
            else:
                with lock:
                    acked.append(name)
            n += 1

    with connections(cluster, node, 12) as channels:
        threads = [threading.Thread(target=write, args=(c, i)) for i, c in enumerate(channels)]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)
            before = len(acked)
            os.kill(first[0], signal.SIGKILL)
            time.sleep(2.0)
        finally:
            stop.set()
            for t in threads:
                t.join(10)
    assert before > 0 and len(acked) > before
    restarted = eventually(lambda: [p for p in cluster.worker_pids(node) if p not in first] or None)
    assert restarted
    for node_id in (n.id for n in cluster.spec.nodes):
        with cluster.client([node_id]) as one:
            eventually(lambda one=one: _all_names(one) >= set(acked) or None, timeout=20)


def _all_names(client: Any) -> set[str]:
    return {k.name for k in client.iter_keys()}


def test_a_worker_whose_raft_process_stops_refuses_after_the_staleness_bound(
    make_cluster: MakeCluster,
) -> None:
    cluster = make_cluster(processes=2, max_staleness_s=1.0)
    cluster.bring_up()
    with cluster.client() as admin:
        admin.create_key("stale")
        made = admin.generate_data_key("stale")
        leader = leader_id(cluster)
    follower = next(n.id for n in cluster.spec.nodes if n.id != leader)
    cluster.wait_workers(follower)
    request = keys_pb2.DecryptRequest(ciphertext_blob=made.ciphertext_blob)
    with connections(cluster, follower) as channels:
        for channel in channels:  # every process serves the key before the fault
            assert keys_stub(channel).Decrypt(request, timeout=10).plaintext == made.plaintext
        raft_process = cluster.pid(follower)
        os.kill(raft_process, signal.SIGSTOP)
        try:
            with cluster.client([leader]) as admin:
                admin.disable_key("stale")
            time.sleep(1.0 + 0.3)  # the bound, and one status period
            codes = []
            for channel in channels:
                try:
                    keys_stub(channel).Decrypt(request, timeout=1.0)
                    codes.append(grpc.StatusCode.OK)
                except grpc.RpcError as exc:
                    codes.append(exc.code())
        finally:
            os.kill(raft_process, signal.SIGCONT)
    assert grpc.StatusCode.OK not in codes, codes
    assert grpc.StatusCode.UNAVAILABLE in codes, codes  # the worker answered, and refused


@pytest.mark.parametrize("processes", [1])
def test_one_process_means_no_workers(make_cluster: MakeCluster, processes: int) -> None:
    cluster = make_cluster(processes=processes)
    cluster.bring_up()
    time.sleep(0.5)
    assert all(cluster.worker_pids(n.id) == [] for n in cluster.spec.nodes)


def test_calls_served_by_a_worker_count_in_the_nodes_metrics(make_cluster: MakeCluster) -> None:
    """The metrics endpoint (the Raft process's) counts the calls its workers answered:
    each worker pushes its counts over the feed socket."""
    from tests.integration.test_observability import _sample, _scrape

    cluster = make_cluster(processes=2)
    cluster.bring_up()
    node = "node1"
    cluster.wait_workers(node)
    audit_dir = cluster.data_dir(node) / "audit"
    labels = 'code="OK",method="GenerateDataKey"'
    with cluster.client([node]) as client:
        client.create_key("counted")

    def generated() -> float:
        try:
            return _sample(_scrape(cluster, node), "keymgr_requests_total", labels)
        except AssertionError:
            return 0.0  # no such call counted yet

    before = generated()
    worker_before = _audit_lines(audit_dir / "audit-worker1.log")
    calls = 0
    with connections(cluster, node) as channels:
        for _ in range(2):
            for channel in channels:
                keys_stub(channel).GenerateDataKey(
                    keys_pb2.GenerateDataKeyRequest(key_name="counted"), timeout=10
                )
                calls += 1
    served_by_worker = _audit_lines(audit_dir / "audit-worker1.log") - worker_before
    assert served_by_worker > 0  # the kernel gave the worker some of the connections
    eventually(lambda: generated() - before == calls, timeout=10.0)
    text = _scrape(cluster, node)
    count = _sample(text, "keymgr_request_duration_seconds_count", labels)
    assert count - before == calls
    every = 'code="OK",le="+Inf",method="GenerateDataKey"'
    assert _sample(text, "keymgr_request_duration_seconds_bucket", every) == count
