"""The secrets part of the SDK: `client.secrets`, a `SecretsClient`.

Calls go through the same endpoints, failover and read-your-writes index as the rest of
`Client`; a `SecretsClient` made by `with_token` or `with_forwarded_certificate` adds
that credential to every call (the gateway keeps one per HTTP caller). Errors are the
SDK's exception tree; their message is the node's own (a check-and-set mismatch is a
FailedPrecondition whose message starts with "cas:"), the endpoint is in `.endpoint`.
Values travel as JSON objects and are never shown by `repr`.
"""

from __future__ import annotations

import builtins
import functools
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from keymgr.client._exceptions import FinalError, InvalidArgument
from keymgr.client._transport import Transport
from keymgr.v1 import secrets_pb2

TOKEN_METADATA = "keymgr-token"
FORWARDED_CERT_METADATA = "keymgr-forwarded-cert-bin"


@dataclass(frozen=True)
class SecretVersion:
    """Metadata of one version (times in unix seconds; deletion_time 0.0 = not deleted)."""

    version: int
    created_time: float
    deletion_time: float
    destroyed: bool


@dataclass(frozen=True)
class Secret:
    mount: str
    path: str
    data: dict[str, Any] | None = field(repr=False)  # None: deleted or destroyed
    version: SecretVersion
    custom_metadata: dict[str, str]

    def __repr__(self) -> str:  # never the data
        return (
            f"Secret(mount={self.mount!r}, path={self.path!r}, "
            f"version={self.version.version}, has_data={self.data is not None})"
        )


@dataclass(frozen=True)
class SecretMetadata:
    mount: str
    path: str
    current_version: int
    oldest_version: int
    max_versions: int
    cas_required: bool
    delete_version_after_s: int
    created_time: float
    updated_time: float
    custom_metadata: dict[str, str]
    versions: dict[int, SecretVersion]


@dataclass(frozen=True)
class MountConfig:
    mount: str
    key_name: str
    max_versions: int
    cas_required: bool
    delete_version_after_s: int


@dataclass(frozen=True)
class TokenInfo:
    accessor: str
    principal: str
    display_name: str
    created_time: float
    expire_time: float
    revoked: bool


@dataclass(frozen=True)
class IssuedToken:
    token: str = field(repr=False)  # shown once; only its hash is kept by the cluster
    info: TokenInfo

    def __repr__(self) -> str:
        return f"IssuedToken(accessor={self.info.accessor!r}, token=<hidden>)"


def _version(info: secrets_pb2.SecretVersionInfo) -> SecretVersion:
    return SecretVersion(
        version=info.version,
        created_time=info.created_time,
        deletion_time=info.deletion_time,
        destroyed=info.destroyed,
    )


def _mount(config: secrets_pb2.MountConfig) -> MountConfig:
    return MountConfig(
        mount=config.mount,
        key_name=config.key_name,
        max_versions=config.max_versions,
        cas_required=config.cas_required,
        delete_version_after_s=config.delete_version_after_s,
    )


def _token(info: secrets_pb2.TokenInfo) -> TokenInfo:
    return TokenInfo(
        accessor=info.accessor,
        principal=info.principal,
        display_name=info.display_name,
        created_time=info.created_time,
        expire_time=info.expire_time,
        revoked=info.revoked,
    )


def _json_object(data: Mapping[str, Any]) -> bytes:
    """The JSON bytes sent for `data` (InvalidArgument if it is not a JSON object)."""
    if not isinstance(data, Mapping):
        raise InvalidArgument("data: must be a mapping (a JSON object)")
    try:
        return json.dumps(dict(data), separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"data: not serializable as JSON ({exc})") from None


def _final_message(error: FinalError) -> FinalError:
    """The same error with the node's message alone (no "endpoint: " prefix)."""
    prefix = f"{error.endpoint}: "
    text = str(error)
    if error.endpoint and text.startswith(prefix):
        text = text[len(prefix) :]
    return type(error)(text, endpoint=error.endpoint, request_id=error.request_id, code=error.code)


class SecretsClient:
    """Versioned secrets of a keymgr cluster (see proto/keymgr/v1/secrets.proto)."""

    def __init__(
        self, transport: Transport, credential: tuple[tuple[str, str | bytes], ...] = ()
    ) -> None:
        self._transport = transport
        self._credential = credential

    def with_token(self, token: str) -> SecretsClient:
        """The same client, every call authenticated as `token`'s principal."""
        if not token or any(c in token for c in "\r\n\0"):
            raise InvalidArgument("token: must be a non-empty single-line string")
        return SecretsClient(self._transport, ((TOKEN_METADATA, token),))

    def with_forwarded_certificate(self, pem: bytes) -> SecretsClient:
        """The same client acting for the holder of certificate `pem` (DER or PEM); the
        cluster honours it only from a caller with role `gateway`."""
        if not pem:
            raise InvalidArgument("certificate: must not be empty")
        return SecretsClient(self._transport, ((FORWARDED_CERT_METADATA, bytes(pem)),))

    # --- transport -----------------------------------------------------------------

    def _call(self, method: str, request: Any, *, request_id: str = "") -> Any:
        """One call with the client's failover and index, and this client's credential."""
        try:
            return self._transport._call(
                "secrets", method, request, request_id=request_id, credential=self._credential
            )
        except FinalError as error:
            raise _final_message(error) from None

    def _write(self, method: str, request: Any, request_id: str | None = None) -> Any:
        """A write under `request_id` (new if None): sending it again with the same id,
        after an answer that may not have come back, applies it at most once."""
        rid = request_id or uuid.uuid4().hex
        request.request_id = rid
        return self._call(method, request, request_id=rid)

    # --- data ----------------------------------------------------------------------

    def put(
        self,
        mount: str,
        path: str,
        data: Mapping[str, Any],
        *,
        cas: int | None = None,
        request_id: str | None = None,
    ) -> SecretVersion:
        request = secrets_pb2.PutSecretRequest(mount=mount, path=path, data=_json_object(data))
        if cas is not None:
            request.cas = cas
        return _version(self._write("Put", request, request_id).version)

    def patch(
        self,
        mount: str,
        path: str,
        data: Mapping[str, Any],
        *,
        cas: int | None = None,
        request_id: str | None = None,
    ) -> SecretVersion:
        """RFC 7396 merge patch of the current version, applied on the node."""
        request = secrets_pb2.PatchSecretRequest(mount=mount, path=path, data=_json_object(data))
        if cas is not None:
            request.cas = cas
        return _version(self._write("Patch", request, request_id).version)

    def get(self, mount: str, path: str, *, version: int = 0) -> Secret:
        """Version `version` (0 = current); `data` is None if it is deleted or destroyed."""
        response = self._call(
            "Get", secrets_pb2.GetSecretRequest(mount=mount, path=path, version=version)
        )
        data = json.loads(response.data) if response.has_data else None
        return Secret(
            mount=response.mount,
            path=response.path,
            data=data,
            version=_version(response.version),
            custom_metadata=dict(response.custom_metadata),
        )

    def list(self, mount: str, prefix: str = "") -> list[str]:
        """Immediate children of `prefix` ("a/" is a folder), sorted; NotFound when none."""
        response = self._call("List", secrets_pb2.ListSecretsRequest(mount=mount, prefix=prefix))
        return list(response.keys)

    def delete(
        self,
        mount: str,
        path: str,
        versions: Sequence[int] = (),
        *,
        request_id: str | None = None,
    ) -> None:
        """Soft-deletes `versions` (() = the current version)."""
        request = secrets_pb2.SecretVersionsRequest(mount=mount, path=path, versions=versions)
        self._write("Delete", request, request_id)

    def undelete(
        self, mount: str, path: str, versions: Sequence[int], *, request_id: str | None = None
    ) -> None:
        request = secrets_pb2.SecretVersionsRequest(mount=mount, path=path, versions=versions)
        self._write("Undelete", request, request_id)

    def destroy(
        self, mount: str, path: str, versions: Sequence[int], *, request_id: str | None = None
    ) -> None:
        """Removes the versions' ciphertext from the cluster for good."""
        request = secrets_pb2.SecretVersionsRequest(mount=mount, path=path, versions=versions)
        self._write("Destroy", request, request_id)

    # --- metadata ------------------------------------------------------------------

    def read_metadata(self, mount: str, path: str) -> SecretMetadata:
        r = self._call("ReadMetadata", secrets_pb2.SecretPathRequest(mount=mount, path=path))
        return SecretMetadata(
            mount=r.mount,
            path=r.path,
            current_version=r.current_version,
            oldest_version=r.oldest_version,
            max_versions=r.max_versions,
            cas_required=r.cas_required,
            delete_version_after_s=r.delete_version_after_s,
            created_time=r.created_time,
            updated_time=r.updated_time,
            custom_metadata=dict(r.custom_metadata),
            versions={n: _version(v) for n, v in sorted(r.versions.items())},
        )

    def write_metadata(
        self,
        mount: str,
        path: str,
        *,
        max_versions: int | None = None,
        cas_required: bool | None = None,
        delete_version_after_s: int | None = None,
        custom_metadata: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> None:
        """Changes only what is given; `custom_metadata` replaces the whole map."""
        request = secrets_pb2.WriteSecretMetadataRequest(mount=mount, path=path)
        if max_versions is not None:
            request.max_versions = max_versions
        if cas_required is not None:
            request.cas_required = cas_required
        if delete_version_after_s is not None:
            request.delete_version_after_s = delete_version_after_s
        if custom_metadata is not None:
            request.set_custom_metadata = True
            request.custom_metadata.update(custom_metadata)
        self._write("WriteMetadata", request, request_id)

    def delete_metadata(self, mount: str, path: str, *, request_id: str | None = None) -> None:
        """Removes the path and every version of it."""
        request = secrets_pb2.SecretPathRequest(mount=mount, path=path)
        self._write("DeleteMetadata", request, request_id)

    # --- mounts --------------------------------------------------------------------

    def read_config(self, mount: str) -> MountConfig:
        return _mount(self._call("ReadConfig", secrets_pb2.ReadMountConfigRequest(mount=mount)))

    def write_config(
        self,
        mount: str,
        *,
        max_versions: int | None = None,
        cas_required: bool | None = None,
        delete_version_after_s: int | None = None,
        request_id: str | None = None,
    ) -> MountConfig:
        request = secrets_pb2.WriteMountConfigRequest(mount=mount)
        if max_versions is not None:
            request.max_versions = max_versions
        if cas_required is not None:
            request.cas_required = cas_required
        if delete_version_after_s is not None:
            request.delete_version_after_s = delete_version_after_s
        return _mount(self._write("WriteConfig", request, request_id))

    def enable_mount(self, mount: str, *, key_name: str = "", max_versions: int = 0) -> MountConfig:
        """A new mount; its values are encrypted under `key_name` (default: a new key
        "secrets-<mount>")."""
        request = secrets_pb2.EnableMountRequest(
            mount=mount, key_name=key_name, max_versions=max_versions
        )
        return _mount(self._write("EnableMount", request))

    def list_mounts(self) -> builtins.list[MountConfig]:
        response = self._call("ListMounts", secrets_pb2.ListMountsRequest())
        return [_mount(m) for m in response.mounts]

    # --- tokens --------------------------------------------------------------------

    def create_token(self, principal: str, ttl_s: int, *, display_name: str = "") -> IssuedToken:
        request = secrets_pb2.CreateTokenRequest(
            principal=principal, ttl_seconds=ttl_s, display_name=display_name
        )
        response = self._write("CreateToken", request)
        return IssuedToken(token=response.token, info=_token(response.info))

    def revoke_token(self, accessor: str) -> None:
        self._write("RevokeToken", secrets_pb2.RevokeTokenRequest(accessor=accessor))

    def list_tokens(self) -> builtins.list[TokenInfo]:
        response = self._call("ListTokens", secrets_pb2.ListTokensRequest())
        return [_token(t) for t in response.tokens]

    def lookup_token(self) -> TokenInfo:
        """The token this client sends (`with_token`); Unauthenticated if none or invalid."""
        return _token(self._call("LookupToken", secrets_pb2.LookupTokenRequest()))


class SecretsCalls(Transport):
    """`client.secrets`: the secrets calls, on this client's connections."""

    @functools.cached_property
    def secrets(self) -> SecretsClient:
        return SecretsClient(self)
