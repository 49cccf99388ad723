from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class CreateVolumeKeyRequest(_message.Message):
    __slots__ = ("volume_id", "key_name", "host_id")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    key_name: str
    host_id: str
    def __init__(self, volume_id: _Optional[str] = ..., key_name: _Optional[str] = ..., host_id: _Optional[str] = ...) -> None: ...

class CreateVolumeKeyResponse(_message.Message):
    __slots__ = ("volume_key", "wrapped_key", "key_id", "key_version")
    VOLUME_KEY_FIELD_NUMBER: _ClassVar[int]
    WRAPPED_KEY_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_VERSION_FIELD_NUMBER: _ClassVar[int]
    volume_key: bytes
    wrapped_key: bytes
    key_id: str
    key_version: int
    def __init__(self, volume_key: _Optional[bytes] = ..., wrapped_key: _Optional[bytes] = ..., key_id: _Optional[str] = ..., key_version: _Optional[int] = ...) -> None: ...

class UnwrapVolumeKeyRequest(_message.Message):
    __slots__ = ("volume_id", "host_id", "wrapped_key")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    WRAPPED_KEY_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    host_id: str
    wrapped_key: bytes
    def __init__(self, volume_id: _Optional[str] = ..., host_id: _Optional[str] = ..., wrapped_key: _Optional[bytes] = ...) -> None: ...

class UnwrapVolumeKeyResponse(_message.Message):
    __slots__ = ("volume_key", "key_id", "key_version")
    VOLUME_KEY_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_VERSION_FIELD_NUMBER: _ClassVar[int]
    volume_key: bytes
    key_id: str
    key_version: int
    def __init__(self, volume_key: _Optional[bytes] = ..., key_id: _Optional[str] = ..., key_version: _Optional[int] = ...) -> None: ...

class RewrapVolumeKeyRequest(_message.Message):
    __slots__ = ("volume_id", "host_id", "wrapped_key")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    WRAPPED_KEY_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    host_id: str
    wrapped_key: bytes
    def __init__(self, volume_id: _Optional[str] = ..., host_id: _Optional[str] = ..., wrapped_key: _Optional[bytes] = ...) -> None: ...

class RewrapVolumeKeyResponse(_message.Message):
    __slots__ = ("wrapped_key", "key_id", "key_version")
    WRAPPED_KEY_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_VERSION_FIELD_NUMBER: _ClassVar[int]
    wrapped_key: bytes
    key_id: str
    key_version: int
    def __init__(self, wrapped_key: _Optional[bytes] = ..., key_id: _Optional[str] = ..., key_version: _Optional[int] = ...) -> None: ...
