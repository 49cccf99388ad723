"""The operator RPCs about this node's root key: init, unseal, seal, keyring and root
rotation, seal migration. Part of `OperatorServicer` (a mixin: one servicer is
registered); the root key itself lives in `keymgr.seal.controller`."""

from __future__ import annotations

import asyncio
import secrets
import uuid

import grpc

from keymgr.crypto.aead import wipe
from keymgr.crypto.barrier import wrap_term_key
from keymgr.node_errors import Conflict, FailedPrecondition, InvalidArgument
from keymgr.raft.proposer import now_ms
from keymgr.seal.shamir import new_shamir_init
from keymgr.server import migration, validation
from keymgr.server.auth import caller_of
from keymgr.server.context import NodeContext
from keymgr.server.root_rotation import request_root_rotation
from keymgr.server.rotation import attempt_id
from keymgr.server.rpc import rpc
from keymgr.v1 import operator_pb2, store_pb2


def seal_status(node: NodeContext) -> operator_pb2.SealStatusResponse:
    """This node's seal state, the answer of every call that changes it."""
    init = node.store.init_cluster()
    return operator_pb2.SealStatusResponse(
        node_id=node.config.node.id,
        initialized=init is not None,
        sealed=node.seal.sealed,
        seal_type=node.seal.seal_type,
        threshold=init.secret_threshold if init else 0,
        shares=init.secret_shares if init else 0,
        progress=node.seal.progress,
        reason=node.seal.reason if node.seal.sealed else "",
        seal_error=node.seal.seal_error,
        root_generation=init.root_generation if init else 0,
    )


class SealRpcs:
    _node: NodeContext

    @rpc
    async def Init(
        self, request: operator_pb2.InitRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.InitResponse:
        caller = caller_of(context)
        shares = request.secret_shares or 5
        threshold = request.secret_threshold or min(3, shares)
        if not 1 <= shares <= 16:
            raise InvalidArgument("secret_shares", f"must be between 1 and 16, got {shares}")
        if not 1 <= threshold <= shares:
            raise InvalidArgument(
                "secret_threshold", f"must be between 1 and secret_shares ({shares})"
            )
        approvals = request.approvals_required or 1
        if approvals > 1:
            raise InvalidArgument(
                "approvals_required",
                "must be 1 at init: there is one admin; raise it with "
                "`keymgr approvals rule` after adding admins",
            )
        if self._node.store.initialized:
            raise FailedPrecondition("cluster is already initialized")
        root = bytearray(secrets.token_bytes(32))
        try:
            texts, wrapped_root, digests = new_shamir_init(bytes(root), shares, threshold)
            first_term = store_pb2.KeyringTerm(
                term=1,
                wrapped_key=wrap_term_key(bytes(root), 1, secrets.token_bytes(32)),
                created_at_ms=now_ms(),
            )
            command = store_pb2.Command(
                request_id=uuid.uuid4().hex,
                principal=caller.principal,
                init_cluster=store_pb2.InitCluster(
                    shamir_wrapped_root_key=wrapped_root,
                    secret_shares=shares,
                    secret_threshold=threshold,
                    admins=[caller.principal],
                    first_term=first_term,
                    share_digests=digests,
                    approvals_required=approvals,
                ),
            )
            try:
                await self._node.proposer.submit(command)
            except Exception:
                wipe(root)
                raise
        except (ValueError, TypeError) as exc:
            raise InvalidArgument("secret_shares", str(exc)) from exc
        await asyncio.to_thread(self._node.seal.install_new_root_key, root)
        return operator_pb2.InitResponse(
            unseal_shares=texts, secret_threshold=threshold, root_admin=caller.principal
        )

    @rpc
    async def Unseal(
        self, request: operator_pb2.UnsealRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.SealStatusResponse:
        caller_of(context)
        if request.reset:
            self._node.seal.reset_shares()
        if request.share:
            await asyncio.to_thread(self._node.seal.submit_share, request.share.strip())
        elif not request.reset:
            raise InvalidArgument("share", "must not be empty")
        return seal_status(self._node)

    @rpc
    async def Seal(
        self, request: operator_pb2.SealRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.SealStatusResponse:
        self._node.admin_caller(context)
        self._node.seal.seal()
        self._node.materials.clear()
        return seal_status(self._node)

    @rpc
    async def SealStatus(
        self, request: operator_pb2.SealStatusRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.SealStatusResponse:
        caller_of(context)
        return seal_status(self._node)

    @rpc
    async def RotateKeyring(
        self, request: operator_pb2.RotateKeyringRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.RotateKeyringResponse:
        caller = self._node.admin_caller(context)
        rid = validation.request_id_or_new(request.request_id)  # checked before proposing
        for attempt in range(5):
            self._node.check_serving()
            root, generation = self._node.seal.current_root_key()
            term = self._node.store.active_term + 1
            command = store_pb2.Command(
                request_id=attempt_id(rid, attempt),
                principal=caller.principal,
                rotate_keyring=store_pb2.RotateKeyring(
                    new_term=store_pb2.KeyringTerm(
                        term=term,
                        wrapped_key=wrap_term_key(root, term, secrets.token_bytes(32)),
                        created_at_ms=now_ms(),
                    ),
                    root_generation=generation,
                ),
            )
            try:
                result = await self._node.proposer.submit(command)
            except Conflict:
                continue
            return operator_pb2.RotateKeyringResponse(active_term=result.keyring_term)
        raise Conflict("keyring is being rotated concurrently; retry")

    @rpc
    async def RotateRoot(
        self, request: operator_pb2.RotateRootRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.RotateRootResponse:
        caller = self._node.admin_caller(context)
        return await request_root_rotation(self._node, caller, request)

    @rpc
    async def RequestSealMigration(
        self,
        request: operator_pb2.RequestSealMigrationRequest,
        context: grpc.aio.ServicerContext,
    ) -> operator_pb2.RequestSealMigrationResponse:
        caller = self._node.admin_caller(context)
        return await migration.request_migration(self._node, caller, request)

    @rpc
    async def MigrateSeal(
        self, request: operator_pb2.MigrateSealRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.SealStatusResponse:
        caller = self._node.admin_caller(context)
        await migration.migrate(self._node, caller, request.migration_id)
        return seal_status(self._node)
