"""Seal migration: a node moves its own copy of the root key to another seal, live.

An admin requests it for one node and target type (approval kind `migrate-seal`, M of
N admins). Once approved, the admin edits that node's `seal:` config and calls
MigrateSeal on the node. The node re-reads its config, wraps the root key it holds with
the new seal and checks that it unwraps (so a broken HSM costs nothing), records the
migration as used through Raft (once), then stores the new blob and switches seals.
It never goes sealed, and the other nodes are not involved, so nothing stops serving.
Moving to Shamir deletes the stored blob: after its next restart the node needs shares
(or a secure join). The old HSM key is left in its token for the operator to retire.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from pathlib import Path

from keymgr.config import ConfigError, load_config
from keymgr.node_errors import FailedPrecondition, InvalidArgument, NotFound
from keymgr.seal.controller import build_seal
from keymgr.server.approvals import (
    NODE_OP_MAX_TTL_S,
    NODE_OP_TTL_S,
    expiry_ms,
    request_approval,
)
from keymgr.server.auth import Caller
from keymgr.server.context import NodeContext
from keymgr.store.access import SEAL_TYPES, state_word
from keymgr.v1 import operator_pb2, store_pb2


async def request_migration(
    node: NodeContext, caller: Caller, request: operator_pb2.RequestSealMigrationRequest
) -> operator_pb2.RequestSealMigrationResponse:
    member = node.member(request.node_id)
    if member is None:
        raise InvalidArgument("node_id", f"{request.node_id!r} is not a member of this cluster")
    if request.to_type not in SEAL_TYPES:
        raise InvalidArgument("to_type", f"one of {', '.join(sorted(SEAL_TYPES))}")
    expires = expiry_ms(request.ttl_seconds, default_s=NODE_OP_TTL_S, max_s=NODE_OP_MAX_TTL_S)
    migration_id = uuid.uuid4().hex[:16]
    operation = await request_approval(
        node,
        caller,
        "authorize_seal_migration",
        store_pb2.AuthorizeSealMigration(
            migration_id=migration_id,
            node_id=member.id,
            to_type=request.to_type,
            expires_at_ms=expires,
        ),
        expires_at_ms=expires,
        operation_id=migration_id,
        summary=f"migrate the seal of node {member.id!r} to {request.to_type}",
    )
    return operator_pb2.RequestSealMigrationResponse(
        migration_id=migration_id, operation_state=state_word(operation.state)
    )


async def migrate(node: NodeContext, caller: Caller, migration_id: str) -> None:
    me = node.config.node.id
    await node.read_barrier()  # see an approval committed through another node
    auth = node.store.access.seal_migrations.get(migration_id)
    if auth is None or auth.authorization.node_id != me:
        raise NotFound(f"migration_id: no approved seal migration {migration_id!r} for {me}")
    if auth.used:
        raise FailedPrecondition("seal migration was already done")
    try:
        config = load_config(Path(node.config.source))
    except ConfigError as exc:
        raise FailedPrecondition(f"cannot re-read the node config: {exc}") from exc
    target = auth.authorization.to_type
    if config.seal.type != target:
        raise FailedPrecondition(
            f"the approved migration is to {target}, but {node.config.source} has seal.type "
            f"{config.seal.type}: edit the config first"
        )
    try:
        new_seal, retry = build_seal(config)
    except ValueError as exc:
        raise FailedPrecondition(f"cannot set up the new seal: {exc}") from exc
    wrapped, generation = await asyncio.to_thread(node.seal.prepare_migration, new_seal)
    await node.proposer.submit(
        store_pb2.Command(
            request_id=f"migrate-{migration_id}",
            principal=caller.principal,
            consume_seal_migration=store_pb2.ConsumeSealMigration(
                migration_id=migration_id, node_id=me
            ),
        )
    )
    await asyncio.to_thread(
        node.seal.commit_migration, new_seal, wrapped, retry, generation=generation
    )
    node.config = dataclasses.replace(node.config, seal=config.seal)
