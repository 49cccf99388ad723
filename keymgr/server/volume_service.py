"""VolumeKeys: per-volume keys for disk encryption agents, served from applied state.

A volume key is 32 random bytes made here, returned in the clear once (to the agent
that formats the disk) and wrapped under a managed key with {volume_id, host_id} bound
as the encryption context. Unwrapping needs operation "volume" on the key with that
same context, so a policy such as `required_context: {volume_id: "${principal.name}"}`
confines an agent to its own volume; a wrap moved to another volume does not open.
"""

from __future__ import annotations

import secrets

import grpc

from keymgr.node_errors import FailedPrecondition
from keymgr.server import validation
from keymgr.server.audit_target import note_context
from keymgr.server.auth import caller_of
from keymgr.server.context import NodeContext
from keymgr.server.crypto_ops import open_envelope, require_enabled, seal_under_current
from keymgr.server.rpc import rpc
from keymgr.v1 import keys_pb2, volume_pb2

VOLUME_KEY_BYTES = 32
_PURPOSES = (
    keys_pb2.KEY_PURPOSE_VOLUME,
    keys_pb2.KEY_PURPOSE_ENCRYPT,
    keys_pb2.KEY_PURPOSE_UNSPECIFIED,
)


def volume_context(volume_id: str, host_id: str) -> dict[str, str]:
    """The context bound into every wrap (and checked by policies); validated."""
    validation.identifier("volume_id", volume_id)
    if host_id:
        validation.identifier("host_id", host_id)
    context = {"volume_id": volume_id, "host_id": host_id}
    note_context(context)
    return context


class VolumeKeysServicer:
    def __init__(self, node: NodeContext) -> None:
        self._node = node

    @rpc
    async def CreateVolumeKey(
        self, request: volume_pb2.CreateVolumeKeyRequest, context: grpc.aio.ServicerContext
    ) -> volume_pb2.CreateVolumeKeyResponse:
        caller = caller_of(context)
        ctx = volume_context(request.volume_id, request.host_id)
        validation.key_name("key_name", request.key_name)
        self._node.check_serving()
        stored = self._node.find_key("key_name", request.key_name)
        self._node.authorize(caller, "volume", stored.key.name, ctx)
        require_enabled(stored)
        if stored.key.purpose not in _PURPOSES:
            raise FailedPrecondition(
                f"key_name: key {stored.key.name!r} has purpose "
                f"{keys_pb2.KeyPurpose.Name(stored.key.purpose)}, not VOLUME or ENCRYPT"
            )
        volume_key = secrets.token_bytes(VOLUME_KEY_BYTES)
        wrapped, version = seal_under_current(self._node, stored, volume_key, ctx)
        return volume_pb2.CreateVolumeKeyResponse(
            volume_key=volume_key, wrapped_key=wrapped, key_id=stored.key.id, key_version=version
        )

    @rpc
    async def UnwrapVolumeKey(
        self, request: volume_pb2.UnwrapVolumeKeyRequest, context: grpc.aio.ServicerContext
    ) -> volume_pb2.UnwrapVolumeKeyResponse:
        caller = caller_of(context)
        ctx = volume_context(request.volume_id, request.host_id)
        self._node.check_serving()
        volume_key, stored, version = open_envelope(
            self._node, request.wrapped_key, ctx, caller, "volume", "wrapped_key"
        )
        return volume_pb2.UnwrapVolumeKeyResponse(
            volume_key=volume_key, key_id=stored.key.id, key_version=version
        )

    @rpc
    async def RewrapVolumeKey(
        self, request: volume_pb2.RewrapVolumeKeyRequest, context: grpc.aio.ServicerContext
    ) -> volume_pb2.RewrapVolumeKeyResponse:
        caller = caller_of(context)
        ctx = volume_context(request.volume_id, request.host_id)
        self._node.check_serving()
        volume_key, stored, _ = open_envelope(
            self._node, request.wrapped_key, ctx, caller, "volume", "wrapped_key"
        )
        wrapped, version = seal_under_current(self._node, stored, volume_key, ctx)
        return volume_pb2.RewrapVolumeKeyResponse(
            wrapped_key=wrapped, key_id=stored.key.id, key_version=version
        )
