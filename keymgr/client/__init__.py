"""Python SDK for keymgr: `Client` plus an exception tree that separates retryable
failures from final ones (see `keymgr.client._exceptions`)."""

from keymgr.client._batch import (
    DataKeyItem,
    Decrypted,
    DecryptItem,
    Encrypted,
    EncryptItem,
    ItemResult,
)
from keymgr.client._client import Client, Credentials, DataKey, MasterKey, VolumeKey
from keymgr.client._datakey_cache import DataKeyCache, DataKeySource
from keymgr.client._exceptions import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    FinalError,
    InvalidArgument,
    KeymgrError,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    RetryableError,
    ServerError,
    Timeout,
    TlsHandshakeFailed,
    Unauthenticated,
    Unavailable,
    may_have_been_applied,
)
from keymgr.client._failover import FailoverPolicy
from keymgr.client._secrets import (
    IssuedToken,
    MountConfig,
    Secret,
    SecretMetadata,
    SecretsClient,
    SecretVersion,
    TokenInfo,
)
from keymgr.tls13 import InsecureTlsError

__all__ = [
    "AlreadyExists",
    "Client",
    "Conflict",
    "Credentials",
    "DataKey",
    "DataKeyCache",
    "DataKeyItem",
    "DataKeySource",
    "DecryptItem",
    "Decrypted",
    "EncryptItem",
    "Encrypted",
    "FailedPrecondition",
    "FailoverPolicy",
    "FinalError",
    "InsecureTlsError",
    "InvalidArgument",
    "IssuedToken",
    "ItemResult",
    "KeymgrError",
    "MasterKey",
    "MountConfig",
    "NotFound",
    "OutcomeUnknown",
    "PermissionDenied",
    "RetryableError",
    "Secret",
    "SecretMetadata",
    "SecretVersion",
    "SecretsClient",
    "ServerError",
    "Timeout",
    "TlsHandshakeFailed",
    "TokenInfo",
    "Unauthenticated",
    "Unavailable",
    "VolumeKey",
    "may_have_been_applied",
]
