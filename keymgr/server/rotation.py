"""Key rotation: on request, and on schedule by the leader.

The proposer makes the new version's material and binds the version number into its
wrap, so a lost race (CONFLICT) is retried with fresh state under a derived request id
(`<id>/retry-N`), which a client retry replays exactly. Scheduled rotations use the
request id `auto-rotate/<key id>/v<version>`: however often a leader (or a new leader
after a failover) tries, each version is made once.
"""

from __future__ import annotations

import logging
import secrets

from keymgr.crypto.barrier import Keyring, material_aad
from keymgr.node_errors import Conflict, NodeError
from keymgr.raft.node import RaftError
from keymgr.raft.proposer import now_ms
from keymgr.server.context import NodeContext
from keymgr.v1 import keys_pb2, store_pb2

log = logging.getLogger(__name__)

MATERIAL_BYTES = 32
ROTATE_ATTEMPTS = 5
SCHEDULER = "scheduler"


def attempt_id(request_id: str, attempt: int) -> str:
    """Deterministic ids for internal retries, so a client retry replays them all."""
    return request_id if attempt == 0 else f"{request_id}/retry-{attempt}"


def new_wrapped_material(keyring: Keyring, key_id: str, version: int) -> bytes:
    """Fresh material for a key version, barrier-encrypted before it goes to Raft."""
    return keyring.encrypt(secrets.token_bytes(MATERIAL_BYTES), material_aad(key_id, version))


async def rotate(
    node: NodeContext,
    name_or_id: str,
    *,
    principal: str,
    request_id: str,
    expected_version: int | None = None,
) -> keys_pb2.Key:
    """Adds a version to the key; `expected_version` stops at a version made meanwhile."""
    for attempt in range(ROTATE_ATTEMPTS):
        keyring = node.check_serving()
        stored = node.find_key("name_or_id", name_or_id)
        if expected_version is not None and stored.key.current_version != expected_version:
            return stored.key
        version = stored.key.current_version + 1
        command = store_pb2.Command(
            request_id=attempt_id(request_id, attempt),
            principal=principal,
            rotate_key=store_pb2.RotateKey(
                key_id=stored.key.id,
                new_version=version,
                wrapped_material=new_wrapped_material(keyring, stored.key.id, version),
            ),
        )
        try:
            return await node.proposer.submit_for_key(command)
        except Conflict:
            continue
    raise Conflict("key is being rotated concurrently; retry")


ROTATIONS_PER_ROUND = 1000


def rotation_due(node: NodeContext, now: int) -> list[keys_pb2.Key]:
    """Enabled keys whose newest version is older than their rotation period (from the
    store's due-time index: O(due), not O(keys); the rest wait for the next round)."""
    return node.store.rotations_due(now, ROTATIONS_PER_ROUND)


async def rotate_due_keys(node: NodeContext) -> int:
    """Leader only: rotates every key that is due; returns how many were rotated."""
    rotated = 0
    for key in rotation_due(node, now_ms()):
        version = key.current_version
        try:
            await rotate(
                node,
                key.id,
                principal=SCHEDULER,
                expected_version=version,
                request_id=f"auto-rotate/{key.id}/v{version + 1}",
            )
            rotated += 1
        except (NodeError, RaftError) as exc:
            log.warning("scheduled rotation of key %s failed: %s", key.id, exc)
    return rotated
