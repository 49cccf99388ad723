from keymgr.v1 import store_pb2 as _store_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExportDestination(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPORT_DESTINATION_UNSPECIFIED: _ClassVar[ExportDestination]
    EXPORT_DESTINATION_RSA_AES: _ClassVar[ExportDestination]
    EXPORT_DESTINATION_AWS: _ClassVar[ExportDestination]
    EXPORT_DESTINATION_GCP: _ClassVar[ExportDestination]
    EXPORT_DESTINATION_AZURE: _ClassVar[ExportDestination]
    EXPORT_DESTINATION_OPENBAO: _ClassVar[ExportDestination]
EXPORT_DESTINATION_UNSPECIFIED: ExportDestination
EXPORT_DESTINATION_RSA_AES: ExportDestination
EXPORT_DESTINATION_AWS: ExportDestination
EXPORT_DESTINATION_GCP: ExportDestination
EXPORT_DESTINATION_AZURE: ExportDestination
EXPORT_DESTINATION_OPENBAO: ExportDestination

class ApprovalResponse(_message.Message):
    __slots__ = ("operation",)
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    operation: _store_pb2.PendingOperation
    def __init__(self, operation: _Optional[_Union[_store_pb2.PendingOperation, _Mapping]] = ...) -> None: ...

class PutPolicyRequest(_message.Message):
    __slots__ = ("policy", "ttl_seconds")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    policy: _store_pb2.Policy
    ttl_seconds: int
    def __init__(self, policy: _Optional[_Union[_store_pb2.Policy, _Mapping]] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class GetPolicyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListPoliciesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPoliciesResponse(_message.Message):
    __slots__ = ("policies",)
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    policies: _containers.RepeatedCompositeFieldContainer[_store_pb2.Policy]
    def __init__(self, policies: _Optional[_Iterable[_Union[_store_pb2.Policy, _Mapping]]] = ...) -> None: ...

class DeletePolicyRequest(_message.Message):
    __slots__ = ("name", "ttl_seconds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    ttl_seconds: int
    def __init__(self, name: _Optional[str] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class SetRolesRequest(_message.Message):
    __slots__ = ("principal", "roles", "ttl_seconds")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    principal: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    ttl_seconds: int
    def __init__(self, principal: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class ListRolesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRolesResponse(_message.Message):
    __slots__ = ("bindings",)
    BINDINGS_FIELD_NUMBER: _ClassVar[int]
    bindings: _containers.RepeatedCompositeFieldContainer[_store_pb2.RoleBinding]
    def __init__(self, bindings: _Optional[_Iterable[_Union[_store_pb2.RoleBinding, _Mapping]]] = ...) -> None: ...

class SetApprovalRuleRequest(_message.Message):
    __slots__ = ("kind", "required", "ttl_seconds")
    KIND_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    required: int
    ttl_seconds: int
    def __init__(self, kind: _Optional[str] = ..., required: _Optional[int] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class DestroyKeyRequest(_message.Message):
    __slots__ = ("name_or_id", "ttl_seconds")
    NAME_OR_ID_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    name_or_id: str
    ttl_seconds: int
    def __init__(self, name_or_id: _Optional[str] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class ListApprovalsRequest(_message.Message):
    __slots__ = ("include_decided",)
    INCLUDE_DECIDED_FIELD_NUMBER: _ClassVar[int]
    include_decided: bool
    def __init__(self, include_decided: _Optional[bool] = ...) -> None: ...

class ListApprovalsResponse(_message.Message):
    __slots__ = ("operations", "rules")
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    operations: _containers.RepeatedCompositeFieldContainer[_store_pb2.PendingOperation]
    rules: _containers.RepeatedCompositeFieldContainer[_store_pb2.ApprovalRule]
    def __init__(self, operations: _Optional[_Iterable[_Union[_store_pb2.PendingOperation, _Mapping]]] = ..., rules: _Optional[_Iterable[_Union[_store_pb2.ApprovalRule, _Mapping]]] = ...) -> None: ...

class DecideRequest(_message.Message):
    __slots__ = ("operation_id",)
    OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    operation_id: str
    def __init__(self, operation_id: _Optional[str] = ...) -> None: ...

class RequestExportRequest(_message.Message):
    __slots__ = ("name_or_id", "version", "ttl_seconds")
    NAME_OR_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    name_or_id: str
    version: int
    ttl_seconds: int
    def __init__(self, name_or_id: _Optional[str] = ..., version: _Optional[int] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class ExportKeyRequest(_message.Message):
    __slots__ = ("grant_id", "wrapping_public_key", "destination", "algorithm", "kek_id", "import_token", "destination_name", "usage")
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    WRAPPING_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    KEK_ID_FIELD_NUMBER: _ClassVar[int]
    IMPORT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_NAME_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    grant_id: str
    wrapping_public_key: bytes
    destination: ExportDestination
    algorithm: str
    kek_id: str
    import_token: bytes
    destination_name: str
    usage: str
    def __init__(self, grant_id: _Optional[str] = ..., wrapping_public_key: _Optional[bytes] = ..., destination: _Optional[_Union[ExportDestination, str]] = ..., algorithm: _Optional[str] = ..., kek_id: _Optional[str] = ..., import_token: _Optional[bytes] = ..., destination_name: _Optional[str] = ..., usage: _Optional[str] = ...) -> None: ...

class ExportKeyResponse(_message.Message):
    __slots__ = ("key_id", "version", "wrapped_key", "algorithm", "destination", "import_token", "bundle_id")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WRAPPED_KEY_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    IMPORT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_ID_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    version: int
    wrapped_key: bytes
    algorithm: str
    destination: ExportDestination
    import_token: bytes
    bundle_id: str
    def __init__(self, key_id: _Optional[str] = ..., version: _Optional[int] = ..., wrapped_key: _Optional[bytes] = ..., algorithm: _Optional[str] = ..., destination: _Optional[_Union[ExportDestination, str]] = ..., import_token: _Optional[bytes] = ..., bundle_id: _Optional[str] = ...) -> None: ...

class ListExportBundlesRequest(_message.Message):
    __slots__ = ("name_or_id",)
    NAME_OR_ID_FIELD_NUMBER: _ClassVar[int]
    name_or_id: str
    def __init__(self, name_or_id: _Optional[str] = ...) -> None: ...

class ListExportBundlesResponse(_message.Message):
    __slots__ = ("bundles",)
    BUNDLES_FIELD_NUMBER: _ClassVar[int]
    bundles: _containers.RepeatedCompositeFieldContainer[_store_pb2.ExportBundle]
    def __init__(self, bundles: _Optional[_Iterable[_Union[_store_pb2.ExportBundle, _Mapping]]] = ...) -> None: ...

class WhoAmIRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WhoAmIResponse(_message.Message):
    __slots__ = ("principal", "roles")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    principal: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, principal: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ...) -> None: ...
