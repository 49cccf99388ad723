"""Checks of request fields, each failure naming the field (INVALID_ARGUMENT)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping

from keymgr.config.schema import MAX_DELETION_WINDOW_S
from keymgr.node_errors import CommandRejected, InvalidArgument
from keymgr.store import keystore_validation as store_check
from keymgr.store.keystore_validation import CommandRefused

MAX_PLAINTEXT = 64 * 1024
MAX_CIPHERTEXT = MAX_PLAINTEXT + 1024
MAX_CONTEXT_ENTRIES = 64
MAX_CONTEXT_TEXT = 1024
MAX_RANDOM = 1024
MAX_REQUEST_ID = 128
MAX_PERIOD_S = MAX_DELETION_WINDOW_S  # longest deletion window or rotation period: 10 years


def _store_rule(rule: Callable[[], object]) -> None:
    """Applies one of the state machine's own field rules (one definition of what is
    valid), turning its refusal into INVALID_ARGUMENT before anything is proposed."""
    try:
        rule()
    except CommandRefused as refused:
        raise CommandRejected(refused.message) from None


def key_name(field: str, value: str) -> str:
    """A key name or id, as lookups accept."""
    if not store_check.looks_like_key_id(value):
        _store_rule(lambda: store_check.key_name(field, value))
    return value


def new_key_name(field: str, value: str) -> str:
    """A name for a new key: also must not look like a key id (ids and names share lookup)."""
    _store_rule(lambda: store_check.key_name(field, value))
    return value


def description(field: str, value: str) -> str:
    _store_rule(lambda: store_check.description(field, value))
    return value


def encryption_context(field: str, context: Mapping[str, str]) -> dict[str, str]:
    if not context:  # the common case; iterating an empty protobuf map is not free
        return {}
    if len(context) > MAX_CONTEXT_ENTRIES:
        raise InvalidArgument(field, f"at most {MAX_CONTEXT_ENTRIES} entries")
    plain = dict(context)
    for name, value in plain.items():
        if not name:
            raise InvalidArgument(field, "keys must not be empty")
        if len(name) > MAX_CONTEXT_TEXT or len(value) > MAX_CONTEXT_TEXT:
            raise InvalidArgument(field, f"keys and values are at most {MAX_CONTEXT_TEXT} chars")
    return plain


def byte_count(field: str, value: int, *, default: int, maximum: int) -> int:
    if value == 0:
        return default
    if value > maximum:
        raise InvalidArgument(field, f"must be between 1 and {maximum}, got {value}")
    return value


def plaintext(field: str, value: bytes) -> bytes:
    if len(value) > MAX_PLAINTEXT:
        raise InvalidArgument(field, f"at most {MAX_PLAINTEXT} bytes, got {len(value)}")
    return value


def ciphertext(field: str, value: bytes) -> bytes:
    if not value:
        raise InvalidArgument(field, "must not be empty")
    if len(value) > MAX_CIPHERTEXT:
        raise InvalidArgument(field, f"at most {MAX_CIPHERTEXT} bytes, got {len(value)}")
    return value


_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,127}")


def identifier(field: str, value: str) -> str:
    """A client's name for a volume, host or database, as bound into contexts."""
    if not _IDENTIFIER.fullmatch(value):
        raise InvalidArgument(
            field, "1..128 letters, digits and _ . : @ / -, starting with a letter or digit"
        )
    return value


def request_id_or_new(value: str) -> str:
    """The client's request id (checked), or a new one for a client that sent none."""
    return request_id(value) or uuid.uuid4().hex


def request_id(value: str) -> str:
    if len(value) > MAX_REQUEST_ID:
        raise InvalidArgument("request_id", f"at most {MAX_REQUEST_ID} characters")
    return value


def labels(field: str, value: Mapping[str, str]) -> dict[str, str]:
    _store_rule(lambda: store_check.labels(field, value))
    return dict(value)
