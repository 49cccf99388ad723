"""Small waits and lookups shared by the integration tests (all bounded)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from keymgr.client import Client, KeymgrError
from keymgr.ops.devcluster import LocalCluster
from keymgr.v1 import operator_pb2

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
