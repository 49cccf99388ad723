"""Erasing imported material at its expiry (AWS KMS `ValidTo`), on the leader's schedule.

The store indexes keys by their next expiry (`KeyStore.expiries_due`, the same due-time
index the rotation scheduler uses), so a round costs O(due). For each due version the
leader proposes ExpireMaterial under the request id `expire-material/<key>/v<N>/<ms>`:
however often a leader (or a new one after a failover) tries, the erasure of one expiry
happens once, and the state machine refuses it if the command's time is before the
expiry. Each erasure gets an audit line (principal `scheduler`). Until it is applied,
every serving node already refuses the version by its own clock (`MaterialCache`).
"""

from __future__ import annotations

import logging
import time

from keymgr.audit import AuditEvent, AuditUnavailable
from keymgr.node_errors import NodeError
from keymgr.raft.node import RaftError
from keymgr.raft.proposer import now_ms
from keymgr.server.context import NodeContext
from keymgr.server.rotation import SCHEDULER
from keymgr.v1 import store_pb2

log = logging.getLogger(__name__)

EXPIRIES_PER_ROUND = 1000
OPERATION = "ExpireImportedMaterial"


def request_id(key_id: str, version: int, expires_at_ms: int) -> str:
    """One id per (version, expiry): a re-import with a new expiry gets a new one."""
    return f"expire-material/{key_id}/v{version}/{expires_at_ms}"


async def expire_due_material(node: NodeContext) -> int:
    """Leader only: erases every imported version whose expiry has passed; returns how
    many were erased."""
    erased = 0
    for key, version in node.store.expiries_due(now_ms(), EXPIRIES_PER_ROUND):
        expires_at_ms = key.versions[version - 1].expires_at_ms
        command = store_pb2.Command(
            request_id=request_id(key.id, version, expires_at_ms),
            principal=SCHEDULER,
            expire_material=store_pb2.ExpireMaterial(key_id=key.id, version=version),
        )
        started = time.perf_counter()
        try:
            await node.proposer.submit(command)
        except (NodeError, RaftError) as exc:
            log.warning("erasing expired material of key %s v%d failed: %s", key.id, version, exc)
            continue
        erased += 1
        _audit(node, key.id, version, expires_at_ms, started)
    return erased


def _audit(
    node: NodeContext, key_id: str, version: int, expires_at_ms: int, started: float
) -> None:
    try:
        node.audit.log(
            AuditEvent(
                principal=SCHEDULER,
                operation=OPERATION,
                result="OK",
                latency_ms=(time.perf_counter() - started) * 1000,
                key_id=key_id,
                key_version=version,
                detail=f"imported material erased: it expired at {expires_at_ms} ms",
            )
        )
    except AuditUnavailable:
        log.error("audit log unavailable: erasure of key %s v%d not recorded", key_id, version)
