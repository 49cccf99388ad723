"""Batch calls in the SDK: the items a caller sends and the per-item results it gets.

A batch call raises only for the whole call (too many items, request too large, no node
could serve it). Every item gets an `ItemResult`: its value, or the exception from the
SDK's tree that the single call would have raised for it (`NotFound`,
`PermissionDenied`, ...), so callers act on items exactly as on single calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from keymgr.client._exceptions import InvalidArgument, KeymgrError, from_status_code
from keymgr.v1 import keys_pb2

T = TypeVar("T")

MAX_BATCH_ITEMS = 1000
# a node takes requests of at most 1 MiB; leave room for the gRPC framing
MAX_REQUEST_BYTES = (1 << 20) - 1024


@dataclass(frozen=True, kw_only=True)
class EncryptItem:
    key_name: str
    plaintext: bytes
    context: Mapping[str, str] | None = None

    def __repr__(self) -> str:  # never print the plaintext
        return f"EncryptItem(key_name={self.key_name!r}, {len(self.plaintext)} bytes)"


@dataclass(frozen=True, kw_only=True)
class DecryptItem:
    ciphertext_blob: bytes
    context: Mapping[str, str] | None = None


@dataclass(frozen=True, kw_only=True)
class DataKeyItem:
    key_name: str
    context: Mapping[str, str] | None = None
    number_of_bytes: int = 0
    without_plaintext: bool = False


@dataclass(frozen=True)
class Encrypted:
    ciphertext_blob: bytes
    key_id: str
    key_version: int


@dataclass(frozen=True)
class Decrypted:
    plaintext: bytes
    key_id: str
    key_version: int

    def __repr__(self) -> str:  # never print the plaintext
        return f"Decrypted(key_id={self.key_id!r}, key_version={self.key_version})"


@dataclass(frozen=True)
class ItemResult(Generic[T]):
    """One item's outcome: `value` when it succeeded, else `error` (never both)."""

    value: T | None = None
    error: KeymgrError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self) -> T:
        """The value, or raises the item's error."""
        if self.error is not None:
            raise self.error
        assert self.value is not None
        return self.value


def check_request(request: Any) -> None:
    """Refuses a request no node would take, with a clear error instead of a retry loop
    (a node answers an oversized message with RESOURCE_EXHAUSTED, which is retryable)."""
    size = request.ByteSize()
    if size > MAX_REQUEST_BYTES:
        raise InvalidArgument(
            f"items: the request is {size} bytes, a node takes at most {MAX_REQUEST_BYTES}; "
            "split the batch"
        )


def item_error(error: keys_pb2.ItemError) -> KeymgrError:
    return from_status_code(error.code, error.message)


def results(response: Any, convert: Any) -> list[ItemResult[Any]]:
    """`ItemResult`s of a Batch*Response, converting each `ok` with `convert`."""
    out: list[ItemResult[Any]] = []
    for result in response.results:
        if result.WhichOneof("outcome") == "ok":
            out.append(ItemResult(value=convert(result.ok)))
        else:
            out.append(ItemResult(error=item_error(result.error)))
    return out


def encrypt_request(
    items: Sequence[EncryptItem], consistency: keys_pb2.Consistency
) -> keys_pb2.BatchEncryptRequest:
    request = keys_pb2.BatchEncryptRequest(consistency=consistency)
    for item in items:
        request.items.add(
            key_name=item.key_name,
            plaintext=item.plaintext,
            encryption_context=item.context or {},
        )
    check_request(request)
    return request


def decrypt_request(
    items: Sequence[DecryptItem], consistency: keys_pb2.Consistency
) -> keys_pb2.BatchDecryptRequest:
    request = keys_pb2.BatchDecryptRequest(consistency=consistency)
    for item in items:
        request.items.add(
            ciphertext_blob=item.ciphertext_blob, encryption_context=item.context or {}
        )
    check_request(request)
    return request


def data_key_request(
    items: Sequence[DataKeyItem], consistency: keys_pb2.Consistency
) -> keys_pb2.BatchGenerateDataKeyRequest:
    request = keys_pb2.BatchGenerateDataKeyRequest(consistency=consistency)
    for item in items:
        request.items.add(
            key_name=item.key_name,
            encryption_context=item.context or {},
            number_of_bytes=item.number_of_bytes,
            without_plaintext=item.without_plaintext,
        )
    check_request(request)
    return request
