from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SecretVersionInfo(_message.Message):
    __slots__ = ("version", "created_time", "deletion_time", "destroyed")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_FIELD_NUMBER: _ClassVar[int]
    DELETION_TIME_FIELD_NUMBER: _ClassVar[int]
    DESTROYED_FIELD_NUMBER: _ClassVar[int]
    version: int
    created_time: float
    deletion_time: float
    destroyed: bool
    def __init__(self, version: _Optional[int] = ..., created_time: _Optional[float] = ..., deletion_time: _Optional[float] = ..., destroyed: _Optional[bool] = ...) -> None: ...

class PutSecretRequest(_message.Message):
    __slots__ = ("mount", "path", "data", "cas", "request_id")
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CAS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    mount: str
    path: str
    data: bytes
    cas: int
    request_id: str
    def __init__(self, mount: _Optional[str] = ..., path: _Optional[str] = ..., data: _Optional[bytes] = ..., cas: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class PatchSecretRequest(_message.Message):
    __slots__ = ("mount", "path", "data", "cas", "request_id")
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CAS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    mount: str
    path: str
    data: bytes
    cas: int
    request_id: str
    def __init__(self, mount: _Optional[str] = ..., path: _Optional[str] = ..., data: _Optional[bytes] = ..., cas: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class PutSecretResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: SecretVersionInfo
    def __init__(self, version: _Optional[_Union[SecretVersionInfo, _Mapping]] = ...) -> None: ...

class GetSecretRequest(_message.Message):
    __slots__ = ("mount", "path", "version")
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    mount: str
    path: str
    version: int
    def __init__(self, mount: _Optional[str] = ..., path: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetSecretResponse(_message.Message):
    __slots__ = ("mount", "path", "has_data", "data", "version", "custom_metadata")
    class CustomMetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    HAS_DATA_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_METADATA_FIELD_NUMBER: _ClassVar[int]
    mount: str
    path: str
    has_data: bool
    data: bytes
    version: SecretVersionInfo
    custom_metadata: _containers.ScalarMap[str, str]
    def __init__(self, mount: _Optional[str] = ..., path: _Optional[str] = ..., has_data: _Optional[bool] = ..., data: _Optional[bytes] = ..., version: _Optional[_Union[SecretVersionInfo, _Mapping]] = ..., custom_metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ListSecretsRequest(_message.Message):
    __slots__ = ("mount", "prefix")
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    mount: str
    prefix: str
    def __init__(self, mount: _Optional[str] = ..., prefix: _Optional[str] = ...) -> None: ...

class ListSecretsResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, keys: _Optional[_Iterable[str]] = ...) -> None: ...

class SecretVersionsRequest(_message.Message):
    __slots__ = ("mount", "path", "versions", "request_id")
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    mount: str
    path: str
    versions: _containers.RepeatedScalarFieldContainer[int]
    request_id: str
    def __init__(self, mount: _Optional[str] = ..., path: _Optional[str] = ..., versions: _Optional[_Iterable[int]] = ..., request_id: _Optional[str] = ...) -> None: ...

class SecretsWriteResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SecretPathRequest(_message.Message):
    __slots__ = ("mount", "path", "request_id")
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    mount: str
    path: str
    request_id: str
    def __init__(self, mount: _Optional[str] = ..., path: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class SecretMetadataResponse(_message.Message):
    __slots__ = ("mount", "path", "current_version", "oldest_version", "max_versions", "cas_required", "delete_version_after_s", "created_time", "updated_time", "custom_metadata", "versions")
    class CustomMetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class VersionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: SecretVersionInfo
        def __init__(self, key: _Optional[int] = ..., value: _Optional[_Union[SecretVersionInfo, _Mapping]] = ...) -> None: ...
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    CURRENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    OLDEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    MAX_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CAS_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    DELETE_VERSION_AFTER_S_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATED_TIME_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_METADATA_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    mount: str
    path: str
    current_version: int
    oldest_version: int
    max_versions: int
    cas_required: bool
    delete_version_after_s: int
    created_time: float
    updated_time: float
    custom_metadata: _containers.ScalarMap[str, str]
    versions: _containers.MessageMap[int, SecretVersionInfo]
    def __init__(self, mount: _Optional[str] = ..., path: _Optional[str] = ..., current_version: _Optional[int] = ..., oldest_version: _Optional[int] = ..., max_versions: _Optional[int] = ..., cas_required: _Optional[bool] = ..., delete_version_after_s: _Optional[int] = ..., created_time: _Optional[float] = ..., updated_time: _Optional[float] = ..., custom_metadata: _Optional[_Mapping[str, str]] = ..., versions: _Optional[_Mapping[int, SecretVersionInfo]] = ...) -> None: ...

class WriteSecretMetadataRequest(_message.Message):
    __slots__ = ("mount", "path", "max_versions", "cas_required", "delete_version_after_s", "set_custom_metadata", "custom_metadata", "request_id")
    class CustomMetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    MAX_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CAS_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    DELETE_VERSION_AFTER_S_FIELD_NUMBER: _ClassVar[int]
    SET_CUSTOM_METADATA_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_METADATA_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    mount: str
    path: str
    max_versions: int
    cas_required: bool
    delete_version_after_s: int
    set_custom_metadata: bool
    custom_metadata: _containers.ScalarMap[str, str]
    request_id: str
    def __init__(self, mount: _Optional[str] = ..., path: _Optional[str] = ..., max_versions: _Optional[int] = ..., cas_required: _Optional[bool] = ..., delete_version_after_s: _Optional[int] = ..., set_custom_metadata: _Optional[bool] = ..., custom_metadata: _Optional[_Mapping[str, str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class MountConfig(_message.Message):
    __slots__ = ("mount", "key_name", "max_versions", "cas_required", "delete_version_after_s")
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    MAX_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CAS_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    DELETE_VERSION_AFTER_S_FIELD_NUMBER: _ClassVar[int]
    mount: str
    key_name: str
    max_versions: int
    cas_required: bool
    delete_version_after_s: int
    def __init__(self, mount: _Optional[str] = ..., key_name: _Optional[str] = ..., max_versions: _Optional[int] = ..., cas_required: _Optional[bool] = ..., delete_version_after_s: _Optional[int] = ...) -> None: ...

class ReadMountConfigRequest(_message.Message):
    __slots__ = ("mount",)
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    mount: str
    def __init__(self, mount: _Optional[str] = ...) -> None: ...

class WriteMountConfigRequest(_message.Message):
    __slots__ = ("mount", "max_versions", "cas_required", "delete_version_after_s", "request_id")
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CAS_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    DELETE_VERSION_AFTER_S_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    mount: str
    max_versions: int
    cas_required: bool
    delete_version_after_s: int
    request_id: str
    def __init__(self, mount: _Optional[str] = ..., max_versions: _Optional[int] = ..., cas_required: _Optional[bool] = ..., delete_version_after_s: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class EnableMountRequest(_message.Message):
    __slots__ = ("mount", "key_name", "max_versions", "request_id")
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    MAX_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    mount: str
    key_name: str
    max_versions: int
    request_id: str
    def __init__(self, mount: _Optional[str] = ..., key_name: _Optional[str] = ..., max_versions: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class ListMountsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListMountsResponse(_message.Message):
    __slots__ = ("mounts",)
    MOUNTS_FIELD_NUMBER: _ClassVar[int]
    mounts: _containers.RepeatedCompositeFieldContainer[MountConfig]
    def __init__(self, mounts: _Optional[_Iterable[_Union[MountConfig, _Mapping]]] = ...) -> None: ...

class TokenInfo(_message.Message):
    __slots__ = ("accessor", "principal", "display_name", "created_time", "expire_time", "revoked")
    ACCESSOR_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    accessor: str
    principal: str
    display_name: str
    created_time: float
    expire_time: float
    revoked: bool
    def __init__(self, accessor: _Optional[str] = ..., principal: _Optional[str] = ..., display_name: _Optional[str] = ..., created_time: _Optional[float] = ..., expire_time: _Optional[float] = ..., revoked: _Optional[bool] = ...) -> None: ...

class CreateTokenRequest(_message.Message):
    __slots__ = ("principal", "ttl_seconds", "display_name", "request_id")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    principal: str
    ttl_seconds: int
    display_name: str
    request_id: str
    def __init__(self, principal: _Optional[str] = ..., ttl_seconds: _Optional[int] = ..., display_name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateTokenResponse(_message.Message):
    __slots__ = ("token", "info")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    token: str
    info: TokenInfo
    def __init__(self, token: _Optional[str] = ..., info: _Optional[_Union[TokenInfo, _Mapping]] = ...) -> None: ...

class RevokeTokenRequest(_message.Message):
    __slots__ = ("accessor", "request_id")
    ACCESSOR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    accessor: str
    request_id: str
    def __init__(self, accessor: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ListTokensRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTokensResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[TokenInfo]
    def __init__(self, tokens: _Optional[_Iterable[_Union[TokenInfo, _Mapping]]] = ...) -> None: ...

class LookupTokenRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
