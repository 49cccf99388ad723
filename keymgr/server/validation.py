"""Checks of request fields, each failure naming the field (INVALID_ARGUMENT)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from keymgr.server.errors import InvalidArgument

NAME_PATTERN = re.compile(r"[A-Za-z0-9_.:-][A-Za-z0-9_.:/-]{0,127}")
KEY_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
MAX_PLAINTEXT = 64 * 1024
MAX_CIPHERTEXT = MAX_PLAINTEXT + 1024
MAX_CONTEXT_ENTRIES = 64
MAX_CONTEXT_TEXT = 1024
MAX_RANDOM = 1024
MAX_REQUEST_ID = 128


def key_name(field: str, value: str) -> str:
    if not value:
        raise InvalidArgument(field, "must not be empty")
    if len(value) > 128:
        raise InvalidArgument(field, f"at most 128 characters, got {len(value)}")
    if not NAME_PATTERN.fullmatch(value):
        raise InvalidArgument(
            field, "may hold only letters, digits and _ . : / - and must not start with /"
        )
    return value


def new_key_name(field: str, value: str) -> str:
    """A name for a new key: also must not look like a key id (ids and names share lookup)."""
    key_name(field, value)
    if KEY_ID_PATTERN.fullmatch(value):
        raise InvalidArgument(field, "must not be 32 hex digits (that is the shape of a key id)")
    return value


def encryption_context(field: str, context: Mapping[str, str]) -> dict[str, str]:
    if len(context) > MAX_CONTEXT_ENTRIES:
        raise InvalidArgument(field, f"at most {MAX_CONTEXT_ENTRIES} entries")
    for name, value in context.items():
        if not name:
            raise InvalidArgument(field, "keys must not be empty")
        if len(name) > MAX_CONTEXT_TEXT or len(value) > MAX_CONTEXT_TEXT:
            raise InvalidArgument(field, f"keys and values are at most {MAX_CONTEXT_TEXT} chars")
    return dict(context)


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


def request_id(value: str) -> str:
    if len(value) > MAX_REQUEST_ID:
        raise InvalidArgument("request_id", f"at most {MAX_REQUEST_ID} characters")
    return value


def labels(field: str, value: Mapping[str, str]) -> dict[str, str]:
    if len(value) > 64:
        raise InvalidArgument(field, "at most 64 labels")
    for name, text in value.items():
        if not name or len(name) > 256 or len(text) > 256:
            raise InvalidArgument(field, "label keys are 1..256 chars, values at most 256")
    return dict(value)
