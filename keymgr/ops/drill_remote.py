"""A drill target made of remote nodes, reached only through the gRPC API.

Where a local drill kills the leader's process, a remote one cannot: the fault here is
the leader losing its role through the Operator API (StepDown), which exercises the
same client-side recovery (new leader, failover, retried writes with their request
ids) and the same RPO check, on real deployments, without shell access to the nodes.
Only `leader-loss` is possible remotely; nodes are never stopped.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keymgr.client import Client, Credentials, KeymgrError
from keymgr.ops.devcluster import wait_until_serving
from keymgr.v1 import operator_pb2

STEP_DOWN_RETRY_S = 15.0


@dataclass
class RemoteNode:
    id: str
    api: str
    zone: str


@dataclass
class RemoteSpec:
    nodes: list[RemoteNode]


class RemoteCluster:
    """The subset of LocalCluster a Drill uses, over the network."""

    def __init__(self, endpoints: Sequence[str], credentials: Credentials) -> None:
        self.credentials = credentials
        with Client(list(endpoints), credentials=credentials, timeout=5.0) as client:
            status = client.cluster_status()
        nodes = [RemoteNode(n.node_id, n.api_address, n.zone) for n in status.nodes]
        if not nodes:
            raise KeymgrError("the cluster reported no nodes")
        self.spec = RemoteSpec(nodes)

    def node(self, node_id: str) -> RemoteNode:
        for node in self.spec.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def client(self, node_ids: Sequence[str] | None = None, **kwargs: Any) -> Client:
        ids = node_ids or [n.id for n in self.spec.nodes]
        return Client([self.node(i).api for i in ids], credentials=self.credentials, **kwargs)

    def alive(self, node_id: str) -> bool:
        return True

    def stop(self, node_id: str, *, kill: bool = False) -> None:
        """The remote fault: the leader steps down (its process keeps running).

        Under write load a transfer can find no follower caught up at that instant, or
        be accepted and not take effect; it is retried until another node leads, for a
        few seconds, before the drill gives up."""
        deadline = time.monotonic() + STEP_DOWN_RETRY_S
        endpoint = self.node(node_id).api
        with self.client([node_id], timeout=2.0, attempts=1) as client:
            while True:
                try:
                    client.step_down(endpoint=endpoint)
                    if self._leader_moved_from(client, endpoint, within_s=2.0):
                        return
                except KeymgrError:
                    pass
                if time.monotonic() > deadline:
                    raise KeymgrError(f"{node_id} did not hand over leadership")
                time.sleep(0.05)

    def _leader_moved_from(self, client: Client, endpoint: str, *, within_s: float) -> bool:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            try:
                status = client.local_status(endpoint=endpoint)
                if status.role != operator_pb2.NODE_ROLE_LEADER and status.leader_id:
                    return True
            except KeymgrError:
                pass
            time.sleep(0.02)
        return False

    def start(self, node_id: str) -> None:
        return None  # nothing was stopped

    def start_all(self) -> None:
        raise KeymgrError("full-restart cannot be run against remote nodes")

    def wait_answering(
        self, node_id: str, timeout: float = 30.0
    ) -> operator_pb2.SealStatusResponse:
        deadline = time.monotonic() + timeout
        with self.client([node_id], timeout=1.0, attempts=1) as client:
            while True:
                try:
                    return client.seal_status(endpoint=self.node(node_id).api)
                except KeymgrError:
                    if time.monotonic() > deadline:
                        raise
                time.sleep(0.1)

    def unseal(self, node_id: str, shares: Sequence[str]) -> operator_pb2.SealStatusResponse:
        raise KeymgrError(f"{node_id} is sealed: unseal it before running a remote drill")

    def wait_serving(self, node_ids: Sequence[str] | None = None, timeout: float = 30.0) -> None:
        ids = node_ids or [n.id for n in self.spec.nodes]
        with self.client(timeout=1.0, attempts=1) as client:
            wait_until_serving(client, {i: self.node(i).api for i in ids}, timeout)
