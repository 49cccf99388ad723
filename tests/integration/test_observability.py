"""Metrics are scraped over HTTP; the gRPC health service follows the seal."""

from __future__ import annotations

import json
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from keymgr.ops.devcluster import LocalCluster
from tests.integration.conftest import MakeCluster
from tests.integration.helpers import eventually


def _scrape(cluster: LocalCluster, node_id: str) -> str:
    url = f"http://{cluster.node(node_id).metrics}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text: str = response.read().decode()
    return text


def _sample(text: str, name: str, labels: str = "") -> float:
    prefix = f"{name}{{{labels}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    raise AssertionError(f"{prefix!r} not in the scrape")


def _health(cluster: LocalCluster, node_id: str, service: str = "") -> int:
    creds = cluster.credentials.channel_credentials()
    with grpc.secure_channel(cluster.node(node_id).api, creds) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    status: int = response.status
    return status


def test_metrics_scraped_and_health_follows_seal(make_cluster: MakeCluster) -> None:
    cluster = make_cluster()
    shares = cluster.bring_up()
    with cluster.client() as client:
        key = client.create_key("metrics-key")
        blob = client.encrypt(key.name, b"hello")
        assert client.decrypt(blob) == b"hello"
    node_id = cluster.spec.nodes[1].id

    def scraped() -> str:
        text = _scrape(cluster, "node1") + _scrape(cluster, node_id)
        assert 'keymgr_requests_total{code="OK",method="CreateKey"}' in text
        assert "keymgr_keys" in text and 'state="enabled"' in text
        return text

    text = eventually(scraped, timeout=10)
    assert 'keymgr_request_duration_seconds_bucket{code="OK",le=' in text

    def gauges_show_a_serving_node() -> bool:
        # gauges are sampled every OBSERVE_INTERVAL_S, so a scrape may trail by one tick
        text = _scrape(cluster, node_id)
        return (
            _sample(text, "keymgr_raft_term") >= 1
            and _sample(text, "keymgr_raft_leader_commit_index") >= 1
            and _sample(text, "keymgr_raft_lag_entries") == 0
            and 0
            <= _sample(text, "keymgr_raft_seconds_since_caught_up")
            <= cluster.spec.max_staleness_s
            and _sample(text, "keymgr_serving") == 1
            and _sample(text, "keymgr_sealed") == 0
            and _sample(text, "keymgr_audit_healthy") == 1
        )

    eventually(gauges_show_a_serving_node, timeout=5)
    with cluster.client([node_id]) as client:
        assert not client.seal_status(endpoint=cluster.node(node_id).api).sealed

    serving = health_pb2.HealthCheckResponse.SERVING
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    eventually(lambda: _health(cluster, node_id) == serving, timeout=10)
    with cluster.client([node_id]) as client:
        client.seal(endpoint=cluster.node(node_id).api)
    eventually(lambda: _health(cluster, node_id) == not_serving, timeout=10)
    assert _health(cluster, node_id, "keymgr.v1.KeyManagement") == not_serving
    eventually(lambda: _sample(_scrape(cluster, node_id), "keymgr_sealed") == 1, timeout=5)
    cluster.unseal(node_id, shares[:2])
    eventually(lambda: _health(cluster, node_id) == serving, timeout=10)


def test_json_logs_carry_request_id(make_cluster: MakeCluster) -> None:
    cluster = make_cluster(("file",))
    cluster.prepare()
    path = cluster.config_path("node1")
    path.write_text(path.read_text().replace("level: info", "level: debug\n  format: json"))
    cluster.start_all()
    cluster.wait_answering("node1")
    cluster.init(shares=1, threshold=1)
    cluster.wait_serving()
    with cluster.client() as client:
        client.create_key("json-logs", request_id="rid-json-logs-1")
    lines = [json.loads(line) for line in cluster.log_path("node1").read_text().splitlines()]
    assert all({"time", "level", "node", "logger", "message"} <= set(e) for e in lines)
    assert any(
        e.get("request_id") == "rid-json-logs-1" and "CreateKey -> OK" in e["message"]
        for e in lines
    )
