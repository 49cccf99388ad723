"""KeyManagement: lifecycle writes go through Raft; crypto calls are served locally.

Every key version's material is made here (the proposer) and barrier-encrypted before
it is proposed, so the Raft log, journal and snapshots only ever hold ciphertext.
"""

from __future__ import annotations

import secrets
import uuid

import grpc

from keymgr.node_errors import InvalidArgument
from keymgr.raft.proposer import now_ms
from keymgr.server import key_import, rotation, validation
from keymgr.server.auth import Caller, caller_of
from keymgr.server.authz import NO_KEY, allowed
from keymgr.server.batch_calls import BatchCryptoCalls
from keymgr.server.context import NodeContext
from keymgr.server.crypto_ops import (
    DataKeyItem,
    DecryptItem,
    EncryptItem,
    key_in_use,
    open_envelope,
    read_consistency,
    seal_under_current,
)
from keymgr.server.rpc import rpc
from keymgr.v1 import keys_pb2, store_pb2


class KeyManagementServicer(BatchCryptoCalls):
    def __init__(self, node: NodeContext) -> None:
        self._node = node

    # --- lifecycle (through Raft) ---------------------------------------------------

    def _command(self, caller: Caller, request_id: str) -> store_pb2.Command:
        rid = validation.request_id_or_new(request_id)
        return store_pb2.Command(request_id=rid, principal=caller.principal)

    def _managed(
        self, context: grpc.aio.ServicerContext, name_or_id: str
    ) -> tuple[Caller, store_pb2.StoredKey]:
        """The caller and the key it may manage (validated, serving, authorized)."""
        caller = caller_of(context)
        validation.key_name("name_or_id", name_or_id)
        self._node.check_serving()
        stored = self._node.find_key("name_or_id", name_or_id)
        self._node.authorize(caller, "manage", stored.key.name)
        return caller, stored

    @rpc
    async def CreateKey(
        self, request: keys_pb2.CreateKeyRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.KeyResponse:
        caller = caller_of(context)
        name = validation.new_key_name("name", request.name)
        labels = validation.labels("labels", request.labels)
        validation.description("description", request.description)
        period = self._rotation_period(request.rotation_period_seconds)
        external = self._external_origin(request.origin, period)
        keyring = self._node.check_serving()
        self._node.authorize(caller, "manage", name)
        command = self._command(caller, request.request_id)
        key_id = uuid.uuid4().hex
        command.create_key.CopyFrom(
            store_pb2.CreateKey(
                key_id=key_id,
                name=name,
                purpose=request.purpose,
                labels=labels,
                description=request.description,
                wrapped_material=(
                    b"" if external else rotation.new_wrapped_material(keyring, key_id, 1)
                ),
                rotation_period_s=period,
                origin=request.origin if external else keys_pb2.KEY_ORIGIN_UNSPECIFIED,
                non_exportable=request.non_exportable,
            )
        )
        key = await self._node.proposer.submit_for_key(command)
        return keys_pb2.KeyResponse(key=key)

    @staticmethod
    def _external_origin(origin: int, period: int) -> bool:
        if origin not in (0, keys_pb2.KEY_ORIGIN_KEYMGR, keys_pb2.KEY_ORIGIN_EXTERNAL):
            raise InvalidArgument("origin", f"unknown origin {origin}")
        external = origin == keys_pb2.KEY_ORIGIN_EXTERNAL
        if external and period:
            raise InvalidArgument(
                "rotation_period_seconds",
                "must be 0 for origin EXTERNAL: new versions are imported, not made",
            )
        return external

    @rpc
    async def GetImportParameters(
        self, request: keys_pb2.GetImportParametersRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.GetImportParametersResponse:
        bits = key_import.checked_bits(request.wrapping_key_bits)
        validity_s = key_import.checked_validity(request.validity_seconds)
        caller, stored = self._managed(context, request.name_or_id)
        key_import.require_importable(stored)
        keyring = self._node.check_serving()
        command = await key_import.prepare_command(keyring, stored.key.id, bits, validity_s)
        command.request_id = validation.request_id_or_new(request.request_id)
        command.principal = caller.principal
        await self._node.proposer.submit_for_key(command)
        # read back from the applied state: a retried request id answers its first token
        after = self._node.find_key("name_or_id", stored.key.id)
        return key_import.parameters_response(after)

    @rpc
    async def ImportKeyMaterial(
        self, request: keys_pb2.ImportKeyMaterialRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.KeyResponse:
        algorithm = key_import.checked_algorithm(request.algorithm)
        payload = key_import.checked_payload(request.wrapped_key_material)
        expires_at_ms = key_import.checked_expiry(request.expires_at_ms, now_ms())
        caller, stored = self._managed(context, request.name_or_id)
        key_import.require_importable(stored)
        token_id = key_import.checked_token(stored, request.import_token)
        keyring = self._node.check_serving()
        material = key_import.unwrap(keyring, stored, algorithm, payload)
        command = key_import.import_command(
            keyring, stored, token_id, request.version, material, expires_at_ms
        )
        del material
        command.request_id = validation.request_id_or_new(request.request_id)
        command.principal = caller.principal
        return keys_pb2.KeyResponse(key=await self._node.proposer.submit_for_key(command))

    @rpc
    async def GetKey(
        self, request: keys_pb2.GetKeyRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.KeyResponse:
        caller = caller_of(context)
        validation.key_name("name_or_id", request.name_or_id)
        self._node.check_serving()
        stored = self._node.find_key("name_or_id", request.name_or_id)
        self._node.authorize(caller, "describe", stored.key.name)
        return keys_pb2.KeyResponse(key=stored.key)

    @rpc
    async def ListKeys(
        self, request: keys_pb2.ListKeysRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.ListKeysResponse:
        caller = caller_of(context)
        size = validation.byte_count("page_size", request.page_size, default=100, maximum=1000)
        self._node.check_serving()
        try:
            keys, token = self._node.store.list_keys(size, request.page_token)
        except ValueError as exc:
            raise InvalidArgument("page_token", "not a token returned by ListKeys") from exc
        access = self._node.store.access
        roles = access.roles_of(caller.principal)
        policies = list(access.policies.values())
        visible = [k for k in keys if allowed(policies, roles, caller, "describe", k.name)]
        return keys_pb2.ListKeysResponse(keys=visible, next_page_token=token)

    @rpc
    async def RotateKey(
        self, request: keys_pb2.RotateKeyRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.KeyResponse:
        caller, _ = self._managed(context, request.name_or_id)
        request_id = validation.request_id_or_new(request.request_id)
        key = await rotation.rotate(
            self._node, request.name_or_id, principal=caller.principal, request_id=request_id
        )
        return keys_pb2.KeyResponse(key=key)

    async def _simple_change(
        self, caller: Caller, request_id: str, op: str, message: object
    ) -> keys_pb2.KeyResponse:
        command = self._command(caller, request_id)
        getattr(command, op).CopyFrom(message)
        return keys_pb2.KeyResponse(key=await self._node.proposer.submit_for_key(command))

    @rpc
    async def EnableKey(
        self, request: keys_pb2.EnableKeyRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.KeyResponse:
        caller, stored = self._managed(context, request.name_or_id)
        change = store_pb2.SetKeyEnabled(key_id=stored.key.id, enabled=True)
        return await self._simple_change(caller, request.request_id, "set_key_enabled", change)

    @rpc
    async def DisableKey(
        self, request: keys_pb2.DisableKeyRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.KeyResponse:
        caller, stored = self._managed(context, request.name_or_id)
        change = store_pb2.SetKeyEnabled(key_id=stored.key.id, enabled=False)
        return await self._simple_change(caller, request.request_id, "set_key_enabled", change)

    @rpc
    async def ScheduleKeyDeletion(
        self, request: keys_pb2.ScheduleKeyDeletionRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.KeyResponse:
        limits = self._node.config.keys
        window = request.pending_window_seconds or limits.default_deletion_window_s
        if window < limits.min_deletion_window_s:
            raise InvalidArgument(
                "pending_window_seconds",
                f"at least {limits.min_deletion_window_s} seconds (keys.min_deletion_window_s)",
            )
        if window > validation.MAX_PERIOD_S:
            raise InvalidArgument("pending_window_seconds", "at most 10 years")
        caller, stored = self._managed(context, request.name_or_id)
        change = store_pb2.ScheduleDeletion(
            key_id=stored.key.id, deletion_time_ms=now_ms() + window * 1000
        )
        return await self._simple_change(caller, request.request_id, "schedule_deletion", change)

    @rpc
    async def CancelKeyDeletion(
        self, request: keys_pb2.CancelKeyDeletionRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.KeyResponse:
        caller, stored = self._managed(context, request.name_or_id)
        change = store_pb2.CancelDeletion(key_id=stored.key.id)
        return await self._simple_change(caller, request.request_id, "cancel_deletion", change)

    def _rotation_period(self, seconds: int) -> int:
        minimum = self._node.config.keys.min_rotation_period_s
        if seconds and not minimum <= seconds <= validation.MAX_PERIOD_S:
            raise InvalidArgument(
                "rotation_period_seconds",
                f"0 (no automatic rotation) or {minimum}..{validation.MAX_PERIOD_S} seconds "
                "(keys.min_rotation_period_s)",
            )
        return seconds

    @rpc
    async def SetKeyRotation(
        self, request: keys_pb2.SetKeyRotationRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.KeyResponse:
        period = self._rotation_period(request.rotation_period_seconds)
        caller, stored = self._managed(context, request.name_or_id)
        change = store_pb2.SetRotationPolicy(
            key_id=stored.key.id,
            rotation_period_s=period,
            min_decryption_version=request.min_decryption_version,
        )
        return await self._simple_change(caller, request.request_id, "set_rotation_policy", change)

    # --- crypto (served from this node's applied state) -----------------------------

    async def _consistent(self, consistency: int) -> None:
        await read_consistency(self._node, consistency)

    @rpc
    async def GenerateDataKey(
        self, request: keys_pb2.GenerateDataKeyRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.GenerateDataKeyResponse:
        caller = caller_of(context)
        item = DataKeyItem.checked(
            request.key_name,
            request.encryption_context,
            request.number_of_bytes,
            request.without_plaintext,
        )
        self._node.check_serving()
        await self._consistent(request.consistency)
        return item.run(self._node, caller)

    @rpc
    async def Encrypt(
        self, request: keys_pb2.EncryptRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.EncryptResponse:
        caller = caller_of(context)
        item = EncryptItem.checked(request.key_name, request.plaintext, request.encryption_context)
        self._node.check_serving()
        await self._consistent(request.consistency)
        return item.run(self._node, caller)

    @rpc
    async def Decrypt(
        self, request: keys_pb2.DecryptRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.DecryptResponse:
        caller = caller_of(context)
        item = DecryptItem.checked(request.ciphertext_blob, request.encryption_context)
        self._node.check_serving()
        await self._consistent(request.consistency)
        return item.run(self._node, caller)

    @rpc
    async def ReEncrypt(
        self, request: keys_pb2.ReEncryptRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.ReEncryptResponse:
        caller = caller_of(context)
        source_ctx = validation.encryption_context(
            "source_encryption_context", request.source_encryption_context
        )
        if request.keep_source_context:
            dest_ctx = source_ctx
        else:
            dest_ctx = validation.encryption_context(
                "destination_encryption_context", request.destination_encryption_context
            )
        self._node.check_serving()
        await self._consistent(request.consistency)
        plaintext, source, source_version = open_envelope(
            self._node, request.ciphertext_blob, source_ctx, caller, "re-encrypt"
        )
        if request.destination_key_name:
            destination = key_in_use(
                self._node,
                "destination_key_name",
                request.destination_key_name,
                caller,
                "re-encrypt",
                dest_ctx,
            ).stored
        else:
            destination = source
            self._node.authorize(caller, "re-encrypt", source.key.name, dest_ctx)
        blob, version = seal_under_current(self._node, destination, plaintext, dest_ctx)
        return keys_pb2.ReEncryptResponse(
            ciphertext_blob=blob,
            key_id=destination.key.id,
            key_version=version,
            source_key_id=source.key.id,
            source_key_version=source_version,
        )

    @rpc
    async def GenerateRandom(
        self, request: keys_pb2.GenerateRandomRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.GenerateRandomResponse:
        caller = caller_of(context)
        if request.number_of_bytes == 0:
            raise InvalidArgument("number_of_bytes", "must be between 1 and 1024, got 0")
        size = validation.byte_count(
            "number_of_bytes", request.number_of_bytes, default=32, maximum=validation.MAX_RANDOM
        )
        self._node.check_serving()
        self._node.authorize(caller, "random", NO_KEY)
        return keys_pb2.GenerateRandomResponse(random=secrets.token_bytes(size))
