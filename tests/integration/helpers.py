"""Small waits and lookups shared by the integration tests (all bounded)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from keymgr.client import Client, Credentials, KeymgrError
from keymgr.ops.devcluster import LocalCluster
from keymgr.raft.durable_journal import decode_dump
from keymgr.seal.shamir import ShareCollector
from keymgr.store.keystore import KeyStore
from keymgr.v1 import operator_pb2, store_pb2
from tests.integration.clients_support import agent_cert

T = TypeVar("T")


def eventually(check: Callable[[], T], *, timeout: float = 15.0, interval: float = 0.1) -> T:
    """Calls `check` until it returns a truthy value without raising; bounded."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except (KeymgrError, AssertionError) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last error: {last})")


def leader_id(cluster: LocalCluster, via: list[str] | None = None) -> str:
    """The node id of the current leader, as the cluster reports it."""

    def ask() -> str:
        with cluster.client(via, timeout=2.0) as client:
            status = client.cluster_status()
        leaders = [n.node_id for n in status.nodes if n.role == operator_pb2.NODE_ROLE_LEADER]
        return leaders[0] if len(leaders) == 1 else ""

    return eventually(ask, timeout=20.0)


def node_status(client: Client, endpoint: str) -> operator_pb2.NodeStatus:
    return client.local_status(endpoint=endpoint)


def principal(kind: str, name: str) -> str:
    return f"spiffe://keymgr/{kind}/{name}"


def client_for(cluster: LocalCluster, name: str, kind: str, **kwargs: object) -> Client:
    """A client of every node with the certificate of `name` (issued if missing)."""
    cert, key = agent_cert(cluster, name, kind)
    creds = Credentials(ca=cluster.credentials.ca, cert=cert, key=key)
    return Client([n.api for n in cluster.spec.nodes], credentials=creds, **kwargs)  # type: ignore[arg-type]


def grant(admin: Client, policy: store_pb2.Policy) -> None:
    operation = admin.put_policy(policy)
    assert operation.state == store_pb2.OPERATION_STATE_EXECUTED, operation


def recover_root_key(
    cluster: LocalCluster, shares: Sequence[str], node_id: str = "node1"
) -> tuple[KeyStore, bytes]:
    """(the state in a stopped node's Raft dump, the root key rebuilt from `shares`):
    what a test needs to know every secret it then scans the disks for."""
    dump = decode_dump((cluster.data_dir(node_id) / "raft" / "raft.dump").read_bytes())
    store = KeyStore()
    store.restore(dump.snapshot)
    init = store.init_cluster()
    assert init is not None
    collector = ShareCollector(init)
    for share in shares:
        collector.submit(share)
    return store, bytes(collector.take_root_key())
