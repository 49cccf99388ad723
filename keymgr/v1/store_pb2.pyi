from keymgr.v1 import keys_pb2 as _keys_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ErrorCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_CODE_UNSPECIFIED: _ClassVar[ErrorCode]
    ERROR_CODE_INVALID_ARGUMENT: _ClassVar[ErrorCode]
    ERROR_CODE_NOT_FOUND: _ClassVar[ErrorCode]
    ERROR_CODE_ALREADY_EXISTS: _ClassVar[ErrorCode]
    ERROR_CODE_FAILED_PRECONDITION: _ClassVar[ErrorCode]
    ERROR_CODE_CONFLICT: _ClassVar[ErrorCode]
ERROR_CODE_UNSPECIFIED: ErrorCode
ERROR_CODE_INVALID_ARGUMENT: ErrorCode
ERROR_CODE_NOT_FOUND: ErrorCode
ERROR_CODE_ALREADY_EXISTS: ErrorCode
ERROR_CODE_FAILED_PRECONDITION: ErrorCode
ERROR_CODE_CONFLICT: ErrorCode

class InitCluster(_message.Message):
    __slots__ = ("shamir_wrapped_root_key", "secret_shares", "secret_threshold", "admins", "first_term", "share_digests")
    SHAMIR_WRAPPED_ROOT_KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_SHARES_FIELD_NUMBER: _ClassVar[int]
    SECRET_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ADMINS_FIELD_NUMBER: _ClassVar[int]
    FIRST_TERM_FIELD_NUMBER: _ClassVar[int]
    SHARE_DIGESTS_FIELD_NUMBER: _ClassVar[int]
    shamir_wrapped_root_key: bytes
    secret_shares: int
    secret_threshold: int
    admins: _containers.RepeatedScalarFieldContainer[str]
    first_term: KeyringTerm
    share_digests: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, shamir_wrapped_root_key: _Optional[bytes] = ..., secret_shares: _Optional[int] = ..., secret_threshold: _Optional[int] = ..., admins: _Optional[_Iterable[str]] = ..., first_term: _Optional[_Union[KeyringTerm, _Mapping]] = ..., share_digests: _Optional[_Iterable[bytes]] = ...) -> None: ...

class KeyringTerm(_message.Message):
    __slots__ = ("term", "wrapped_key", "created_at_ms")
    TERM_FIELD_NUMBER: _ClassVar[int]
    WRAPPED_KEY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    term: int
    wrapped_key: bytes
    created_at_ms: int
    def __init__(self, term: _Optional[int] = ..., wrapped_key: _Optional[bytes] = ..., created_at_ms: _Optional[int] = ...) -> None: ...

class CreateKey(_message.Message):
    __slots__ = ("key_id", "name", "purpose", "labels", "description", "wrapped_material")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    WRAPPED_MATERIAL_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    name: str
    purpose: _keys_pb2.KeyPurpose
    labels: _containers.ScalarMap[str, str]
    description: str
    wrapped_material: bytes
    def __init__(self, key_id: _Optional[str] = ..., name: _Optional[str] = ..., purpose: _Optional[_Union[_keys_pb2.KeyPurpose, str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., description: _Optional[str] = ..., wrapped_material: _Optional[bytes] = ...) -> None: ...

class RotateKey(_message.Message):
    __slots__ = ("key_id", "new_version", "wrapped_material")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_VERSION_FIELD_NUMBER: _ClassVar[int]
    WRAPPED_MATERIAL_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    new_version: int
    wrapped_material: bytes
    def __init__(self, key_id: _Optional[str] = ..., new_version: _Optional[int] = ..., wrapped_material: _Optional[bytes] = ...) -> None: ...

class SetKeyEnabled(_message.Message):
    __slots__ = ("key_id", "enabled")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    enabled: bool
    def __init__(self, key_id: _Optional[str] = ..., enabled: _Optional[bool] = ...) -> None: ...

class ScheduleDeletion(_message.Message):
    __slots__ = ("key_id", "deletion_time_ms")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    DELETION_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    deletion_time_ms: int
    def __init__(self, key_id: _Optional[str] = ..., deletion_time_ms: _Optional[int] = ...) -> None: ...

class CancelDeletion(_message.Message):
    __slots__ = ("key_id",)
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    def __init__(self, key_id: _Optional[str] = ...) -> None: ...

class RotateKeyring(_message.Message):
    __slots__ = ("new_term",)
    NEW_TERM_FIELD_NUMBER: _ClassVar[int]
    new_term: KeyringTerm
    def __init__(self, new_term: _Optional[_Union[KeyringTerm, _Mapping]] = ...) -> None: ...

class Tick(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Command(_message.Message):
    __slots__ = ("request_id", "time_ms", "principal", "init_cluster", "create_key", "rotate_key", "set_key_enabled", "schedule_deletion", "cancel_deletion", "rotate_keyring", "tick")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    INIT_CLUSTER_FIELD_NUMBER: _ClassVar[int]
    CREATE_KEY_FIELD_NUMBER: _ClassVar[int]
    ROTATE_KEY_FIELD_NUMBER: _ClassVar[int]
    SET_KEY_ENABLED_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_DELETION_FIELD_NUMBER: _ClassVar[int]
    CANCEL_DELETION_FIELD_NUMBER: _ClassVar[int]
    ROTATE_KEYRING_FIELD_NUMBER: _ClassVar[int]
    TICK_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    time_ms: int
    principal: str
    init_cluster: InitCluster
    create_key: CreateKey
    rotate_key: RotateKey
    set_key_enabled: SetKeyEnabled
    schedule_deletion: ScheduleDeletion
    cancel_deletion: CancelDeletion
    rotate_keyring: RotateKeyring
    tick: Tick
    def __init__(self, request_id: _Optional[str] = ..., time_ms: _Optional[int] = ..., principal: _Optional[str] = ..., init_cluster: _Optional[_Union[InitCluster, _Mapping]] = ..., create_key: _Optional[_Union[CreateKey, _Mapping]] = ..., rotate_key: _Optional[_Union[RotateKey, _Mapping]] = ..., set_key_enabled: _Optional[_Union[SetKeyEnabled, _Mapping]] = ..., schedule_deletion: _Optional[_Union[ScheduleDeletion, _Mapping]] = ..., cancel_deletion: _Optional[_Union[CancelDeletion, _Mapping]] = ..., rotate_keyring: _Optional[_Union[RotateKeyring, _Mapping]] = ..., tick: _Optional[_Union[Tick, _Mapping]] = ...) -> None: ...

class CommandError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: ErrorCode
    message: str
    def __init__(self, code: _Optional[_Union[ErrorCode, str]] = ..., message: _Optional[str] = ...) -> None: ...

class CommandResult(_message.Message):
    __slots__ = ("key", "keyring_term", "error", "ok")
    KEY_FIELD_NUMBER: _ClassVar[int]
    KEYRING_TERM_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    key: _keys_pb2.Key
    keyring_term: int
    error: CommandError
    ok: bool
    def __init__(self, key: _Optional[_Union[_keys_pb2.Key, _Mapping]] = ..., keyring_term: _Optional[int] = ..., error: _Optional[_Union[CommandError, _Mapping]] = ..., ok: _Optional[bool] = ...) -> None: ...

class StoredKey(_message.Message):
    __slots__ = ("key", "wrapped_material")
    class WrappedMaterialEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: bytes
        def __init__(self, key: _Optional[int] = ..., value: _Optional[bytes] = ...) -> None: ...
    KEY_FIELD_NUMBER: _ClassVar[int]
    WRAPPED_MATERIAL_FIELD_NUMBER: _ClassVar[int]
    key: _keys_pb2.Key
    wrapped_material: _containers.ScalarMap[int, bytes]
    def __init__(self, key: _Optional[_Union[_keys_pb2.Key, _Mapping]] = ..., wrapped_material: _Optional[_Mapping[int, bytes]] = ...) -> None: ...

class RequestRecord(_message.Message):
    __slots__ = ("request_id", "result")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    result: CommandResult
    def __init__(self, request_id: _Optional[str] = ..., result: _Optional[_Union[CommandResult, _Mapping]] = ...) -> None: ...

class StoreState(_message.Message):
    __slots__ = ("init", "keyring", "active_term", "keys", "recent_requests", "applied_commands")
    class KeysEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: StoredKey
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[StoredKey, _Mapping]] = ...) -> None: ...
    INIT_FIELD_NUMBER: _ClassVar[int]
    KEYRING_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_TERM_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    RECENT_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_COMMANDS_FIELD_NUMBER: _ClassVar[int]
    init: InitCluster
    keyring: _containers.RepeatedCompositeFieldContainer[KeyringTerm]
    active_term: int
    keys: _containers.MessageMap[str, StoredKey]
    recent_requests: _containers.RepeatedCompositeFieldContainer[RequestRecord]
    applied_commands: int
    def __init__(self, init: _Optional[_Union[InitCluster, _Mapping]] = ..., keyring: _Optional[_Iterable[_Union[KeyringTerm, _Mapping]]] = ..., active_term: _Optional[int] = ..., keys: _Optional[_Mapping[str, StoredKey]] = ..., recent_requests: _Optional[_Iterable[_Union[RequestRecord, _Mapping]]] = ..., applied_commands: _Optional[int] = ...) -> None: ...
