"""Secrets: versioned KV v2 secrets under managed keys (proto/keymgr/v1/secrets.proto).

Writes are encrypted here (`secret_values`) and go through Raft as commands of the
state machine's secrets tables (`keymgr.store.secrets`); reads are served from this
node's applied state (the `rpc` wrapper waits for the caller's read-your-writes index).
A write binds the version it creates into the value's AAD, so two nodes writing the
same path at once cannot both win: the loser's command is refused as a conflict and is
made again here against fresh state (after a read barrier), up to `WRITE_ATTEMPTS`.
Every call is authorized on "<mount>/<path>" by the policies' path_patterns and names
mount, path and versions in its audit line (never a value).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import secrets
import uuid
from collections.abc import Callable, Sequence

import grpc

from keymgr.crypto.barrier import Keyring
from keymgr.node_errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    NotFound,
    Unauthenticated,
)
from keymgr.pki import NODE_KIND, IdentityRefused, parse_principal
from keymgr.raft.proposer import now_ms
from keymgr.server import rotation, secret_values, validation
from keymgr.server.audit_target import note_secret
from keymgr.server.auth import Caller, caller_of
from keymgr.server.context import NodeContext
from keymgr.server.rpc import rpc
from keymgr.store import secrets_validation as rules
from keymgr.store.secrets import is_deleted
from keymgr.v1 import keys_pb2, secrets_pb2, store_pb2

ENABLED = keys_pb2.KEY_STATE_ENABLED
WRITE_ATTEMPTS = 12
WRITE_STRIPES = 64  # writes to one path on one node wait for each other (no self-races)
READ = "secret-read"
WRITE = "secret-write"
LIST = "secret-list"
DELETE = "secret-delete"
DESTROY = "secret-destroy"


def _seconds(ms: int) -> float:
    return ms / 1000.0


def _version_info(
    version: store_pb2.StoredSecretVersion,
) -> secrets_pb2.SecretVersionInfo:
    return secrets_pb2.SecretVersionInfo(
        version=version.version,
        created_time=_seconds(version.created_at_ms),
        deletion_time=_seconds(version.deletion_at_ms),
        destroyed=version.destroyed,
    )


def _checked(field: str, problem: str) -> None:
    if problem:
        raise InvalidArgument(field, problem)


def _token_info(token: store_pb2.StoredToken) -> secrets_pb2.TokenInfo:
    return secrets_pb2.TokenInfo(
        accessor=token.accessor,
        principal=token.principal,
        display_name=token.display_name,
        created_time=_seconds(token.created_at_ms),
        expire_time=_seconds(token.expires_at_ms),
        revoked=token.revoked,
    )


class SecretsServicer:
    def __init__(self, node: NodeContext) -> None:
        self._node = node
        self._stripes = [asyncio.Lock() for _ in range(WRITE_STRIPES)]

    # --- shared steps ----------------------------------------------------------------

    def _mount(self, name: str) -> store_pb2.SecretMount:
        _checked("mount", rules.mount_problem(name))
        mount = self._node.store.secrets.mounts.get(name)
        if mount is None:
            raise NotFound(f"mount: no mount {name!r}")
        return mount

    def _authorized(
        self,
        context: grpc.aio.ServicerContext,
        mount_name: str,
        path: str,
        operation: str,
        versions: Sequence[int] = (),
    ) -> tuple[Caller, store_pb2.SecretMount]:
        """Checks fields, serving state and policy (in that order); notes the audit."""
        caller = caller_of(context)
        _checked("mount", rules.mount_problem(mount_name))
        _checked("path", rules.path_problem(path))
        _checked("versions", rules.versions_problem(versions))
        note_secret(mount_name, path, versions)
        self._node.check_serving()
        self._node.authorize_secret(caller, operation, f"{mount_name}/{path}")
        return caller, self._mount(mount_name)

    def _command(self, caller: Caller, request_id: str) -> store_pb2.Command:
        return store_pb2.Command(
            request_id=validation.request_id_or_new(request_id), principal=caller.principal
        )

    async def _write_version(
        self,
        caller: Caller,
        request_id: str,
        mount: store_pb2.SecretMount,
        path: str,
        cas: int | None,
        value_at: Callable[[store_pb2.StoredSecret | None], bytes],
    ) -> store_pb2.StoredSecretVersion:
        """Proposes the next version of `path` with the value `value_at(current state)`,
        again against fresh state if another write took that version meanwhile."""
        rid = validation.request_id_or_new(request_id)
        stripe = self._stripes[hash((mount.name, path)) % WRITE_STRIPES]
        async with stripe:
            return await self._propose_version(rid, caller, mount, path, cas, value_at)

    async def _propose_version(
        self,
        rid: str,
        caller: Caller,
        mount: store_pb2.SecretMount,
        path: str,
        cas: int | None,
        value_at: Callable[[store_pb2.StoredSecret | None], bytes],
    ) -> store_pb2.StoredSecretVersion:
        for attempt in range(WRITE_ATTEMPTS):
            if attempt:  # lost to a write on another node: let it land, then go again
                await asyncio.sleep(random.uniform(0, 0.01 * attempt))
                await self._node.read_barrier()
            secret = self._node.store.secrets.secret(mount.name, path)
            version = (secret.current_version if secret is not None else 0) + 1
            data = value_at(secret)
            blob = secret_values.seal(self._node, mount, path, version, data)
            del data
            command = store_pb2.Command(
                request_id=rid if attempt == 0 else f"{rid}/retry-{attempt}",
                principal=caller.principal,
            )
            command.put_secret.mount = mount.name
            command.put_secret.path = path
            command.put_secret.version = version
            command.put_secret.ciphertext = blob
            if cas is not None:
                command.put_secret.cas = cas
            try:
                result = await self._node.proposer.submit(command)
            except Conflict:
                continue
            note_secret(mount.name, path, (result.secret_version.version,))
            return result.secret_version
        raise Conflict(f"{mount.name}/{path}: too many concurrent writes; try again")

    async def _propose(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        return await self._node.proposer.submit(command)

    # --- data ------------------------------------------------------------------------

    @rpc
    async def Put(
        self, request: secrets_pb2.PutSecretRequest, context: grpc.aio.ServicerContext
    ) -> secrets_pb2.PutSecretResponse:
        caller, mount = self._authorized(context, request.mount, request.path, WRITE)
        value = secret_values.json_object("data", request.data)
        data = secret_values.encode("data", value)
        del value
        cas = request.cas if request.HasField("cas") else None
        version = await self._write_version(
            caller, request.request_id, mount, request.path, cas, lambda _: data
        )
        return secrets_pb2.PutSecretResponse(version=_version_info(version))

    @rpc
    async def Patch(
        self, request: secrets_pb2.PatchSecretRequest, context: grpc.aio.ServicerContext
    ) -> secrets_pb2.PutSecretResponse:
        caller, mount = self._authorized(context, request.mount, request.path, WRITE)
        self._node.authorize_secret(caller, READ, f"{request.mount}/{request.path}")
        patch = secret_values.json_object("data", request.data)
        cas = request.cas if request.HasField("cas") else None
        path = request.path

        def patched(secret: store_pb2.StoredSecret | None) -> bytes:
            current = self._current_value(mount, path, secret)
            return secret_values.encode("data", secret_values.merge_patch(current, patch))

        version = await self._write_version(caller, request.request_id, mount, path, cas, patched)
        return secrets_pb2.PutSecretResponse(version=_version_info(version))

    def _current_value(
        self, mount: store_pb2.SecretMount, path: str, secret: store_pb2.StoredSecret | None
    ) -> object:
        """The current version's value, for a patch (NotFound if there is none to patch)."""
        if secret is None or secret.current_version == 0:
            raise NotFound(f"{mount.name}/{path}: no version to patch")
        version = next(v for v in secret.versions if v.version == secret.current_version)
        if version.destroyed or is_deleted(version, now_ms()):
            raise NotFound(
                f"{mount.name}/{path}: current version {version.version} is deleted or destroyed"
            )
        raw = secret_values.open_value(self._node, mount, path, version.version, version.ciphertext)
        return secret_values.json_object("stored value", raw)

    @rpc
    async def Get(
        self, request: secrets_pb2.GetSecretRequest, context: grpc.aio.ServicerContext
    ) -> secrets_pb2.GetSecretResponse:
        _, mount = self._authorized(context, request.mount, request.path, READ)
        secret = self._node.store.secrets.secret(mount.name, request.path)
        wanted = request.version or (secret.current_version if secret is not None else 0)
        note_secret(mount.name, request.path, (wanted,) if wanted else ())
        found = (
            next((v for v in secret.versions if v.version == wanted), None)
            if secret is not None and wanted
            else None
        )
        if secret is None or found is None:
            what = f"version {request.version}" if request.version else "no version"
            raise NotFound(f"{mount.name}/{request.path}: {what} not found")
        response = secrets_pb2.GetSecretResponse(
            mount=mount.name,
            path=request.path,
            version=_version_info(found),
            custom_metadata=secret.custom_metadata,
        )
        if not found.destroyed and not is_deleted(found, now_ms()):
            response.data = secret_values.open_value(
                self._node, mount, request.path, found.version, found.ciphertext
            )
            response.has_data = True
        return response

    @rpc
    async def List(
        self, request: secrets_pb2.ListSecretsRequest, context: grpc.aio.ServicerContext
    ) -> secrets_pb2.ListSecretsResponse:
        caller = caller_of(context)
        _checked("mount", rules.mount_problem(request.mount))
        _checked("prefix", rules.prefix_problem(request.prefix))
        note_secret(request.mount, request.prefix)
        self._node.check_serving()
        self._node.authorize_secret(caller, LIST, f"{request.mount}/{request.prefix}")
        mount = self._mount(request.mount)
        prefix = request.prefix
        children: set[str] = set()
        for path in self._node.store.secrets.paths_under(mount.name, prefix):
            rest = path[len(prefix) :]
            head, slash, _ = rest.partition("/")
            children.add(head + slash)
        if not children:
            raise NotFound(f"{mount.name}/{prefix}: nothing listed here")
        return secrets_pb2.ListSecretsResponse(keys=sorted(children))

    async def _versions_write(
        self,
        request: secrets_pb2.SecretVersionsRequest,
        context: grpc.aio.ServicerContext,
        operation: str,
        command_field: str,
    ) -> secrets_pb2.SecretsWriteResponse:
        caller, mount = self._authorized(
            context, request.mount, request.path, operation, request.versions
        )
        if command_field != "delete_secret_versions" and not request.versions:
            raise InvalidArgument("versions", "must name at least one version")
        command = self._command(caller, request.request_id)
        getattr(command, command_field).CopyFrom(
            store_pb2.SecretVersions(mount=mount.name, path=request.path, versions=request.versions)
        )
        await self._propose(command)
        return secrets_pb2.SecretsWriteResponse()

    @rpc
    async def Delete(
        self, request: secrets_pb2.SecretVersionsRequest, context: grpc.aio.ServicerContext
    ) -> secrets_pb2.SecretsWriteResponse:
        return await self._versions_write(request, context, DELETE, "delete_secret_versions")

    @rpc
    async def Undelete(
        self, request: secrets_pb2.SecretVersionsRequest, context: grpc.aio.ServicerContext
    ) -> secrets_pb2.SecretsWriteResponse:
        return await self._versions_write(request, context, WRITE, "undelete_secret_versions")

    @rpc
    async def Destroy(
        self, request: secrets_pb2.SecretVersionsRequest, context: grpc.aio.ServicerContext
    ) -> secrets_pb2.SecretsWriteResponse:
        return await self._versions_write(request, context, DESTROY, "destroy_secret_versions")

    # --- metadata ----------------------------------------------------------------------

    @rpc
    async def ReadMetadata(
        self, request: secrets_pb2.SecretPathRequest, context: grpc.aio.ServicerContext
    ) -> secrets_pb2.SecretMetadataResponse:
        _, mount = self._authorized(context, request.mount, request.path, READ)
        secret = self._node.store.secrets.secret(mount.name, request.path)
        if secret is None:
            raise NotFound(f"{mount.name}/{request.path}: no such secret")
        return secrets_pb2.SecretMetadataResponse(
            mount=mount.name,
            path=request.path,
            current_version=secret.current_version,
            oldest_version=secret.oldest_version,
            max_versions=secret.max_versions,
            cas_required=secret.cas_required,
            delete_version_after_s=secret.delete_version_after_s,
            created_time=_seconds(secret.created_at_ms),
            updated_time=_seconds(secret.updated_at_ms),
            custom_metadata=secret.custom_metadata,
            versions={v.version: _version_info(v) for v in secret.versions},
        )

    @rpc
    async def WriteMetadata(
        self, request: secrets_pb2.WriteSecretMetadataRequest, context: grpc.aio.ServicerContext
    ) -> secrets_pb2.SecretsWriteResponse:
        caller, mount = self._authorized(context, request.mount, request.path, WRITE)
        change = store_pb2.WriteSecretMetadata(mount=mount.name, path=request.path)
        _copy_version_settings(request, change)
        if request.set_custom_metadata:
            _checked("custom_metadata", rules.custom_metadata_problem(request.custom_metadata))
            change.set_custom_metadata = True
            change.custom_metadata.update(request.custom_metadata)
        command = self._command(caller, request.request_id)
        command.write_secret_metadata.CopyFrom(change)
        await self._propose(command)
        return secrets_pb2.SecretsWriteResponse()

    @rpc
    async def DeleteMetadata(
        self, request: secrets_pb2.SecretPathRequest, context: grpc.aio.ServicerContext
    ) -> secrets_pb2.SecretsWriteResponse:
        caller, mount = self._authorized(context, request.mount, request.path, DELETE)
        command = self._command(caller, request.request_id)
        command.delete_secret_metadata.mount = mount.name
        command.delete_secret_metadata.path = request.path
        await self._propose(command)
        return secrets_pb2.SecretsWriteResponse()

    # --- mounts --------------------------------------------------------------------------

    def _mount_config(self, mount: store_pb2.SecretMount) -> secrets_pb2.MountConfig:
        stored = self._node.lookup(mount.key_id)
        return secrets_pb2.MountConfig(
            mount=mount.name,
            key_name=stored.key.name if stored is not None else "",
            max_versions=mount.max_versions or rules.DEFAULT_MAX_VERSIONS,
            cas_required=mount.cas_required,
            delete_version_after_s=mount.delete_version_after_s,
        )

    @rpc
    async def ReadConfig(
        self, request: secrets_pb2.ReadMountConfigRequest, context: grpc.aio.ServicerContext
    ) -> secrets_pb2.MountConfig:
        caller = caller_of(context)
        _checked("mount", rules.mount_problem(request.mount))
        note_secret(request.mount)
        self._node.check_fresh()
        self._node.authorize_secret(caller, READ, f"{request.mount}/")
        return self._mount_config(self._mount(request.mount))

    @rpc
    async def WriteConfig(
        self, request: secrets_pb2.WriteMountConfigRequest, context: grpc.aio.ServicerContext
    ) -> secrets_pb2.MountConfig:
        caller = self._node.admin_caller(context)
        _checked("mount", rules.mount_problem(request.mount))
        note_secret(request.mount)
        self._node.check_serving()
        mount = self._mount(request.mount)
        command = self._command(caller, request.request_id)
        change = command.configure_secrets_mount
        change.mount = mount.name
        _copy_version_settings(request, change)
        result = await self._propose(command)
        return self._mount_config(result.secret_mount)

    @rpc
    async def EnableMount(
        self, request: secrets_pb2.EnableMountRequest, context: grpc.aio.ServicerContext
    ) -> secrets_pb2.MountConfig:
        caller = self._node.admin_caller(context)
        _checked("mount", rules.mount_problem(request.mount))
        _checked("max_versions", rules.max_versions_problem(request.max_versions))
        note_secret(request.mount)
        keyring = self._node.check_serving()
        if request.mount in self._node.store.secrets.mounts:
            raise AlreadyExists(f"mount: {request.mount!r} exists")
        rid = validation.request_id_or_new(request.request_id)
        if request.key_name:
            validation.key_name("key_name", request.key_name)
            key = self._node.find_key("key_name", request.key_name).key
            if key.purpose != keys_pb2.KEY_PURPOSE_ENCRYPT or key.state != ENABLED:
                raise InvalidArgument("key_name", f"{key.name!r} is not an enabled ENCRYPT key")
            key_id = key.id
        else:
            key_id = await self._create_mount_key(caller, rid, request.mount, keyring)
        command = store_pb2.Command(request_id=rid, principal=caller.principal)
        command.enable_secrets_mount.mount.CopyFrom(
            store_pb2.SecretMount(
                name=request.mount, key_id=key_id, max_versions=request.max_versions
            )
        )
        result = await self._propose(command)
        return self._mount_config(result.secret_mount)

    async def _create_mount_key(
        self, caller: Caller, rid: str, mount: str, keyring: Keyring
    ) -> str:
        """A new ENCRYPT key "secrets-<mount>" (the same one again for a retried id)."""
        name = validation.new_key_name("key_name", f"secrets-{mount}")
        key_id = uuid.uuid4().hex
        command = store_pb2.Command(request_id=f"{rid}/key", principal=caller.principal)
        command.create_key.CopyFrom(
            store_pb2.CreateKey(
                key_id=key_id,
                name=name,
                purpose=keys_pb2.KEY_PURPOSE_ENCRYPT,
                description=f"encrypts the values of secrets mount {mount!r}",
                wrapped_material=rotation.new_wrapped_material(keyring, key_id, 1),
            )
        )
        key = await self._node.proposer.submit_for_key(command)
        return key.id

    @rpc
    async def ListMounts(
        self, request: secrets_pb2.ListMountsRequest, context: grpc.aio.ServicerContext
    ) -> secrets_pb2.ListMountsResponse:
        caller_of(context)
        self._node.check_fresh()
        mounts = self._node.store.secrets.mounts.copy()
        return secrets_pb2.ListMountsResponse(
            mounts=[self._mount_config(mounts[name]) for name in sorted(mounts)]
        )

    # --- tokens --------------------------------------------------------------------------

    @rpc
    async def CreateToken(
        self, request: secrets_pb2.CreateTokenRequest, context: grpc.aio.ServicerContext
    ) -> secrets_pb2.CreateTokenResponse:
        caller = self._node.admin_caller(context)
        try:
            principal = parse_principal(request.principal)
        except IdentityRefused as exc:
            raise InvalidArgument("principal", str(exc)) from None
        if principal.kind == NODE_KIND:
            raise InvalidArgument("principal", "a token cannot stand for a node")
        if not 1 <= request.ttl_seconds <= rules.MAX_TTL_S:
            raise InvalidArgument("ttl_seconds", f"must be 1..{rules.MAX_TTL_S}")
        if len(request.display_name) > rules.MAX_DISPLAY_NAME:
            raise InvalidArgument("display_name", f"at most {rules.MAX_DISPLAY_NAME} characters")
        self._node.check_serving()
        token = "kmt_" + _urlsafe(32)
        accessor = "kma_" + _urlsafe(18)
        time_ms = now_ms()
        command = self._command(caller, request.request_id)
        command.time_ms = time_ms
        command.create_secret_token.token.CopyFrom(
            store_pb2.StoredToken(
                accessor=accessor,
                token_sha256=hashlib.sha256(token.encode()).digest(),
                principal=principal.uri,
                display_name=request.display_name,
                expires_at_ms=time_ms + request.ttl_seconds * 1000,
            )
        )
        result = await self._propose(command)
        if result.secret_token.accessor != accessor:
            # a retried request id: the token was issued by the first call, shown there once
            raise AlreadyExists("request_id: this token was already issued (shown once)")
        return secrets_pb2.CreateTokenResponse(token=token, info=_token_info(result.secret_token))

    @rpc
    async def RevokeToken(
        self, request: secrets_pb2.RevokeTokenRequest, context: grpc.aio.ServicerContext
    ) -> secrets_pb2.SecretsWriteResponse:
        caller = self._node.admin_caller(context)
        _checked(
            "accessor",
            ""
            if rules.ACCESSOR_PATTERN.fullmatch(request.accessor)
            else "must be kma_ and 24 base64url characters",
        )
        self._node.check_serving()
        command = self._command(caller, request.request_id)
        command.revoke_secret_token.accessor = request.accessor
        await self._propose(command)
        return secrets_pb2.SecretsWriteResponse()

    @rpc
    async def ListTokens(
        self, request: secrets_pb2.ListTokensRequest, context: grpc.aio.ServicerContext
    ) -> secrets_pb2.ListTokensResponse:
        self._node.admin_caller(context)
        self._node.check_fresh()
        tokens = self._node.store.secrets.tokens.copy()
        return secrets_pb2.ListTokensResponse(
            tokens=[_token_info(t) for t in sorted(tokens.values(), key=_created)]
        )

    @rpc
    async def LookupToken(
        self, request: secrets_pb2.LookupTokenRequest, context: grpc.aio.ServicerContext
    ) -> secrets_pb2.TokenInfo:
        caller = caller_of(context)
        token = self._node.store.secrets.tokens.get(caller.accessor) if caller.accessor else None
        if token is None:
            raise Unauthenticated("this call carries no token (metadata keymgr-token)")
        return _token_info(token)


def _urlsafe(size: int) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(size)).decode().rstrip("=")


def _created(token: store_pb2.StoredToken) -> tuple[int, str]:
    return token.created_at_ms, token.accessor


def _copy_version_settings(
    request: secrets_pb2.WriteSecretMetadataRequest | secrets_pb2.WriteMountConfigRequest,
    change: store_pb2.WriteSecretMetadata | store_pb2.ConfigureSecretsMount,
) -> None:
    """The version settings a path's metadata and a mount's config share, checked and
    copied only where the request sets them."""
    if request.HasField("max_versions"):
        _checked("max_versions", rules.max_versions_problem(request.max_versions))
        change.max_versions = request.max_versions
    if request.HasField("cas_required"):
        change.cas_required = request.cas_required
    if request.HasField("delete_version_after_s"):
        _checked(
            "delete_version_after_s", rules.delete_after_problem(request.delete_version_after_s)
        )
        change.delete_version_after_s = request.delete_version_after_s
