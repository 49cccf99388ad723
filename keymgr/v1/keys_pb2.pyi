from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class KeyPurpose(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KEY_PURPOSE_UNSPECIFIED: _ClassVar[KeyPurpose]
    KEY_PURPOSE_ENCRYPT: _ClassVar[KeyPurpose]
    KEY_PURPOSE_TDE: _ClassVar[KeyPurpose]
    KEY_PURPOSE_VOLUME: _ClassVar[KeyPurpose]
    KEY_PURPOSE_HSM: _ClassVar[KeyPurpose]

class KeyState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KEY_STATE_UNSPECIFIED: _ClassVar[KeyState]
    KEY_STATE_ENABLED: _ClassVar[KeyState]
    KEY_STATE_DISABLED: _ClassVar[KeyState]
    KEY_STATE_PENDING_DELETION: _ClassVar[KeyState]
    KEY_STATE_DESTROYED: _ClassVar[KeyState]

class KeyOrigin(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KEY_ORIGIN_UNSPECIFIED: _ClassVar[KeyOrigin]
    KEY_ORIGIN_KEYMGR: _ClassVar[KeyOrigin]
    KEY_ORIGIN_EXTERNAL: _ClassVar[KeyOrigin]

class WrappingAlgorithm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WRAPPING_ALGORITHM_UNSPECIFIED: _ClassVar[WrappingAlgorithm]
    WRAPPING_ALGORITHM_RSA_AES_KEY_WRAP_SHA_256: _ClassVar[WrappingAlgorithm]
    WRAPPING_ALGORITHM_RSAES_OAEP_SHA_256: _ClassVar[WrappingAlgorithm]

class Consistency(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSISTENCY_DEFAULT: _ClassVar[Consistency]
    CONSISTENCY_LINEARIZABLE: _ClassVar[Consistency]
KEY_PURPOSE_UNSPECIFIED: KeyPurpose
KEY_PURPOSE_ENCRYPT: KeyPurpose
KEY_PURPOSE_TDE: KeyPurpose
KEY_PURPOSE_VOLUME: KeyPurpose
KEY_PURPOSE_HSM: KeyPurpose
KEY_STATE_UNSPECIFIED: KeyState
KEY_STATE_ENABLED: KeyState
KEY_STATE_DISABLED: KeyState
KEY_STATE_PENDING_DELETION: KeyState
KEY_STATE_DESTROYED: KeyState
KEY_ORIGIN_UNSPECIFIED: KeyOrigin
KEY_ORIGIN_KEYMGR: KeyOrigin
KEY_ORIGIN_EXTERNAL: KeyOrigin
WRAPPING_ALGORITHM_UNSPECIFIED: WrappingAlgorithm
WRAPPING_ALGORITHM_RSA_AES_KEY_WRAP_SHA_256: WrappingAlgorithm
WRAPPING_ALGORITHM_RSAES_OAEP_SHA_256: WrappingAlgorithm
CONSISTENCY_DEFAULT: Consistency
CONSISTENCY_LINEARIZABLE: Consistency

class KeyVersion(_message.Message):
    __slots__ = ("version", "created_at_ms", "created_by", "origin", "expires_at_ms", "material_expired")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    MATERIAL_EXPIRED_FIELD_NUMBER: _ClassVar[int]
    version: int
    created_at_ms: int
    created_by: str
    origin: KeyOrigin
    expires_at_ms: int
    material_expired: bool
    def __init__(self, version: _Optional[int] = ..., created_at_ms: _Optional[int] = ..., created_by: _Optional[str] = ..., origin: _Optional[_Union[KeyOrigin, str]] = ..., expires_at_ms: _Optional[int] = ..., material_expired: _Optional[bool] = ...) -> None: ...

class Key(_message.Message):
    __slots__ = ("id", "name", "purpose", "state", "current_version", "versions", "labels", "description", "created_at_ms", "deletion_time_ms", "rotation_period_seconds", "min_decryption_version", "created_by", "origin", "non_exportable")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    DELETION_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    ROTATION_PERIOD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MIN_DECRYPTION_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    NON_EXPORTABLE_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    purpose: KeyPurpose
    state: KeyState
    current_version: int
    versions: _containers.RepeatedCompositeFieldContainer[KeyVersion]
    labels: _containers.ScalarMap[str, str]
    description: str
    created_at_ms: int
    deletion_time_ms: int
    rotation_period_seconds: int
    min_decryption_version: int
    created_by: str
    origin: KeyOrigin
    non_exportable: bool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., purpose: _Optional[_Union[KeyPurpose, str]] = ..., state: _Optional[_Union[KeyState, str]] = ..., current_version: _Optional[int] = ..., versions: _Optional[_Iterable[_Union[KeyVersion, _Mapping]]] = ..., labels: _Optional[_Mapping[str, str]] = ..., description: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., deletion_time_ms: _Optional[int] = ..., rotation_period_seconds: _Optional[int] = ..., min_decryption_version: _Optional[int] = ..., created_by: _Optional[str] = ..., origin: _Optional[_Union[KeyOrigin, str]] = ..., non_exportable: _Optional[bool] = ...) -> None: ...

class KeyResponse(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: Key
    def __init__(self, key: _Optional[_Union[Key, _Mapping]] = ...) -> None: ...

class CreateKeyRequest(_message.Message):
    __slots__ = ("name", "purpose", "labels", "description", "rotation_period_seconds", "origin", "non_exportable", "request_id")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ROTATION_PERIOD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    NON_EXPORTABLE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    purpose: KeyPurpose
    labels: _containers.ScalarMap[str, str]
    description: str
    rotation_period_seconds: int
    origin: KeyOrigin
    non_exportable: bool
    request_id: str
    def __init__(self, name: _Optional[str] = ..., purpose: _Optional[_Union[KeyPurpose, str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., description: _Optional[str] = ..., rotation_period_seconds: _Optional[int] = ..., origin: _Optional[_Union[KeyOrigin, str]] = ..., non_exportable: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetImportParametersRequest(_message.Message):
    __slots__ = ("name_or_id", "wrapping_key_bits", "validity_seconds", "request_id")
    NAME_OR_ID_FIELD_NUMBER: _ClassVar[int]
    WRAPPING_KEY_BITS_FIELD_NUMBER: _ClassVar[int]
    VALIDITY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name_or_id: str
    wrapping_key_bits: int
    validity_seconds: int
    request_id: str
    def __init__(self, name_or_id: _Optional[str] = ..., wrapping_key_bits: _Optional[int] = ..., validity_seconds: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetImportParametersResponse(_message.Message):
    __slots__ = ("key_id", "public_key", "public_key_pem", "import_token", "expires_at_ms", "wrapping_key_bits")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_PEM_FIELD_NUMBER: _ClassVar[int]
    IMPORT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    WRAPPING_KEY_BITS_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    public_key: bytes
    public_key_pem: str
    import_token: str
    expires_at_ms: int
    wrapping_key_bits: int
    def __init__(self, key_id: _Optional[str] = ..., public_key: _Optional[bytes] = ..., public_key_pem: _Optional[str] = ..., import_token: _Optional[str] = ..., expires_at_ms: _Optional[int] = ..., wrapping_key_bits: _Optional[int] = ...) -> None: ...

class ImportKeyMaterialRequest(_message.Message):
    __slots__ = ("name_or_id", "import_token", "wrapped_key_material", "algorithm", "version", "expires_at_ms", "request_id")
    NAME_OR_ID_FIELD_NUMBER: _ClassVar[int]
    IMPORT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    WRAPPED_KEY_MATERIAL_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name_or_id: str
    import_token: str
    wrapped_key_material: bytes
    algorithm: WrappingAlgorithm
    version: int
    expires_at_ms: int
    request_id: str
    def __init__(self, name_or_id: _Optional[str] = ..., import_token: _Optional[str] = ..., wrapped_key_material: _Optional[bytes] = ..., algorithm: _Optional[_Union[WrappingAlgorithm, str]] = ..., version: _Optional[int] = ..., expires_at_ms: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class SetKeyRotationRequest(_message.Message):
    __slots__ = ("name_or_id", "rotation_period_seconds", "min_decryption_version", "request_id")
    NAME_OR_ID_FIELD_NUMBER: _ClassVar[int]
    ROTATION_PERIOD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MIN_DECRYPTION_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name_or_id: str
    rotation_period_seconds: int
    min_decryption_version: int
    request_id: str
    def __init__(self, name_or_id: _Optional[str] = ..., rotation_period_seconds: _Optional[int] = ..., min_decryption_version: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetKeyRequest(_message.Message):
    __slots__ = ("name_or_id",)
    NAME_OR_ID_FIELD_NUMBER: _ClassVar[int]
    name_or_id: str
    def __init__(self, name_or_id: _Optional[str] = ...) -> None: ...

class ListKeysRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListKeysResponse(_message.Message):
    __slots__ = ("keys", "next_page_token")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[Key]
    next_page_token: str
    def __init__(self, keys: _Optional[_Iterable[_Union[Key, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RotateKeyRequest(_message.Message):
    __slots__ = ("name_or_id", "request_id")
    NAME_OR_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name_or_id: str
    request_id: str
    def __init__(self, name_or_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class EnableKeyRequest(_message.Message):
    __slots__ = ("name_or_id", "request_id")
    NAME_OR_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name_or_id: str
    request_id: str
    def __init__(self, name_or_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DisableKeyRequest(_message.Message):
    __slots__ = ("name_or_id", "request_id")
    NAME_OR_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name_or_id: str
    request_id: str
    def __init__(self, name_or_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ScheduleKeyDeletionRequest(_message.Message):
    __slots__ = ("name_or_id", "pending_window_seconds", "request_id")
    NAME_OR_ID_FIELD_NUMBER: _ClassVar[int]
    PENDING_WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name_or_id: str
    pending_window_seconds: int
    request_id: str
    def __init__(self, name_or_id: _Optional[str] = ..., pending_window_seconds: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class CancelKeyDeletionRequest(_message.Message):
    __slots__ = ("name_or_id", "request_id")
    NAME_OR_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name_or_id: str
    request_id: str
    def __init__(self, name_or_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class GenerateDataKeyRequest(_message.Message):
    __slots__ = ("key_name", "encryption_context", "number_of_bytes", "without_plaintext", "consistency")
    class EncryptionContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTION_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    NUMBER_OF_BYTES_FIELD_NUMBER: _ClassVar[int]
    WITHOUT_PLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    key_name: str
    encryption_context: _containers.ScalarMap[str, str]
    number_of_bytes: int
    without_plaintext: bool
    consistency: Consistency
    def __init__(self, key_name: _Optional[str] = ..., encryption_context: _Optional[_Mapping[str, str]] = ..., number_of_bytes: _Optional[int] = ..., without_plaintext: _Optional[bool] = ..., consistency: _Optional[_Union[Consistency, str]] = ...) -> None: ...

class GenerateDataKeyResponse(_message.Message):
    __slots__ = ("ciphertext_blob", "plaintext", "key_id", "key_version")
    CIPHERTEXT_BLOB_FIELD_NUMBER: _ClassVar[int]
    PLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_VERSION_FIELD_NUMBER: _ClassVar[int]
    ciphertext_blob: bytes
    plaintext: bytes
    key_id: str
    key_version: int
    def __init__(self, ciphertext_blob: _Optional[bytes] = ..., plaintext: _Optional[bytes] = ..., key_id: _Optional[str] = ..., key_version: _Optional[int] = ...) -> None: ...

class EncryptRequest(_message.Message):
    __slots__ = ("key_name", "plaintext", "encryption_context", "consistency")
    class EncryptionContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    PLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTION_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    key_name: str
    plaintext: bytes
    encryption_context: _containers.ScalarMap[str, str]
    consistency: Consistency
    def __init__(self, key_name: _Optional[str] = ..., plaintext: _Optional[bytes] = ..., encryption_context: _Optional[_Mapping[str, str]] = ..., consistency: _Optional[_Union[Consistency, str]] = ...) -> None: ...

class EncryptResponse(_message.Message):
    __slots__ = ("ciphertext_blob", "key_id", "key_version")
    CIPHERTEXT_BLOB_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_VERSION_FIELD_NUMBER: _ClassVar[int]
    ciphertext_blob: bytes
    key_id: str
    key_version: int
    def __init__(self, ciphertext_blob: _Optional[bytes] = ..., key_id: _Optional[str] = ..., key_version: _Optional[int] = ...) -> None: ...

class DecryptRequest(_message.Message):
    __slots__ = ("ciphertext_blob", "encryption_context", "consistency")
    class EncryptionContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CIPHERTEXT_BLOB_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTION_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    ciphertext_blob: bytes
    encryption_context: _containers.ScalarMap[str, str]
    consistency: Consistency
    def __init__(self, ciphertext_blob: _Optional[bytes] = ..., encryption_context: _Optional[_Mapping[str, str]] = ..., consistency: _Optional[_Union[Consistency, str]] = ...) -> None: ...

class DecryptResponse(_message.Message):
    __slots__ = ("plaintext", "key_id", "key_version")
    PLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_VERSION_FIELD_NUMBER: _ClassVar[int]
    plaintext: bytes
    key_id: str
    key_version: int
    def __init__(self, plaintext: _Optional[bytes] = ..., key_id: _Optional[str] = ..., key_version: _Optional[int] = ...) -> None: ...

class ReEncryptRequest(_message.Message):
    __slots__ = ("ciphertext_blob", "source_encryption_context", "destination_key_name", "destination_encryption_context", "keep_source_context", "consistency")
    class SourceEncryptionContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class DestinationEncryptionContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CIPHERTEXT_BLOB_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ENCRYPTION_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_ENCRYPTION_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    KEEP_SOURCE_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    ciphertext_blob: bytes
    source_encryption_context: _containers.ScalarMap[str, str]
    destination_key_name: str
    destination_encryption_context: _containers.ScalarMap[str, str]
    keep_source_context: bool
    consistency: Consistency
    def __init__(self, ciphertext_blob: _Optional[bytes] = ..., source_encryption_context: _Optional[_Mapping[str, str]] = ..., destination_key_name: _Optional[str] = ..., destination_encryption_context: _Optional[_Mapping[str, str]] = ..., keep_source_context: _Optional[bool] = ..., consistency: _Optional[_Union[Consistency, str]] = ...) -> None: ...

class ReEncryptResponse(_message.Message):
    __slots__ = ("ciphertext_blob", "key_id", "key_version", "source_key_id", "source_key_version")
    CIPHERTEXT_BLOB_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_VERSION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_KEY_VERSION_FIELD_NUMBER: _ClassVar[int]
    ciphertext_blob: bytes
    key_id: str
    key_version: int
    source_key_id: str
    source_key_version: int
    def __init__(self, ciphertext_blob: _Optional[bytes] = ..., key_id: _Optional[str] = ..., key_version: _Optional[int] = ..., source_key_id: _Optional[str] = ..., source_key_version: _Optional[int] = ...) -> None: ...

class GenerateRandomRequest(_message.Message):
    __slots__ = ("number_of_bytes",)
    NUMBER_OF_BYTES_FIELD_NUMBER: _ClassVar[int]
    number_of_bytes: int
    def __init__(self, number_of_bytes: _Optional[int] = ...) -> None: ...

class GenerateRandomResponse(_message.Message):
    __slots__ = ("random",)
    RANDOM_FIELD_NUMBER: _ClassVar[int]
    random: bytes
    def __init__(self, random: _Optional[bytes] = ...) -> None: ...

class ItemError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class BatchEncryptItem(_message.Message):
    __slots__ = ("key_name", "plaintext", "encryption_context")
    class EncryptionContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    PLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTION_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    key_name: str
    plaintext: bytes
    encryption_context: _containers.ScalarMap[str, str]
    def __init__(self, key_name: _Optional[str] = ..., plaintext: _Optional[bytes] = ..., encryption_context: _Optional[_Mapping[str, str]] = ...) -> None: ...

class BatchEncryptRequest(_message.Message):
    __slots__ = ("items", "consistency")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[BatchEncryptItem]
    consistency: Consistency
    def __init__(self, items: _Optional[_Iterable[_Union[BatchEncryptItem, _Mapping]]] = ..., consistency: _Optional[_Union[Consistency, str]] = ...) -> None: ...

class BatchEncryptResult(_message.Message):
    __slots__ = ("ok", "error")
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ok: EncryptResponse
    error: ItemError
    def __init__(self, ok: _Optional[_Union[EncryptResponse, _Mapping]] = ..., error: _Optional[_Union[ItemError, _Mapping]] = ...) -> None: ...

class BatchEncryptResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchEncryptResult]
    def __init__(self, results: _Optional[_Iterable[_Union[BatchEncryptResult, _Mapping]]] = ...) -> None: ...

class BatchDecryptItem(_message.Message):
    __slots__ = ("ciphertext_blob", "encryption_context")
    class EncryptionContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CIPHERTEXT_BLOB_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTION_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    ciphertext_blob: bytes
    encryption_context: _containers.ScalarMap[str, str]
    def __init__(self, ciphertext_blob: _Optional[bytes] = ..., encryption_context: _Optional[_Mapping[str, str]] = ...) -> None: ...

class BatchDecryptRequest(_message.Message):
    __slots__ = ("items", "consistency")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[BatchDecryptItem]
    consistency: Consistency
    def __init__(self, items: _Optional[_Iterable[_Union[BatchDecryptItem, _Mapping]]] = ..., consistency: _Optional[_Union[Consistency, str]] = ...) -> None: ...

class BatchDecryptResult(_message.Message):
    __slots__ = ("ok", "error")
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ok: DecryptResponse
    error: ItemError
    def __init__(self, ok: _Optional[_Union[DecryptResponse, _Mapping]] = ..., error: _Optional[_Union[ItemError, _Mapping]] = ...) -> None: ...

class BatchDecryptResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchDecryptResult]
    def __init__(self, results: _Optional[_Iterable[_Union[BatchDecryptResult, _Mapping]]] = ...) -> None: ...

class BatchGenerateDataKeyItem(_message.Message):
    __slots__ = ("key_name", "encryption_context", "number_of_bytes", "without_plaintext")
    class EncryptionContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTION_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    NUMBER_OF_BYTES_FIELD_NUMBER: _ClassVar[int]
    WITHOUT_PLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    key_name: str
    encryption_context: _containers.ScalarMap[str, str]
    number_of_bytes: int
    without_plaintext: bool
    def __init__(self, key_name: _Optional[str] = ..., encryption_context: _Optional[_Mapping[str, str]] = ..., number_of_bytes: _Optional[int] = ..., without_plaintext: _Optional[bool] = ...) -> None: ...

class BatchGenerateDataKeyRequest(_message.Message):
    __slots__ = ("items", "consistency")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[BatchGenerateDataKeyItem]
    consistency: Consistency
    def __init__(self, items: _Optional[_Iterable[_Union[BatchGenerateDataKeyItem, _Mapping]]] = ..., consistency: _Optional[_Union[Consistency, str]] = ...) -> None: ...

class BatchGenerateDataKeyResult(_message.Message):
    __slots__ = ("ok", "error")
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ok: GenerateDataKeyResponse
    error: ItemError
    def __init__(self, ok: _Optional[_Union[GenerateDataKeyResponse, _Mapping]] = ..., error: _Optional[_Union[ItemError, _Mapping]] = ...) -> None: ...

class BatchGenerateDataKeyResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchGenerateDataKeyResult]
    def __init__(self, results: _Optional[_Iterable[_Union[BatchGenerateDataKeyResult, _Mapping]]] = ...) -> None: ...
