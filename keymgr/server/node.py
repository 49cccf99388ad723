"""The node process: builds the parts from the config, serves until SIGINT/SIGTERM.

Order matters: the config is validated completely before anything binds; the Raft
node starts before the gRPC port opens, so a sealed node still takes part in
consensus; the node seals (drops its root key) on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2_grpc

from keymgr.audit import build_audit_log
from keymgr.config import NodeConfig
from keymgr.listen_limits import NODE_API, raise_open_file_limit
from keymgr.node_errors import NodeError
from keymgr.raft.node import RaftError, RaftNode, RaftSettings
from keymgr.raft.proposer import now_ms
from keymgr.raft.tls import RaftTlsFiles
from keymgr.seal.base import SealedRootKeyStore
from keymgr.seal.controller import SealController, build_seal
from keymgr.server.access_service import AccessServicer
from keymgr.server.context import NodeContext
from keymgr.server.forwarding import internal_socket, internal_target
from keymgr.server.keys_service import KeyManagementServicer
from keymgr.server.logs import JsonFormatter, RequestIdFilter, text_formatter
from keymgr.server.material_expiry import expire_due_material
from keymgr.server.metrics import NodeMetrics, run_observers
from keymgr.server.operator_service import OperatorServicer
from keymgr.server.peers import Peers
from keymgr.server.rotation import rotate_due_keys
from keymgr.server.secrets_service import SecretsServicer
from keymgr.server.tde_service import TdeKeysServicer
from keymgr.server.volume_service import VolumeKeysServicer
from keymgr.server.worker_hub import WorkerHub
from keymgr.server.worker_process import api_server, feed_socket, serve_worker
from keymgr.server.worker_supervisor import WorkerSupervisor
from keymgr.store.keystore import KeyStore
from keymgr.stubs import add_servicers
from keymgr.tls13 import server_credentials
from keymgr.v1 import store_pb2

log = logging.getLogger("keymgr.node")

SCHEDULE_INTERVAL_S = 1.0


def raft_settings(config: NodeConfig) -> RaftSettings:
    raft = config.raft
    return RaftSettings(
        self_address=raft.listen,
        peer_addresses=tuple(p.raft for p in config.peers),
        data_dir=config.node.data_dir / "raft",
        password=raft.password,
        election_timeout_min=raft.election_timeout_min_s,
        election_timeout_max=raft.election_timeout_max_s,
        append_entries_period=raft.append_entries_period_s,
        connection_timeout=raft.connection_timeout_s,
        connection_retry_time=raft.connection_retry_time_s,
        log_compaction_min_entries=raft.log_compaction_min_entries,
        dial_overrides=raft.dial_overrides,
        tls=RaftTlsFiles(cert=config.tls.cert, key=config.tls.key, ca=config.tls.ca),
        node_ids=tuple((m.raft, m.id) for m in config.members()),
    )


def build_node(config: NodeConfig) -> NodeContext:
    data_dir = config.node.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    store = KeyStore()
    raft = RaftNode(raft_settings(config), store)
    auto_seal, retry = build_seal(config)
    seal = SealController(
        store=store, root_store=SealedRootKeyStore(data_dir), auto_seal=auto_seal, retry=retry
    )
    return NodeContext.assemble(
        config,
        store=store,
        raft=raft,
        seal=seal,
        audit=build_audit_log(config, seal.audit_key),
        hsm=seal.hsm,
        metrics=NodeMetrics(config.node.id) if config.metrics.listen else None,
    )


async def run_schedules(node: NodeContext) -> None:
    """Leader duties driven by time: destroy keys whose deletion is due, rotate keys
    whose rotation period has passed, erase imported material whose expiry has passed.
    Time enters the state machine only here. Every node also follows a replicated root
    key rotation here."""
    while True:
        await asyncio.sleep(SCHEDULE_INTERVAL_S)
        with contextlib.suppress(NodeError):
            node.seal.follow_root()  # every node: an idle one must not fall behind
        if node.raft_status().role != "leader" or not node.store.initialized:
            continue
        if node.seal.sealed:
            continue
        due = node.store.deletion_due(now_ms())
        if due:
            with contextlib.suppress(NodeError, RaftError):
                await node.proposer.submit(store_pb2.Command(tick=store_pb2.Tick()))
                log.info("destroyed %d key(s) whose deletion time had passed", due)
        rotated = await rotate_due_keys(node)
        if rotated:
            log.info("rotated %d key(s) on schedule", rotated)
        erased = await expire_due_material(node)
        if erased:
            log.info("erased the expired imported material of %d version(s)", erased)


async def serve(config: NodeConfig, config_path: Path | None = None) -> None:
    node = build_node(config)
    peers = Peers(config)
    workers = config.serving.processes - 1 if config_path is not None else 0
    raise_open_file_limit(NODE_API.max_connections)
    server = api_server(workers + 1)  # bounds and what they defend: keymgr/listen_limits.py
    servicers = {
        "keys": KeyManagementServicer(node),
        "operator": OperatorServicer(node, peers),
        "access": AccessServicer(node),
        "volume": VolumeKeysServicer(node),
        "tde": TdeKeysServicer(node),
        "secrets": SecretsServicer(node),
    }
    add_servicers(server, **servicers)
    hub: WorkerHub | None = None
    internal: grpc.aio.Server | None = None
    supervisor: WorkerSupervisor | None = None
    if workers and config_path is not None:
        data_dir = config.node.data_dir
        calls = node.metrics.calls if node.metrics is not None else None
        hub = WorkerHub(node.raft, node.store, node.seal, feed_socket(config), calls)
        node.raft.set_apply_listener(hub)
        internal = api_server(1)
        add_servicers(internal, **servicers)  # the same servicers: workers relay here
        internal.add_insecure_port(internal_target(data_dir))
        supervisor = WorkerSupervisor(config_path, workers)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if config.api.reflection:
        from grpc_reflection.v1alpha import reflection

        names = ("keymgr.v1.KeyManagement", "keymgr.v1.Operator", "keymgr.v1.Access")
        reflection.enable_server_reflection((*names, reflection.SERVICE_NAME), server)
    tls = config.tls
    server.add_secure_port(config.api.listen, server_credentials(tls.cert, tls.key, tls.ca))
    node.raft.set_identity_resolver(node.member_id_at)
    node.raft.start()
    await asyncio.to_thread(node.seal.try_auto_unseal)  # bounded by the seal's timeout
    node.seal.start_monitor()
    metrics_server = None
    if node.metrics is not None and config.metrics.listen:
        metrics_server = node.metrics.serve(config.metrics.listen)
    await server.start()
    if hub is not None and internal is not None and supervisor is not None:
        await hub.start()
        await internal.start()
        os.chmod(internal_socket(config.node.data_dir), 0o600)
        supervisor.start()
    log.info(
        "node %s serving on %s with %d process(es) (raft %s, seal %s, %s)",
        config.node.id,
        config.api.listen,
        workers + 1,
        config.raft.listen,
        node.seal.seal_type,
        "sealed" if node.seal.sealed else "unsealed",
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    purger = asyncio.create_task(run_schedules(node))
    observer = asyncio.create_task(run_observers(node, health_servicer))
    try:
        await stop.wait()
    finally:
        log.info("node %s stopping", config.node.id)
        purger.cancel()
        observer.cancel()
        await health_servicer.enter_graceful_shutdown()
        if metrics_server is not None:
            metrics_server.shutdown()
        await server.stop(grace=1.0)
        if supervisor is not None:
            await supervisor.stop()
        if internal is not None:
            await internal.stop(grace=0.5)
        if hub is not None:
            await hub.close()
        await peers.close()
        node.seal.stop_monitor()
        node.seal.seal("node stopped")
        node.materials.clear()
        node.raft.close()
        node.audit.close()


def configure_logging(config: NodeConfig) -> None:
    handler: logging.Handler
    if config.logging.file is not None:
        handler = logging.FileHandler(config.logging.file)
    else:
        handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if config.logging.format == "json":
        handler.setFormatter(JsonFormatter(config.node.id))
    else:
        handler.setFormatter(text_formatter(config.node.id))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.logging.level.upper())


# Everything a node writes (journal, dump, sealed root key, audit, logs, sockets) is
# for the service user alone; explicit modes below still say so where it matters.
NODE_UMASK = 0o077


def run(config: NodeConfig, config_path: Path | None = None, worker: int = 0) -> None:
    """Runs the node (its Raft process); with `worker`, that worker process of it.
    Workers are started only when the config file is known (they read it too)."""
    os.umask(NODE_UMASK)
    if worker:
        configure_logging(config)
        asyncio.run(serve_worker(config, worker))
        return
    configure_logging(config)
    asyncio.run(serve(config, config_path))
