from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NodeRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NODE_ROLE_UNSPECIFIED: _ClassVar[NodeRole]
    NODE_ROLE_FOLLOWER: _ClassVar[NodeRole]
    NODE_ROLE_CANDIDATE: _ClassVar[NodeRole]
    NODE_ROLE_LEADER: _ClassVar[NodeRole]
    NODE_ROLE_UNREACHABLE: _ClassVar[NodeRole]
NODE_ROLE_UNSPECIFIED: NodeRole
NODE_ROLE_FOLLOWER: NodeRole
NODE_ROLE_CANDIDATE: NodeRole
NODE_ROLE_LEADER: NodeRole
NODE_ROLE_UNREACHABLE: NodeRole

class InitRequest(_message.Message):
    __slots__ = ("secret_shares", "secret_threshold", "approvals_required")
    SECRET_SHARES_FIELD_NUMBER: _ClassVar[int]
    SECRET_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    APPROVALS_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    secret_shares: int
    secret_threshold: int
    approvals_required: int
    def __init__(self, secret_shares: _Optional[int] = ..., secret_threshold: _Optional[int] = ..., approvals_required: _Optional[int] = ...) -> None: ...

class InitResponse(_message.Message):
    __slots__ = ("unseal_shares", "secret_threshold", "root_admin")
    UNSEAL_SHARES_FIELD_NUMBER: _ClassVar[int]
    SECRET_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ROOT_ADMIN_FIELD_NUMBER: _ClassVar[int]
    unseal_shares: _containers.RepeatedScalarFieldContainer[str]
    secret_threshold: int
    root_admin: str
    def __init__(self, unseal_shares: _Optional[_Iterable[str]] = ..., secret_threshold: _Optional[int] = ..., root_admin: _Optional[str] = ...) -> None: ...

class UnsealRequest(_message.Message):
    __slots__ = ("share", "reset")
    SHARE_FIELD_NUMBER: _ClassVar[int]
    RESET_FIELD_NUMBER: _ClassVar[int]
    share: str
    reset: bool
    def __init__(self, share: _Optional[str] = ..., reset: _Optional[bool] = ...) -> None: ...

class SealRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SealStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SealStatusResponse(_message.Message):
    __slots__ = ("node_id", "initialized", "sealed", "seal_type", "threshold", "shares", "progress", "reason", "seal_error", "root_generation")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    INITIALIZED_FIELD_NUMBER: _ClassVar[int]
    SEALED_FIELD_NUMBER: _ClassVar[int]
    SEAL_TYPE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SEAL_ERROR_FIELD_NUMBER: _ClassVar[int]
    ROOT_GENERATION_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    initialized: bool
    sealed: bool
    seal_type: str
    threshold: int
    shares: int
    progress: int
    reason: str
    seal_error: str
    root_generation: int
    def __init__(self, node_id: _Optional[str] = ..., initialized: _Optional[bool] = ..., sealed: _Optional[bool] = ..., seal_type: _Optional[str] = ..., threshold: _Optional[int] = ..., shares: _Optional[int] = ..., progress: _Optional[int] = ..., reason: _Optional[str] = ..., seal_error: _Optional[str] = ..., root_generation: _Optional[int] = ...) -> None: ...

class NodeStatus(_message.Message):
    __slots__ = ("node_id", "api_address", "raft_address", "zone", "role", "term", "commit_index", "applied_index", "lag", "sealed", "serving", "leader_id", "error", "seal_type", "audit_healthy", "audit_failures", "seal_error", "leader_commit_index", "seconds_since_caught_up")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    API_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    RAFT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    COMMIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    LAG_FIELD_NUMBER: _ClassVar[int]
    SEALED_FIELD_NUMBER: _ClassVar[int]
    SERVING_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SEAL_TYPE_FIELD_NUMBER: _ClassVar[int]
    AUDIT_HEALTHY_FIELD_NUMBER: _ClassVar[int]
    AUDIT_FAILURES_FIELD_NUMBER: _ClassVar[int]
    SEAL_ERROR_FIELD_NUMBER: _ClassVar[int]
    LEADER_COMMIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    SECONDS_SINCE_CAUGHT_UP_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    api_address: str
    raft_address: str
    zone: str
    role: NodeRole
    term: int
    commit_index: int
    applied_index: int
    lag: int
    sealed: bool
    serving: bool
    leader_id: str
    error: str
    seal_type: str
    audit_healthy: bool
    audit_failures: int
    seal_error: str
    leader_commit_index: int
    seconds_since_caught_up: float
    def __init__(self, node_id: _Optional[str] = ..., api_address: _Optional[str] = ..., raft_address: _Optional[str] = ..., zone: _Optional[str] = ..., role: _Optional[_Union[NodeRole, str]] = ..., term: _Optional[int] = ..., commit_index: _Optional[int] = ..., applied_index: _Optional[int] = ..., lag: _Optional[int] = ..., sealed: _Optional[bool] = ..., serving: _Optional[bool] = ..., leader_id: _Optional[str] = ..., error: _Optional[str] = ..., seal_type: _Optional[str] = ..., audit_healthy: _Optional[bool] = ..., audit_failures: _Optional[int] = ..., seal_error: _Optional[str] = ..., leader_commit_index: _Optional[int] = ..., seconds_since_caught_up: _Optional[float] = ...) -> None: ...

class LocalStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ClusterStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ClusterStatusResponse(_message.Message):
    __slots__ = ("nodes", "leader_id", "warnings")
    NODES_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[NodeStatus]
    leader_id: str
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, nodes: _Optional[_Iterable[_Union[NodeStatus, _Mapping]]] = ..., leader_id: _Optional[str] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class StepDownRequest(_message.Message):
    __slots__ = ("target_node_id",)
    TARGET_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    target_node_id: str
    def __init__(self, target_node_id: _Optional[str] = ...) -> None: ...

class StepDownResponse(_message.Message):
    __slots__ = ("previous_leader_id",)
    PREVIOUS_LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    previous_leader_id: str
    def __init__(self, previous_leader_id: _Optional[str] = ...) -> None: ...

class RotateKeyringRequest(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...

class RotateKeyringResponse(_message.Message):
    __slots__ = ("active_term",)
    ACTIVE_TERM_FIELD_NUMBER: _ClassVar[int]
    active_term: int
    def __init__(self, active_term: _Optional[int] = ...) -> None: ...

class RotateRootRequest(_message.Message):
    __slots__ = ("secret_shares", "secret_threshold", "ttl_seconds", "operation_id")
    SECRET_SHARES_FIELD_NUMBER: _ClassVar[int]
    SECRET_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    secret_shares: int
    secret_threshold: int
    ttl_seconds: int
    operation_id: str
    def __init__(self, secret_shares: _Optional[int] = ..., secret_threshold: _Optional[int] = ..., ttl_seconds: _Optional[int] = ..., operation_id: _Optional[str] = ...) -> None: ...

class RotateRootResponse(_message.Message):
    __slots__ = ("unseal_shares", "secret_threshold", "operation_id", "operation_state", "approvals_required", "root_generation")
    UNSEAL_SHARES_FIELD_NUMBER: _ClassVar[int]
    SECRET_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_STATE_FIELD_NUMBER: _ClassVar[int]
    APPROVALS_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    ROOT_GENERATION_FIELD_NUMBER: _ClassVar[int]
    unseal_shares: _containers.RepeatedScalarFieldContainer[str]
    secret_threshold: int
    operation_id: str
    operation_state: str
    approvals_required: int
    root_generation: int
    def __init__(self, unseal_shares: _Optional[_Iterable[str]] = ..., secret_threshold: _Optional[int] = ..., operation_id: _Optional[str] = ..., operation_state: _Optional[str] = ..., approvals_required: _Optional[int] = ..., root_generation: _Optional[int] = ...) -> None: ...

class SaveSnapshotRequest(_message.Message):
    __slots__ = ("snapshot_id", "offset")
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    snapshot_id: str
    offset: int
    def __init__(self, snapshot_id: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...

class SnapshotChunk(_message.Message):
    __slots__ = ("snapshot_id", "offset", "total_size", "data", "applied_index", "keys")
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    snapshot_id: str
    offset: int
    total_size: int
    data: bytes
    applied_index: int
    keys: int
    def __init__(self, snapshot_id: _Optional[str] = ..., offset: _Optional[int] = ..., total_size: _Optional[int] = ..., data: _Optional[bytes] = ..., applied_index: _Optional[int] = ..., keys: _Optional[int] = ...) -> None: ...

class RestoreSnapshotRequest(_message.Message):
    __slots__ = ("upload_id", "offset", "data", "final", "shares")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    offset: int
    data: bytes
    final: bool
    shares: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, upload_id: _Optional[str] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ..., final: _Optional[bool] = ..., shares: _Optional[_Iterable[str]] = ...) -> None: ...

class RestoreSnapshotResponse(_message.Message):
    __slots__ = ("received", "restored", "keys", "source_applied_index")
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    RESTORED_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    received: int
    restored: bool
    keys: int
    source_applied_index: int
    def __init__(self, received: _Optional[int] = ..., restored: _Optional[bool] = ..., keys: _Optional[int] = ..., source_applied_index: _Optional[int] = ...) -> None: ...

class Peer(_message.Message):
    __slots__ = ("id", "api_address", "raft_address", "zone", "leader", "connected", "match_index")
    ID_FIELD_NUMBER: _ClassVar[int]
    API_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    RAFT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    MATCH_INDEX_FIELD_NUMBER: _ClassVar[int]
    id: str
    api_address: str
    raft_address: str
    zone: str
    leader: bool
    connected: bool
    match_index: int
    def __init__(self, id: _Optional[str] = ..., api_address: _Optional[str] = ..., raft_address: _Optional[str] = ..., zone: _Optional[str] = ..., leader: _Optional[bool] = ..., connected: _Optional[bool] = ..., match_index: _Optional[int] = ...) -> None: ...

class ListPeersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PeersResponse(_message.Message):
    __slots__ = ("peers", "warnings")
    PEERS_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    peers: _containers.RepeatedCompositeFieldContainer[Peer]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, peers: _Optional[_Iterable[_Union[Peer, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class AddPeerRequest(_message.Message):
    __slots__ = ("id", "api_address", "raft_address", "zone")
    ID_FIELD_NUMBER: _ClassVar[int]
    API_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    RAFT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    id: str
    api_address: str
    raft_address: str
    zone: str
    def __init__(self, id: _Optional[str] = ..., api_address: _Optional[str] = ..., raft_address: _Optional[str] = ..., zone: _Optional[str] = ...) -> None: ...

class RemovePeerRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CreateJoinTokenRequest(_message.Message):
    __slots__ = ("node_id", "ttl_seconds")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    ttl_seconds: int
    def __init__(self, node_id: _Optional[str] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class CreateJoinTokenResponse(_message.Message):
    __slots__ = ("token", "operation_id", "operation_state")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_STATE_FIELD_NUMBER: _ClassVar[int]
    token: str
    operation_id: str
    operation_state: str
    def __init__(self, token: _Optional[str] = ..., operation_id: _Optional[str] = ..., operation_state: _Optional[str] = ...) -> None: ...

class JoinRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class JoinResponse(_message.Message):
    __slots__ = ("peer_id", "status")
    PEER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    peer_id: str
    status: SealStatusResponse
    def __init__(self, peer_id: _Optional[str] = ..., status: _Optional[_Union[SealStatusResponse, _Mapping]] = ...) -> None: ...

class ExchangeRootKeyRequest(_message.Message):
    __slots__ = ("token", "joiner_public_key")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    JOINER_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    token: str
    joiner_public_key: bytes
    def __init__(self, token: _Optional[str] = ..., joiner_public_key: _Optional[bytes] = ...) -> None: ...

class ExchangeRootKeyResponse(_message.Message):
    __slots__ = ("peer_id", "peer_public_key", "sealed_root_key", "root_generation")
    PEER_ID_FIELD_NUMBER: _ClassVar[int]
    PEER_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SEALED_ROOT_KEY_FIELD_NUMBER: _ClassVar[int]
    ROOT_GENERATION_FIELD_NUMBER: _ClassVar[int]
    peer_id: str
    peer_public_key: bytes
    sealed_root_key: bytes
    root_generation: int
    def __init__(self, peer_id: _Optional[str] = ..., peer_public_key: _Optional[bytes] = ..., sealed_root_key: _Optional[bytes] = ..., root_generation: _Optional[int] = ...) -> None: ...

class RequestSealMigrationRequest(_message.Message):
    __slots__ = ("node_id", "to_type", "ttl_seconds")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TO_TYPE_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    to_type: str
    ttl_seconds: int
    def __init__(self, node_id: _Optional[str] = ..., to_type: _Optional[str] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class RequestSealMigrationResponse(_message.Message):
    __slots__ = ("migration_id", "operation_state")
    MIGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_STATE_FIELD_NUMBER: _ClassVar[int]
    migration_id: str
    operation_state: str
    def __init__(self, migration_id: _Optional[str] = ..., operation_state: _Optional[str] = ...) -> None: ...

class MigrateSealRequest(_message.Message):
    __slots__ = ("migration_id",)
    MIGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    migration_id: str
    def __init__(self, migration_id: _Optional[str] = ...) -> None: ...
