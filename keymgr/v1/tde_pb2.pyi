from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class GetMasterKeyRequest(_message.Message):
    __slots__ = ("db_id", "key_id", "version")
    DB_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    db_id: str
    key_id: str
    version: int
    def __init__(self, db_id: _Optional[str] = ..., key_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetMasterKeyResponse(_message.Message):
    __slots__ = ("master_key", "key_id", "key_name", "version", "current_version")
    MASTER_KEY_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CURRENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    master_key: bytes
    key_id: str
    key_name: str
    version: int
    current_version: int
    def __init__(self, master_key: _Optional[bytes] = ..., key_id: _Optional[str] = ..., key_name: _Optional[str] = ..., version: _Optional[int] = ..., current_version: _Optional[int] = ...) -> None: ...

class RotateMasterKeyRequest(_message.Message):
    __slots__ = ("key_id", "request_id")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    request_id: str
    def __init__(self, key_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RotateMasterKeyResponse(_message.Message):
    __slots__ = ("key_id", "version")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    version: int
    def __init__(self, key_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...
