"""A worker process: one more serving process on the node's API port.

One Python process runs on one core (the GIL), so a node runs `serving.processes`
processes that all accept on the API port (SO_REUSEPORT): the Raft process and its
workers. A worker holds a replica of the applied state (`worker_replica`), the root key
its Raft process pushed, its own material cache and its own audit chain
(`audit-worker<N>.log`: one hash chain per process, so no line waits for another
process; `keymgr audit verify` checks each chain). It serves the key, TDE and volume
services itself (writes are proposed through the Raft process) and relays Operator
and Access calls to the Raft process (`forwarding`). It exits when the Raft process
goes away; the Raft process restarts a worker that exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
from pathlib import Path
from typing import cast

import grpc
from grpc_health.v1 import health, health_pb2_grpc

from keymgr.audit import build_audit_log
from keymgr.config import AuditFileConfig, NodeConfig
from keymgr.listen_limits import NODE_API, raise_open_file_limit
from keymgr.raft.node import RaftNode
from keymgr.seal.base import SealedRootKeyStore
from keymgr.seal.controller import SealController, build_seal
from keymgr.seal.pkcs11 import Pkcs11Seal
from keymgr.server.context import NodeContext
from keymgr.server.forwarding import ForwardingHandler, internal_target
from keymgr.server.keys_service import KeyManagementServicer
from keymgr.server.metrics import run_observers
from keymgr.server.secrets_service import SecretsServicer
from keymgr.server.tde_service import TdeKeysServicer
from keymgr.server.volume_service import VolumeKeysServicer
from keymgr.server.worker_replica import WorkerReplica
from keymgr.store.keystore import KeyStore
from keymgr.stubs import add_local_servicers
from keymgr.tls13 import server_credentials

log = logging.getLogger("keymgr.worker")

READY_TIMEOUT_S = 30.0


def feed_socket(config: NodeConfig) -> Path:
    """The unix socket a node's Raft process feeds its workers on (`worker_hub`)."""
    return config.node.data_dir / "workers.sock"


def api_server(processes: int) -> grpc.aio.Server:
    """The gRPC server of every serving process of a node (several share the port when
    `processes` > 1), with the listener bounds of `keymgr/listen_limits.py`."""
    return grpc.aio.server(
        options=[*NODE_API.options(), ("grpc.so_reuseport", int(processes > 1))],
        maximum_concurrent_rpcs=NODE_API.max_concurrent_rpcs,
    )


def worker_audit_config(config: NodeConfig, number: int) -> NodeConfig:
    """The worker's own chain: `<name>-worker<N><suffix>` next to the node's file, and
    `<node>/worker<N>` as the node id in its lines (syslog readers tell them apart)."""
    audit = config.audit
    file = audit.file
    if file is None and audit.syslog is None:
        file = AuditFileConfig(path=config.node.data_dir / "audit" / "audit.log")
    if file is not None:
        path = file.path.with_name(f"{file.path.stem}-worker{number}{file.path.suffix}")
        file = dataclasses.replace(file, path=path)
    return dataclasses.replace(
        config,
        node=dataclasses.replace(config.node, id=f"{config.node.id}/worker{number}"),
        audit=dataclasses.replace(audit, file=file),
    )


def build_worker(config: NodeConfig, number: int) -> tuple[NodeContext, WorkerReplica]:
    store = KeyStore()
    own_seal, retry = build_seal(config)
    hsm = own_seal if isinstance(own_seal, Pkcs11Seal) else None  # HSM keys: own session
    seal = SealController(
        store=store,
        root_store=SealedRootKeyStore(config.node.data_dir),
        auto_seal=None,
        retry=retry,
    )
    replica = WorkerReplica(store, seal, feed_socket(config))
    node = NodeContext.assemble(
        config,
        store=store,
        raft=cast(RaftNode, replica),  # the services use only the surface the replica has
        seal=seal,
        audit=build_audit_log(worker_audit_config(config, number), seal.audit_key),
        hsm=lambda: hsm,
    )
    return node, replica


async def serve_worker(config: NodeConfig, number: int) -> None:
    node, replica = build_worker(config, number)
    feed = asyncio.create_task(replica.run())
    ready = asyncio.create_task(replica.ready.wait())
    await asyncio.wait({feed, ready}, timeout=READY_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
    if not replica.ready.is_set():
        ready.cancel()
        feed.cancel()
        raise SystemExit(f"worker {number}: no state from the Raft process")
    internal = grpc.aio.insecure_channel(internal_target(config.node.data_dir))
    raise_open_file_limit(NODE_API.max_connections)
    server = api_server(config.serving.processes)
    add_local_servicers(
        server,
        keys=KeyManagementServicer(node),
        volume=VolumeKeysServicer(node),
        tde=TdeKeysServicer(node),
        secrets=SecretsServicer(node),  # reads from the replica, writes via the Raft process
    )
    server.add_generic_rpc_handlers([ForwardingHandler(internal)])
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    tls = config.tls
    server.add_secure_port(config.api.listen, server_credentials(tls.cert, tls.key, tls.ca))
    await server.start()
    observer = asyncio.create_task(run_observers(node, health_servicer))
    log.info("worker %d of node %s serving on %s", number, config.node.id, config.api.listen)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    lost = asyncio.create_task(replica.lost.wait())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({lost, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        lost.cancel()
        stopping.cancel()
        observer.cancel()
        await health_servicer.enter_graceful_shutdown()
        await server.stop(grace=1.0)
        feed.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feed
        await internal.close()
        node.seal.seal("worker stopped")
        node.materials.clear()
        node.audit.close()
