"""Prometheus metrics and the gRPC health status of one node.

Request counts and latencies are recorded by the `@rpc` wrapper, next to the audit
line, so every method is covered and the numbers match the audit log; worker processes
push theirs to the Raft process (`request_tally`), so a node's counts cover every
process serving on its port. Gauges (Raft,
seal, audit, key counts) are sampled by `run_observers`, a periodic task, rather than
pushed from the Raft thread: the tick thread must never wait on anything.

Each node has its own registry (not the process-global one) so tests that build
several nodes in one process do not collide. It is served by `keymgr.bounded_http`
(GET /metrics, at most 64 connections, a request head within 10 s), not
prometheus_client's server, whose threads waited on an idle client for ever.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

from keymgr.bounded_http import BoundedHttpServer, Request, Response
from keymgr.listen_limits import METRICS
from keymgr.server.read_gate import lag_entries
from keymgr.server.request_tally import RequestTally

if TYPE_CHECKING:
    from keymgr.server.context import NodeContext

log = logging.getLogger(__name__)

OBSERVE_INTERVAL_S = 0.25


class NodeMetrics:
    """The node's metric families, in a registry of its own."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # counts and latencies of this process's calls and its workers' (pushed rows)
        self.calls = RequestTally()
        r.register(self.calls)
        self.raft_term = Gauge("keymgr_raft_term", "Current Raft term", registry=r)
        self.raft_commit = Gauge("keymgr_raft_commit_index", "Raft commit index", registry=r)
        self.raft_applied = Gauge("keymgr_raft_applied_index", "Raft applied index", registry=r)
        self.raft_leader_commit = Gauge(
            "keymgr_raft_leader_commit_index",
            "The leader's commit index as last heard (the own one on a leader)",
            registry=r,
        )
        self.raft_lag = Gauge(
            "keymgr_raft_lag_entries", "Leader's commit index minus applied index", registry=r
        )
        self.raft_staleness = Gauge(
            "keymgr_raft_seconds_since_caught_up",
            "Seconds since this node last confirmed it applied all the leader committed "
            "(+Inf if never); the read gate refuses above serving.max_staleness_s",
            registry=r,
        )
        self.raft_leader = Gauge("keymgr_raft_is_leader", "1 if this node leads", registry=r)
        self.raft_has_leader = Gauge(
            "keymgr_raft_has_leader", "1 if this node is in contact with a leader", registry=r
        )
        self.raft_peers = Gauge("keymgr_raft_peers", "Other Raft members known", registry=r)
        self.raft_peers_connected = Gauge(
            "keymgr_raft_peers_connected", "Other Raft members connected", registry=r
        )
        self.leader_changes = Counter(
            "keymgr_raft_leader_changes", "Leader changes seen by this node", registry=r
        )
        self.sealed = Gauge("keymgr_sealed", "1 while the node is sealed", registry=r)
        self.serving = Gauge("keymgr_serving", "1 while the node serves crypto calls", registry=r)
        self.audit_healthy = Gauge("keymgr_audit_healthy", "1 while audit writes", registry=r)
        self.audit_failures = Gauge(
            "keymgr_audit_failures", "Audit write failures since start", registry=r
        )
        self.keys = Gauge("keymgr_keys", "Managed keys by state", ["state"], registry=r)
        self._leader: str | None = None

    def observe_request(self, method: str, code: str, seconds: float) -> None:
        self.calls.observe(method, code, seconds)

    def answer(self, request: Request) -> Response:
        """GET /metrics (or /): the registry in Prometheus text format."""
        if request.method != "GET":
            return Response(405, b"GET only\n", content_type="text/plain")
        if request.target.partition("?")[0] not in ("/metrics", "/"):
            return Response(404, b"try /metrics\n", content_type="text/plain")
        return Response(200, generate_latest(self.registry), content_type=CONTENT_TYPE_LATEST)

    def serve(self, listen: str) -> BoundedHttpServer:
        """Starts the HTTP listener on a thread; returns the server (`shutdown` on stop)."""
        host, _, port = listen.rpartition(":")
        server = BoundedHttpServer(
            (host.strip("[]"), int(port)), self.answer, METRICS, name="metrics"
        )
        threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
        return server

    def sample(self, node: NodeContext) -> None:
        """Reads the node's state into the gauges (cheap; runs on the event loop).
        Seal and audit first: they never depend on Raft answering."""
        self.sealed.set(1 if node.seal.sealed else 0)
        self.audit_healthy.set(1 if node.audit.healthy else 0)
        self.audit_failures.set(node.audit.failures)
        status = node.raft.status()
        self.raft_term.set(status.term)
        self.raft_commit.set(status.commit_index)
        self.raft_applied.set(status.applied_index)
        self.raft_leader_commit.set(status.leader_commit_index)
        self.raft_lag.set(lag_entries(status))
        self.raft_staleness.set(status.seconds_since_caught_up)
        self.raft_leader.set(1 if status.role == "leader" else 0)
        silence = node.config.serving.max_leader_silence_s
        in_contact = status.leader_address is not None and (
            status.seconds_since_leader_contact <= silence
        )
        self.raft_has_leader.set(1 if in_contact else 0)
        self.raft_peers.set(len(status.peers))
        self.raft_peers_connected.set(sum(1 for p in status.peers.values() if p.connected))
        if status.leader_address is not None and status.leader_address != self._leader:
            if self._leader is not None:
                self.leader_changes.inc()
            self._leader = status.leader_address
        self.serving.set(0 if node.serving_reason() else 1)
        for state, count in node.store.key_counts().items():  # O(1): kept by apply
            self.keys.labels(state).set(count)


def health_serving(node: NodeContext) -> bool:
    """SERVING only when unsealed and in contact with a leader (and otherwise able)."""
    status = node.raft.status()
    if status.leader_address is None:
        return False
    return not node.serving_reason()


async def run_observers(node: NodeContext, health: Any | None) -> None:
    """Samples metrics and sets the gRPC health status, forever (cancel to stop)."""
    from grpc_health.v1 import health_pb2

    last: bool | None = None
    while True:
        try:
            if node.metrics is not None:
                node.metrics.sample(node)
            serving = health_serving(node)
            if health is not None and serving != last:
                state = (
                    health_pb2.HealthCheckResponse.SERVING
                    if serving
                    else health_pb2.HealthCheckResponse.NOT_SERVING
                )
                for service in ("", "keymgr.v1.KeyManagement", "keymgr.v1.Operator"):
                    await health.set(service, state)
                last = serving
        except Exception:
            log.exception("metrics/health sampling failed")
        await asyncio.sleep(OBSERVE_INTERVAL_S)
