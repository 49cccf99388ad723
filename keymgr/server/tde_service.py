"""TdeKeys: database master keys for transparent data encryption.

A master key is HKDF-SHA256(material of a managed key version, info
"keymgr/tde/<db_id>/<key name>"): the managed key's material never leaves the cluster,
each database gets an independent key from the same managed key, and a key version
maps one-to-one to a master key version (what MariaDB's key-version model expects).
GetMasterKey needs operation "tde" with {db_id} as the policy context.
"""

from __future__ import annotations

import grpc

from keymgr.node_errors import FailedPrecondition, NotFound
from keymgr.server import rotation, validation
from keymgr.server.audit_target import note_context, note_key
from keymgr.server.auth import caller_of
from keymgr.server.context import NodeContext
from keymgr.server.crypto_ops import require_enabled
from keymgr.server.rpc import rpc
from keymgr.v1 import keys_pb2, tde_pb2


def master_key_info(db_id: str, key_name: str) -> bytes:
    return f"keymgr/tde/{db_id}/{key_name}".encode()


class TdeKeysServicer:
    def __init__(self, node: NodeContext) -> None:
        self._node = node

    @rpc
    async def GetMasterKey(
        self, request: tde_pb2.GetMasterKeyRequest, context: grpc.aio.ServicerContext
    ) -> tde_pb2.GetMasterKeyResponse:
        caller = caller_of(context)
        validation.identifier("db_id", request.db_id)
        ctx = {"db_id": request.db_id}
        note_context(ctx)
        validation.key_name("key_id", request.key_id)
        self._node.check_serving()
        stored = self._node.find_key("key_id", request.key_id)
        self._node.authorize(caller, "tde", stored.key.name, ctx)
        require_enabled(stored)
        if stored.key.purpose != keys_pb2.KEY_PURPOSE_TDE:
            raise FailedPrecondition(f"key_id: key {stored.key.name!r} is not a TDE key")
        current = stored.key.current_version
        version = request.version or current
        if version > current:
            raise NotFound(f"version: key {stored.key.name!r} has no version {version}")
        if version < stored.key.min_decryption_version:
            raise FailedPrecondition(
                f"version: key {stored.key.name!r} no longer serves version {version} "
                f"(minimum {stored.key.min_decryption_version})"
            )
        note_key(stored.key.id, version)
        master = self._node.materials.derive(
            stored, version, master_key_info(request.db_id, stored.key.name)
        )
        return tde_pb2.GetMasterKeyResponse(
            master_key=master,
            key_id=stored.key.id,
            key_name=stored.key.name,
            version=version,
            current_version=current,
        )

    @rpc
    async def RotateMasterKey(
        self, request: tde_pb2.RotateMasterKeyRequest, context: grpc.aio.ServicerContext
    ) -> tde_pb2.RotateMasterKeyResponse:
        caller = caller_of(context)
        validation.key_name("key_id", request.key_id)
        self._node.check_serving()
        stored = self._node.find_key("key_id", request.key_id)
        self._node.authorize(caller, "manage", stored.key.name)
        if stored.key.purpose != keys_pb2.KEY_PURPOSE_TDE:
            raise FailedPrecondition(f"key_id: key {stored.key.name!r} is not a TDE key")
        request_id = validation.request_id_or_new(request.request_id)
        key = await rotation.rotate(
            self._node, stored.key.id, principal=caller.principal, request_id=request_id
        )
        note_key(key.id, key.current_version)
        return tde_pb2.RotateMasterKeyResponse(key_id=key.id, version=key.current_version)
