from keymgr.v1 import keys_pb2 as _keys_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OperationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPERATION_STATE_UNSPECIFIED: _ClassVar[OperationState]
    OPERATION_STATE_PENDING: _ClassVar[OperationState]
    OPERATION_STATE_EXECUTED: _ClassVar[OperationState]
    OPERATION_STATE_REJECTED: _ClassVar[OperationState]
    OPERATION_STATE_EXPIRED: _ClassVar[OperationState]
    OPERATION_STATE_FAILED: _ClassVar[OperationState]

class ErrorCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_CODE_UNSPECIFIED: _ClassVar[ErrorCode]
    ERROR_CODE_INVALID_ARGUMENT: _ClassVar[ErrorCode]
    ERROR_CODE_NOT_FOUND: _ClassVar[ErrorCode]
    ERROR_CODE_ALREADY_EXISTS: _ClassVar[ErrorCode]
    ERROR_CODE_FAILED_PRECONDITION: _ClassVar[ErrorCode]
    ERROR_CODE_CONFLICT: _ClassVar[ErrorCode]
OPERATION_STATE_UNSPECIFIED: OperationState
OPERATION_STATE_PENDING: OperationState
OPERATION_STATE_EXECUTED: OperationState
OPERATION_STATE_REJECTED: OperationState
OPERATION_STATE_EXPIRED: OperationState
OPERATION_STATE_FAILED: OperationState
ERROR_CODE_UNSPECIFIED: ErrorCode
ERROR_CODE_INVALID_ARGUMENT: ErrorCode
ERROR_CODE_NOT_FOUND: ErrorCode
ERROR_CODE_ALREADY_EXISTS: ErrorCode
ERROR_CODE_FAILED_PRECONDITION: ErrorCode
ERROR_CODE_CONFLICT: ErrorCode

class InitCluster(_message.Message):
    __slots__ = ("shamir_wrapped_root_key", "secret_shares", "secret_threshold", "admins", "first_term", "share_digests", "approvals_required", "root_generation", "root_links", "root_rotated_at_ms", "root_rotated_by")
    SHAMIR_WRAPPED_ROOT_KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_SHARES_FIELD_NUMBER: _ClassVar[int]
    SECRET_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ADMINS_FIELD_NUMBER: _ClassVar[int]
    FIRST_TERM_FIELD_NUMBER: _ClassVar[int]
    SHARE_DIGESTS_FIELD_NUMBER: _ClassVar[int]
    APPROVALS_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    ROOT_GENERATION_FIELD_NUMBER: _ClassVar[int]
    ROOT_LINKS_FIELD_NUMBER: _ClassVar[int]
    ROOT_ROTATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ROOT_ROTATED_BY_FIELD_NUMBER: _ClassVar[int]
    shamir_wrapped_root_key: bytes
    secret_shares: int
    secret_threshold: int
    admins: _containers.RepeatedScalarFieldContainer[str]
    first_term: KeyringTerm
    share_digests: _containers.RepeatedScalarFieldContainer[bytes]
    approvals_required: int
    root_generation: int
    root_links: _containers.RepeatedCompositeFieldContainer[RootLink]
    root_rotated_at_ms: int
    root_rotated_by: str
    def __init__(self, shamir_wrapped_root_key: _Optional[bytes] = ..., secret_shares: _Optional[int] = ..., secret_threshold: _Optional[int] = ..., admins: _Optional[_Iterable[str]] = ..., first_term: _Optional[_Union[KeyringTerm, _Mapping]] = ..., share_digests: _Optional[_Iterable[bytes]] = ..., approvals_required: _Optional[int] = ..., root_generation: _Optional[int] = ..., root_links: _Optional[_Iterable[_Union[RootLink, _Mapping]]] = ..., root_rotated_at_ms: _Optional[int] = ..., root_rotated_by: _Optional[str] = ...) -> None: ...

class RootLink(_message.Message):
    __slots__ = ("generation", "wrapped")
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    WRAPPED_FIELD_NUMBER: _ClassVar[int]
    generation: int
    wrapped: bytes
    def __init__(self, generation: _Optional[int] = ..., wrapped: _Optional[bytes] = ...) -> None: ...

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
    __slots__ = ("key_id", "name", "purpose", "labels", "description", "wrapped_material", "rotation_period_s", "origin", "non_exportable")
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
    ROTATION_PERIOD_S_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    NON_EXPORTABLE_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    name: str
    purpose: _keys_pb2.KeyPurpose
    labels: _containers.ScalarMap[str, str]
    description: str
    wrapped_material: bytes
    rotation_period_s: int
    origin: _keys_pb2.KeyOrigin
    non_exportable: bool
    def __init__(self, key_id: _Optional[str] = ..., name: _Optional[str] = ..., purpose: _Optional[_Union[_keys_pb2.KeyPurpose, str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., description: _Optional[str] = ..., wrapped_material: _Optional[bytes] = ..., rotation_period_s: _Optional[int] = ..., origin: _Optional[_Union[_keys_pb2.KeyOrigin, str]] = ..., non_exportable: _Optional[bool] = ...) -> None: ...

class PrepareImport(_message.Message):
    __slots__ = ("key_id", "token_id", "public_key", "wrapped_private_key", "expires_at_ms")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    WRAPPED_PRIVATE_KEY_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    token_id: str
    public_key: bytes
    wrapped_private_key: bytes
    expires_at_ms: int
    def __init__(self, key_id: _Optional[str] = ..., token_id: _Optional[str] = ..., public_key: _Optional[bytes] = ..., wrapped_private_key: _Optional[bytes] = ..., expires_at_ms: _Optional[int] = ...) -> None: ...

class ImportMaterial(_message.Message):
    __slots__ = ("key_id", "token_id", "version", "wrapped_material", "material_digest", "expires_at_ms")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WRAPPED_MATERIAL_FIELD_NUMBER: _ClassVar[int]
    MATERIAL_DIGEST_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    token_id: str
    version: int
    wrapped_material: bytes
    material_digest: bytes
    expires_at_ms: int
    def __init__(self, key_id: _Optional[str] = ..., token_id: _Optional[str] = ..., version: _Optional[int] = ..., wrapped_material: _Optional[bytes] = ..., material_digest: _Optional[bytes] = ..., expires_at_ms: _Optional[int] = ...) -> None: ...

class ExpireMaterial(_message.Message):
    __slots__ = ("key_id", "version")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    version: int
    def __init__(self, key_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class PendingImport(_message.Message):
    __slots__ = ("token_id", "public_key", "wrapped_private_key", "expires_at_ms")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    WRAPPED_PRIVATE_KEY_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    public_key: bytes
    wrapped_private_key: bytes
    expires_at_ms: int
    def __init__(self, token_id: _Optional[str] = ..., public_key: _Optional[bytes] = ..., wrapped_private_key: _Optional[bytes] = ..., expires_at_ms: _Optional[int] = ...) -> None: ...

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
    __slots__ = ("new_term", "root_generation")
    NEW_TERM_FIELD_NUMBER: _ClassVar[int]
    ROOT_GENERATION_FIELD_NUMBER: _ClassVar[int]
    new_term: KeyringTerm
    root_generation: int
    def __init__(self, new_term: _Optional[_Union[KeyringTerm, _Mapping]] = ..., root_generation: _Optional[int] = ...) -> None: ...

class RotateRoot(_message.Message):
    __slots__ = ("from_generation", "shamir_wrapped_root_key", "secret_shares", "secret_threshold", "share_digests", "root_successor", "keyring", "new_term")
    FROM_GENERATION_FIELD_NUMBER: _ClassVar[int]
    SHAMIR_WRAPPED_ROOT_KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_SHARES_FIELD_NUMBER: _ClassVar[int]
    SECRET_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SHARE_DIGESTS_FIELD_NUMBER: _ClassVar[int]
    ROOT_SUCCESSOR_FIELD_NUMBER: _ClassVar[int]
    KEYRING_FIELD_NUMBER: _ClassVar[int]
    NEW_TERM_FIELD_NUMBER: _ClassVar[int]
    from_generation: int
    shamir_wrapped_root_key: bytes
    secret_shares: int
    secret_threshold: int
    share_digests: _containers.RepeatedScalarFieldContainer[bytes]
    root_successor: bytes
    keyring: _containers.RepeatedCompositeFieldContainer[KeyringTerm]
    new_term: KeyringTerm
    def __init__(self, from_generation: _Optional[int] = ..., shamir_wrapped_root_key: _Optional[bytes] = ..., secret_shares: _Optional[int] = ..., secret_threshold: _Optional[int] = ..., share_digests: _Optional[_Iterable[bytes]] = ..., root_successor: _Optional[bytes] = ..., keyring: _Optional[_Iterable[_Union[KeyringTerm, _Mapping]]] = ..., new_term: _Optional[_Union[KeyringTerm, _Mapping]] = ...) -> None: ...

class Tick(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Policy(_message.Message):
    __slots__ = ("name", "principals", "roles", "operations", "key_patterns", "required_context", "description", "path_patterns")
    class RequiredContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRINCIPALS_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    KEY_PATTERNS_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PATH_PATTERNS_FIELD_NUMBER: _ClassVar[int]
    name: str
    principals: _containers.RepeatedScalarFieldContainer[str]
    roles: _containers.RepeatedScalarFieldContainer[str]
    operations: _containers.RepeatedScalarFieldContainer[str]
    key_patterns: _containers.RepeatedScalarFieldContainer[str]
    required_context: _containers.ScalarMap[str, str]
    description: str
    path_patterns: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., principals: _Optional[_Iterable[str]] = ..., roles: _Optional[_Iterable[str]] = ..., operations: _Optional[_Iterable[str]] = ..., key_patterns: _Optional[_Iterable[str]] = ..., required_context: _Optional[_Mapping[str, str]] = ..., description: _Optional[str] = ..., path_patterns: _Optional[_Iterable[str]] = ...) -> None: ...

class RoleBinding(_message.Message):
    __slots__ = ("principal", "roles")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    principal: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, principal: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ...) -> None: ...

class ApprovalRule(_message.Message):
    __slots__ = ("kind", "required")
    KIND_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    kind: str
    required: int
    def __init__(self, kind: _Optional[str] = ..., required: _Optional[int] = ...) -> None: ...

class PendingOperation(_message.Message):
    __slots__ = ("id", "kind", "command", "requester", "approvals", "rejections", "created_at_ms", "expires_at_ms", "state", "result", "summary", "required", "decided_at_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_FIELD_NUMBER: _ClassVar[int]
    APPROVALS_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: str
    command: Command
    requester: str
    approvals: _containers.RepeatedScalarFieldContainer[str]
    rejections: _containers.RepeatedScalarFieldContainer[str]
    created_at_ms: int
    expires_at_ms: int
    state: OperationState
    result: CommandResult
    summary: str
    required: int
    decided_at_ms: int
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[str] = ..., command: _Optional[_Union[Command, _Mapping]] = ..., requester: _Optional[str] = ..., approvals: _Optional[_Iterable[str]] = ..., rejections: _Optional[_Iterable[str]] = ..., created_at_ms: _Optional[int] = ..., expires_at_ms: _Optional[int] = ..., state: _Optional[_Union[OperationState, str]] = ..., result: _Optional[_Union[CommandResult, _Mapping]] = ..., summary: _Optional[str] = ..., required: _Optional[int] = ..., decided_at_ms: _Optional[int] = ...) -> None: ...

class PutPolicy(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: Policy
    def __init__(self, policy: _Optional[_Union[Policy, _Mapping]] = ...) -> None: ...

class DeletePolicy(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class SetRoles(_message.Message):
    __slots__ = ("binding",)
    BINDING_FIELD_NUMBER: _ClassVar[int]
    binding: RoleBinding
    def __init__(self, binding: _Optional[_Union[RoleBinding, _Mapping]] = ...) -> None: ...

class SetApprovalRule(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: ApprovalRule
    def __init__(self, rule: _Optional[_Union[ApprovalRule, _Mapping]] = ...) -> None: ...

class DestroyKey(_message.Message):
    __slots__ = ("key_id",)
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    def __init__(self, key_id: _Optional[str] = ...) -> None: ...

class AuthorizeJoin(_message.Message):
    __slots__ = ("token_id", "node_id", "secret_digest", "expires_at_ms")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SECRET_DIGEST_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    node_id: str
    secret_digest: bytes
    expires_at_ms: int
    def __init__(self, token_id: _Optional[str] = ..., node_id: _Optional[str] = ..., secret_digest: _Optional[bytes] = ..., expires_at_ms: _Optional[int] = ...) -> None: ...

class ConsumeJoin(_message.Message):
    __slots__ = ("token_id", "node_id")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    node_id: str
    def __init__(self, token_id: _Optional[str] = ..., node_id: _Optional[str] = ...) -> None: ...

class JoinAuthorization(_message.Message):
    __slots__ = ("token", "used", "used_at_ms")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    USED_FIELD_NUMBER: _ClassVar[int]
    USED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    token: AuthorizeJoin
    used: bool
    used_at_ms: int
    def __init__(self, token: _Optional[_Union[AuthorizeJoin, _Mapping]] = ..., used: _Optional[bool] = ..., used_at_ms: _Optional[int] = ...) -> None: ...

class AuthorizeSealMigration(_message.Message):
    __slots__ = ("migration_id", "node_id", "to_type", "expires_at_ms")
    MIGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TO_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    migration_id: str
    node_id: str
    to_type: str
    expires_at_ms: int
    def __init__(self, migration_id: _Optional[str] = ..., node_id: _Optional[str] = ..., to_type: _Optional[str] = ..., expires_at_ms: _Optional[int] = ...) -> None: ...

class ConsumeSealMigration(_message.Message):
    __slots__ = ("migration_id", "node_id")
    MIGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    migration_id: str
    node_id: str
    def __init__(self, migration_id: _Optional[str] = ..., node_id: _Optional[str] = ...) -> None: ...

class SealMigration(_message.Message):
    __slots__ = ("authorization", "used", "used_at_ms")
    AUTHORIZATION_FIELD_NUMBER: _ClassVar[int]
    USED_FIELD_NUMBER: _ClassVar[int]
    USED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    authorization: AuthorizeSealMigration
    used: bool
    used_at_ms: int
    def __init__(self, authorization: _Optional[_Union[AuthorizeSealMigration, _Mapping]] = ..., used: _Optional[bool] = ..., used_at_ms: _Optional[int] = ...) -> None: ...

class RequestApproval(_message.Message):
    __slots__ = ("operation_id", "kind", "command", "expires_at_ms", "summary")
    OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    operation_id: str
    kind: str
    command: Command
    expires_at_ms: int
    summary: str
    def __init__(self, operation_id: _Optional[str] = ..., kind: _Optional[str] = ..., command: _Optional[_Union[Command, _Mapping]] = ..., expires_at_ms: _Optional[int] = ..., summary: _Optional[str] = ...) -> None: ...

class DecideApproval(_message.Message):
    __slots__ = ("operation_id", "approve")
    OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_FIELD_NUMBER: _ClassVar[int]
    operation_id: str
    approve: bool
    def __init__(self, operation_id: _Optional[str] = ..., approve: _Optional[bool] = ...) -> None: ...

class ExportGrant(_message.Message):
    __slots__ = ("id", "key_id", "version", "grantee", "expires_at_ms", "used")
    ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    GRANTEE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    USED_FIELD_NUMBER: _ClassVar[int]
    id: str
    key_id: str
    version: int
    grantee: str
    expires_at_ms: int
    used: bool
    def __init__(self, id: _Optional[str] = ..., key_id: _Optional[str] = ..., version: _Optional[int] = ..., grantee: _Optional[str] = ..., expires_at_ms: _Optional[int] = ..., used: _Optional[bool] = ...) -> None: ...

class GrantExport(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: ExportGrant
    def __init__(self, grant: _Optional[_Union[ExportGrant, _Mapping]] = ...) -> None: ...

class UseExportGrant(_message.Message):
    __slots__ = ("grant_id", "bundle")
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_FIELD_NUMBER: _ClassVar[int]
    grant_id: str
    bundle: ExportBundle
    def __init__(self, grant_id: _Optional[str] = ..., bundle: _Optional[_Union[ExportBundle, _Mapping]] = ...) -> None: ...

class ExportBundle(_message.Message):
    __slots__ = ("id", "key_id", "version", "destination", "algorithm", "wrapping_key_sha256", "approvers", "exported_by", "exported_at_ms", "kek_id", "destination_name", "usage")
    ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    WRAPPING_KEY_SHA256_FIELD_NUMBER: _ClassVar[int]
    APPROVERS_FIELD_NUMBER: _ClassVar[int]
    EXPORTED_BY_FIELD_NUMBER: _ClassVar[int]
    EXPORTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    KEK_ID_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_NAME_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    id: str
    key_id: str
    version: int
    destination: str
    algorithm: str
    wrapping_key_sha256: bytes
    approvers: _containers.RepeatedScalarFieldContainer[str]
    exported_by: str
    exported_at_ms: int
    kek_id: str
    destination_name: str
    usage: str
    def __init__(self, id: _Optional[str] = ..., key_id: _Optional[str] = ..., version: _Optional[int] = ..., destination: _Optional[str] = ..., algorithm: _Optional[str] = ..., wrapping_key_sha256: _Optional[bytes] = ..., approvers: _Optional[_Iterable[str]] = ..., exported_by: _Optional[str] = ..., exported_at_ms: _Optional[int] = ..., kek_id: _Optional[str] = ..., destination_name: _Optional[str] = ..., usage: _Optional[str] = ...) -> None: ...

class AuthorizeRemoval(_message.Message):
    __slots__ = ("member_id", "expires_at_ms", "used", "operation_id")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    USED_FIELD_NUMBER: _ClassVar[int]
    OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    expires_at_ms: int
    used: bool
    operation_id: str
    def __init__(self, member_id: _Optional[str] = ..., expires_at_ms: _Optional[int] = ..., used: _Optional[bool] = ..., operation_id: _Optional[str] = ...) -> None: ...

class ConsumeRemoval(_message.Message):
    __slots__ = ("member_id",)
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    def __init__(self, member_id: _Optional[str] = ...) -> None: ...

class SetRotationPolicy(_message.Message):
    __slots__ = ("key_id", "rotation_period_s", "min_decryption_version")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    ROTATION_PERIOD_S_FIELD_NUMBER: _ClassVar[int]
    MIN_DECRYPTION_VERSION_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    rotation_period_s: int
    min_decryption_version: int
    def __init__(self, key_id: _Optional[str] = ..., rotation_period_s: _Optional[int] = ..., min_decryption_version: _Optional[int] = ...) -> None: ...

class RestoreState(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: bytes
    def __init__(self, state: _Optional[bytes] = ...) -> None: ...

class Member(_message.Message):
    __slots__ = ("id", "api", "raft", "zone")
    ID_FIELD_NUMBER: _ClassVar[int]
    API_FIELD_NUMBER: _ClassVar[int]
    RAFT_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    id: str
    api: str
    raft: str
    zone: str
    def __init__(self, id: _Optional[str] = ..., api: _Optional[str] = ..., raft: _Optional[str] = ..., zone: _Optional[str] = ...) -> None: ...

class SetMember(_message.Message):
    __slots__ = ("member", "remove")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    REMOVE_FIELD_NUMBER: _ClassVar[int]
    member: Member
    remove: bool
    def __init__(self, member: _Optional[_Union[Member, _Mapping]] = ..., remove: _Optional[bool] = ...) -> None: ...

class SecretMount(_message.Message):
    __slots__ = ("name", "key_id", "max_versions", "cas_required", "delete_version_after_s", "created_at_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CAS_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    DELETE_VERSION_AFTER_S_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    key_id: str
    max_versions: int
    cas_required: bool
    delete_version_after_s: int
    created_at_ms: int
    def __init__(self, name: _Optional[str] = ..., key_id: _Optional[str] = ..., max_versions: _Optional[int] = ..., cas_required: _Optional[bool] = ..., delete_version_after_s: _Optional[int] = ..., created_at_ms: _Optional[int] = ...) -> None: ...

class StoredSecretVersion(_message.Message):
    __slots__ = ("version", "created_at_ms", "deletion_at_ms", "destroyed", "ciphertext")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    DELETION_AT_MS_FIELD_NUMBER: _ClassVar[int]
    DESTROYED_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    version: int
    created_at_ms: int
    deletion_at_ms: int
    destroyed: bool
    ciphertext: bytes
    def __init__(self, version: _Optional[int] = ..., created_at_ms: _Optional[int] = ..., deletion_at_ms: _Optional[int] = ..., destroyed: _Optional[bool] = ..., ciphertext: _Optional[bytes] = ...) -> None: ...

class StoredSecret(_message.Message):
    __slots__ = ("mount", "path", "current_version", "oldest_version", "created_at_ms", "updated_at_ms", "max_versions", "cas_required", "delete_version_after_s", "custom_metadata", "versions")
    class CustomMetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    CURRENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    OLDEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CAS_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    DELETE_VERSION_AFTER_S_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_METADATA_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    mount: str
    path: str
    current_version: int
    oldest_version: int
    created_at_ms: int
    updated_at_ms: int
    max_versions: int
    cas_required: bool
    delete_version_after_s: int
    custom_metadata: _containers.ScalarMap[str, str]
    versions: _containers.RepeatedCompositeFieldContainer[StoredSecretVersion]
    def __init__(self, mount: _Optional[str] = ..., path: _Optional[str] = ..., current_version: _Optional[int] = ..., oldest_version: _Optional[int] = ..., created_at_ms: _Optional[int] = ..., updated_at_ms: _Optional[int] = ..., max_versions: _Optional[int] = ..., cas_required: _Optional[bool] = ..., delete_version_after_s: _Optional[int] = ..., custom_metadata: _Optional[_Mapping[str, str]] = ..., versions: _Optional[_Iterable[_Union[StoredSecretVersion, _Mapping]]] = ...) -> None: ...

class StoredToken(_message.Message):
    __slots__ = ("accessor", "token_sha256", "principal", "display_name", "created_at_ms", "expires_at_ms", "revoked")
    ACCESSOR_FIELD_NUMBER: _ClassVar[int]
    TOKEN_SHA256_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    accessor: str
    token_sha256: bytes
    principal: str
    display_name: str
    created_at_ms: int
    expires_at_ms: int
    revoked: bool
    def __init__(self, accessor: _Optional[str] = ..., token_sha256: _Optional[bytes] = ..., principal: _Optional[str] = ..., display_name: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., expires_at_ms: _Optional[int] = ..., revoked: _Optional[bool] = ...) -> None: ...

class EnableSecretsMount(_message.Message):
    __slots__ = ("mount",)
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    mount: SecretMount
    def __init__(self, mount: _Optional[_Union[SecretMount, _Mapping]] = ...) -> None: ...

class ConfigureSecretsMount(_message.Message):
    __slots__ = ("mount", "max_versions", "cas_required", "delete_version_after_s")
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CAS_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    DELETE_VERSION_AFTER_S_FIELD_NUMBER: _ClassVar[int]
    mount: str
    max_versions: int
    cas_required: bool
    delete_version_after_s: int
    def __init__(self, mount: _Optional[str] = ..., max_versions: _Optional[int] = ..., cas_required: _Optional[bool] = ..., delete_version_after_s: _Optional[int] = ...) -> None: ...

class PutSecret(_message.Message):
    __slots__ = ("mount", "path", "version", "ciphertext", "cas")
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    CAS_FIELD_NUMBER: _ClassVar[int]
    mount: str
    path: str
    version: int
    ciphertext: bytes
    cas: int
    def __init__(self, mount: _Optional[str] = ..., path: _Optional[str] = ..., version: _Optional[int] = ..., ciphertext: _Optional[bytes] = ..., cas: _Optional[int] = ...) -> None: ...

class SecretVersions(_message.Message):
    __slots__ = ("mount", "path", "versions")
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    mount: str
    path: str
    versions: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, mount: _Optional[str] = ..., path: _Optional[str] = ..., versions: _Optional[_Iterable[int]] = ...) -> None: ...

class WriteSecretMetadata(_message.Message):
    __slots__ = ("mount", "path", "max_versions", "cas_required", "delete_version_after_s", "set_custom_metadata", "custom_metadata")
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
    mount: str
    path: str
    max_versions: int
    cas_required: bool
    delete_version_after_s: int
    set_custom_metadata: bool
    custom_metadata: _containers.ScalarMap[str, str]
    def __init__(self, mount: _Optional[str] = ..., path: _Optional[str] = ..., max_versions: _Optional[int] = ..., cas_required: _Optional[bool] = ..., delete_version_after_s: _Optional[int] = ..., set_custom_metadata: _Optional[bool] = ..., custom_metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class DeleteSecretMetadata(_message.Message):
    __slots__ = ("mount", "path")
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    mount: str
    path: str
    def __init__(self, mount: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class CreateSecretToken(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: StoredToken
    def __init__(self, token: _Optional[_Union[StoredToken, _Mapping]] = ...) -> None: ...

class RevokeSecretToken(_message.Message):
    __slots__ = ("accessor",)
    ACCESSOR_FIELD_NUMBER: _ClassVar[int]
    accessor: str
    def __init__(self, accessor: _Optional[str] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("request_id", "time_ms", "principal", "init_cluster", "create_key", "rotate_key", "set_key_enabled", "schedule_deletion", "cancel_deletion", "rotate_keyring", "tick", "put_policy", "delete_policy", "set_roles", "set_approval_rule", "request_approval", "decide_approval", "destroy_key", "set_rotation_policy", "grant_export", "use_export_grant", "restore_state", "set_member", "authorize_join", "consume_join", "authorize_seal_migration", "consume_seal_migration", "authorize_removal", "consume_removal", "rotate_root", "prepare_import", "import_material", "enable_secrets_mount", "configure_secrets_mount", "put_secret", "delete_secret_versions", "undelete_secret_versions", "destroy_secret_versions", "write_secret_metadata", "delete_secret_metadata", "create_secret_token", "revoke_secret_token", "expire_material")
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
    PUT_POLICY_FIELD_NUMBER: _ClassVar[int]
    DELETE_POLICY_FIELD_NUMBER: _ClassVar[int]
    SET_ROLES_FIELD_NUMBER: _ClassVar[int]
    SET_APPROVAL_RULE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    DECIDE_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    DESTROY_KEY_FIELD_NUMBER: _ClassVar[int]
    SET_ROTATION_POLICY_FIELD_NUMBER: _ClassVar[int]
    GRANT_EXPORT_FIELD_NUMBER: _ClassVar[int]
    USE_EXPORT_GRANT_FIELD_NUMBER: _ClassVar[int]
    RESTORE_STATE_FIELD_NUMBER: _ClassVar[int]
    SET_MEMBER_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZE_JOIN_FIELD_NUMBER: _ClassVar[int]
    CONSUME_JOIN_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZE_SEAL_MIGRATION_FIELD_NUMBER: _ClassVar[int]
    CONSUME_SEAL_MIGRATION_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZE_REMOVAL_FIELD_NUMBER: _ClassVar[int]
    CONSUME_REMOVAL_FIELD_NUMBER: _ClassVar[int]
    ROTATE_ROOT_FIELD_NUMBER: _ClassVar[int]
    PREPARE_IMPORT_FIELD_NUMBER: _ClassVar[int]
    IMPORT_MATERIAL_FIELD_NUMBER: _ClassVar[int]
    ENABLE_SECRETS_MOUNT_FIELD_NUMBER: _ClassVar[int]
    CONFIGURE_SECRETS_MOUNT_FIELD_NUMBER: _ClassVar[int]
    PUT_SECRET_FIELD_NUMBER: _ClassVar[int]
    DELETE_SECRET_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    UNDELETE_SECRET_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    DESTROY_SECRET_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    WRITE_SECRET_METADATA_FIELD_NUMBER: _ClassVar[int]
    DELETE_SECRET_METADATA_FIELD_NUMBER: _ClassVar[int]
    CREATE_SECRET_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REVOKE_SECRET_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_MATERIAL_FIELD_NUMBER: _ClassVar[int]
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
    put_policy: PutPolicy
    delete_policy: DeletePolicy
    set_roles: SetRoles
    set_approval_rule: SetApprovalRule
    request_approval: RequestApproval
    decide_approval: DecideApproval
    destroy_key: DestroyKey
    set_rotation_policy: SetRotationPolicy
    grant_export: GrantExport
    use_export_grant: UseExportGrant
    restore_state: RestoreState
    set_member: SetMember
    authorize_join: AuthorizeJoin
    consume_join: ConsumeJoin
    authorize_seal_migration: AuthorizeSealMigration
    consume_seal_migration: ConsumeSealMigration
    authorize_removal: AuthorizeRemoval
    consume_removal: ConsumeRemoval
    rotate_root: RotateRoot
    prepare_import: PrepareImport
    import_material: ImportMaterial
    enable_secrets_mount: EnableSecretsMount
    configure_secrets_mount: ConfigureSecretsMount
    put_secret: PutSecret
    delete_secret_versions: SecretVersions
    undelete_secret_versions: SecretVersions
    destroy_secret_versions: SecretVersions
    write_secret_metadata: WriteSecretMetadata
    delete_secret_metadata: DeleteSecretMetadata
    create_secret_token: CreateSecretToken
    revoke_secret_token: RevokeSecretToken
    expire_material: ExpireMaterial
    def __init__(self, request_id: _Optional[str] = ..., time_ms: _Optional[int] = ..., principal: _Optional[str] = ..., init_cluster: _Optional[_Union[InitCluster, _Mapping]] = ..., create_key: _Optional[_Union[CreateKey, _Mapping]] = ..., rotate_key: _Optional[_Union[RotateKey, _Mapping]] = ..., set_key_enabled: _Optional[_Union[SetKeyEnabled, _Mapping]] = ..., schedule_deletion: _Optional[_Union[ScheduleDeletion, _Mapping]] = ..., cancel_deletion: _Optional[_Union[CancelDeletion, _Mapping]] = ..., rotate_keyring: _Optional[_Union[RotateKeyring, _Mapping]] = ..., tick: _Optional[_Union[Tick, _Mapping]] = ..., put_policy: _Optional[_Union[PutPolicy, _Mapping]] = ..., delete_policy: _Optional[_Union[DeletePolicy, _Mapping]] = ..., set_roles: _Optional[_Union[SetRoles, _Mapping]] = ..., set_approval_rule: _Optional[_Union[SetApprovalRule, _Mapping]] = ..., request_approval: _Optional[_Union[RequestApproval, _Mapping]] = ..., decide_approval: _Optional[_Union[DecideApproval, _Mapping]] = ..., destroy_key: _Optional[_Union[DestroyKey, _Mapping]] = ..., set_rotation_policy: _Optional[_Union[SetRotationPolicy, _Mapping]] = ..., grant_export: _Optional[_Union[GrantExport, _Mapping]] = ..., use_export_grant: _Optional[_Union[UseExportGrant, _Mapping]] = ..., restore_state: _Optional[_Union[RestoreState, _Mapping]] = ..., set_member: _Optional[_Union[SetMember, _Mapping]] = ..., authorize_join: _Optional[_Union[AuthorizeJoin, _Mapping]] = ..., consume_join: _Optional[_Union[ConsumeJoin, _Mapping]] = ..., authorize_seal_migration: _Optional[_Union[AuthorizeSealMigration, _Mapping]] = ..., consume_seal_migration: _Optional[_Union[ConsumeSealMigration, _Mapping]] = ..., authorize_removal: _Optional[_Union[AuthorizeRemoval, _Mapping]] = ..., consume_removal: _Optional[_Union[ConsumeRemoval, _Mapping]] = ..., rotate_root: _Optional[_Union[RotateRoot, _Mapping]] = ..., prepare_import: _Optional[_Union[PrepareImport, _Mapping]] = ..., import_material: _Optional[_Union[ImportMaterial, _Mapping]] = ..., enable_secrets_mount: _Optional[_Union[EnableSecretsMount, _Mapping]] = ..., configure_secrets_mount: _Optional[_Union[ConfigureSecretsMount, _Mapping]] = ..., put_secret: _Optional[_Union[PutSecret, _Mapping]] = ..., delete_secret_versions: _Optional[_Union[SecretVersions, _Mapping]] = ..., undelete_secret_versions: _Optional[_Union[SecretVersions, _Mapping]] = ..., destroy_secret_versions: _Optional[_Union[SecretVersions, _Mapping]] = ..., write_secret_metadata: _Optional[_Union[WriteSecretMetadata, _Mapping]] = ..., delete_secret_metadata: _Optional[_Union[DeleteSecretMetadata, _Mapping]] = ..., create_secret_token: _Optional[_Union[CreateSecretToken, _Mapping]] = ..., revoke_secret_token: _Optional[_Union[RevokeSecretToken, _Mapping]] = ..., expire_material: _Optional[_Union[ExpireMaterial, _Mapping]] = ...) -> None: ...

class CommandError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: ErrorCode
    message: str
    def __init__(self, code: _Optional[_Union[ErrorCode, str]] = ..., message: _Optional[str] = ...) -> None: ...

class CommandResult(_message.Message):
    __slots__ = ("key", "keyring_term", "error", "ok", "operation", "secret_version", "secret_mount", "secret_token")
    KEY_FIELD_NUMBER: _ClassVar[int]
    KEYRING_TERM_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    SECRET_VERSION_FIELD_NUMBER: _ClassVar[int]
    SECRET_MOUNT_FIELD_NUMBER: _ClassVar[int]
    SECRET_TOKEN_FIELD_NUMBER: _ClassVar[int]
    key: _keys_pb2.Key
    keyring_term: int
    error: CommandError
    ok: bool
    operation: PendingOperation
    secret_version: StoredSecretVersion
    secret_mount: SecretMount
    secret_token: StoredToken
    def __init__(self, key: _Optional[_Union[_keys_pb2.Key, _Mapping]] = ..., keyring_term: _Optional[int] = ..., error: _Optional[_Union[CommandError, _Mapping]] = ..., ok: _Optional[bool] = ..., operation: _Optional[_Union[PendingOperation, _Mapping]] = ..., secret_version: _Optional[_Union[StoredSecretVersion, _Mapping]] = ..., secret_mount: _Optional[_Union[SecretMount, _Mapping]] = ..., secret_token: _Optional[_Union[StoredToken, _Mapping]] = ...) -> None: ...

class StoredKey(_message.Message):
    __slots__ = ("key", "wrapped_material", "pending_import", "import_digests")
    class WrappedMaterialEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: bytes
        def __init__(self, key: _Optional[int] = ..., value: _Optional[bytes] = ...) -> None: ...
    class ImportDigestsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: bytes
        def __init__(self, key: _Optional[int] = ..., value: _Optional[bytes] = ...) -> None: ...
    KEY_FIELD_NUMBER: _ClassVar[int]
    WRAPPED_MATERIAL_FIELD_NUMBER: _ClassVar[int]
    PENDING_IMPORT_FIELD_NUMBER: _ClassVar[int]
    IMPORT_DIGESTS_FIELD_NUMBER: _ClassVar[int]
    key: _keys_pb2.Key
    wrapped_material: _containers.ScalarMap[int, bytes]
    pending_import: PendingImport
    import_digests: _containers.ScalarMap[int, bytes]
    def __init__(self, key: _Optional[_Union[_keys_pb2.Key, _Mapping]] = ..., wrapped_material: _Optional[_Mapping[int, bytes]] = ..., pending_import: _Optional[_Union[PendingImport, _Mapping]] = ..., import_digests: _Optional[_Mapping[int, bytes]] = ...) -> None: ...

class RequestRecord(_message.Message):
    __slots__ = ("request_id", "result")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    result: CommandResult
    def __init__(self, request_id: _Optional[str] = ..., result: _Optional[_Union[CommandResult, _Mapping]] = ...) -> None: ...

class StoreState(_message.Message):
    __slots__ = ("init", "keyring", "active_term", "keys", "recent_requests", "applied_commands", "policies", "role_bindings", "approval_rules", "operations", "export_grants", "members", "joins", "seal_migrations", "removals", "export_bundles", "secret_mounts", "secrets", "secret_tokens")
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
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    ROLE_BINDINGS_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_RULES_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    EXPORT_GRANTS_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    JOINS_FIELD_NUMBER: _ClassVar[int]
    SEAL_MIGRATIONS_FIELD_NUMBER: _ClassVar[int]
    REMOVALS_FIELD_NUMBER: _ClassVar[int]
    EXPORT_BUNDLES_FIELD_NUMBER: _ClassVar[int]
    SECRET_MOUNTS_FIELD_NUMBER: _ClassVar[int]
    SECRETS_FIELD_NUMBER: _ClassVar[int]
    SECRET_TOKENS_FIELD_NUMBER: _ClassVar[int]
    init: InitCluster
    keyring: _containers.RepeatedCompositeFieldContainer[KeyringTerm]
    active_term: int
    keys: _containers.MessageMap[str, StoredKey]
    recent_requests: _containers.RepeatedCompositeFieldContainer[RequestRecord]
    applied_commands: int
    policies: _containers.RepeatedCompositeFieldContainer[Policy]
    role_bindings: _containers.RepeatedCompositeFieldContainer[RoleBinding]
    approval_rules: _containers.RepeatedCompositeFieldContainer[ApprovalRule]
    operations: _containers.RepeatedCompositeFieldContainer[PendingOperation]
    export_grants: _containers.RepeatedCompositeFieldContainer[ExportGrant]
    members: _containers.RepeatedCompositeFieldContainer[Member]
    joins: _containers.RepeatedCompositeFieldContainer[JoinAuthorization]
    seal_migrations: _containers.RepeatedCompositeFieldContainer[SealMigration]
    removals: _containers.RepeatedCompositeFieldContainer[AuthorizeRemoval]
    export_bundles: _containers.RepeatedCompositeFieldContainer[ExportBundle]
    secret_mounts: _containers.RepeatedCompositeFieldContainer[SecretMount]
    secrets: _containers.RepeatedCompositeFieldContainer[StoredSecret]
    secret_tokens: _containers.RepeatedCompositeFieldContainer[StoredToken]
    def __init__(self, init: _Optional[_Union[InitCluster, _Mapping]] = ..., keyring: _Optional[_Iterable[_Union[KeyringTerm, _Mapping]]] = ..., active_term: _Optional[int] = ..., keys: _Optional[_Mapping[str, StoredKey]] = ..., recent_requests: _Optional[_Iterable[_Union[RequestRecord, _Mapping]]] = ..., applied_commands: _Optional[int] = ..., policies: _Optional[_Iterable[_Union[Policy, _Mapping]]] = ..., role_bindings: _Optional[_Iterable[_Union[RoleBinding, _Mapping]]] = ..., approval_rules: _Optional[_Iterable[_Union[ApprovalRule, _Mapping]]] = ..., operations: _Optional[_Iterable[_Union[PendingOperation, _Mapping]]] = ..., export_grants: _Optional[_Iterable[_Union[ExportGrant, _Mapping]]] = ..., members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ..., joins: _Optional[_Iterable[_Union[JoinAuthorization, _Mapping]]] = ..., seal_migrations: _Optional[_Iterable[_Union[SealMigration, _Mapping]]] = ..., removals: _Optional[_Iterable[_Union[AuthorizeRemoval, _Mapping]]] = ..., export_bundles: _Optional[_Iterable[_Union[ExportBundle, _Mapping]]] = ..., secret_mounts: _Optional[_Iterable[_Union[SecretMount, _Mapping]]] = ..., secrets: _Optional[_Iterable[_Union[StoredSecret, _Mapping]]] = ..., secret_tokens: _Optional[_Iterable[_Union[StoredToken, _Mapping]]] = ...) -> None: ...
