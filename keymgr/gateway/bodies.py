"""Request bodies: JSON objects only, read strictly (no NaN, no duplicate keys, bounded
nesting), and the fields the KV v2 endpoints take. A `BadBody` carries the HTTP status
and a message that names the field, never a value."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from keymgr.store.secrets_validation import MAX_DELETE_AFTER_S, MAX_VALUE_BYTES

MAX_DEPTH = 64
_DIGITS = re.compile(r"[0-9]{1,12}")


class BadBody(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise BadBody(400, "failed to decode JSON input: a key is repeated")
        found[key] = value
    return found


def _refuse_constant(name: str) -> Any:
    raise BadBody(400, f"failed to decode JSON input: {name} is not JSON")


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        raise BadBody(400, f"failed to decode JSON input: nested deeper than {MAX_DEPTH}")
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def json_object(body: bytes, *, required: bool = True) -> dict[str, Any]:
    """The body as a JSON object ({} for an empty body unless `required`)."""
    if not body.strip():
        if required:
            raise BadBody(400, "no data provided")
        return {}
    try:
        value = json.loads(
            body.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_refuse_constant,
        )
    except BadBody:
        raise
    except RecursionError:
        raise BadBody(400, "failed to decode JSON input: nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        raise BadBody(400, f"failed to decode JSON input: {reason}") from None
    if not isinstance(value, dict):
        raise BadBody(400, "failed to decode JSON input: expected a JSON object")
    _depth(value)
    return value


def secret_data(body: Mapping[str, Any]) -> dict[str, Any]:
    """`data` of a write or patch: an object, at most MAX_VALUE_BYTES serialized."""
    data = body.get("data")
    if data is None:
        raise BadBody(400, "no data provided")
    if not isinstance(data, dict):
        raise BadBody(400, "data: expected a JSON object")
    size = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_VALUE_BYTES:
        raise BadBody(413, f"data: larger than {MAX_VALUE_BYTES} bytes")
    return data


def cas_option(body: Mapping[str, Any]) -> int | None:
    """`options.cas`: None when absent; a version number (0: only if the path is new)."""
    options = body.get("options")
    if options is None:
        return None
    if not isinstance(options, dict):
        raise BadBody(400, "options: expected a JSON object")
    cas = options.get("cas")
    if cas is None:
        return None
    return whole_number(cas, "options.cas")


def whole_number(value: Any, field_name: str, *, high: int = 2**31 - 1) -> int:
    """A non-negative integer, also given as a numeric string (as the CLI sends)."""
    if isinstance(value, bool):
        raise BadBody(400, f"{field_name}: expected a whole number")
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= high:
        raise BadBody(400, f"{field_name}: expected a whole number from 0 to {high}")
    return value


def versions(body: Mapping[str, Any], *, required: bool = True) -> list[int]:
    """`versions`: a list of numbers (or numeric strings, or "1,2"); at most 1000."""
    raw = body.get("versions")
    if isinstance(raw, str):
        raw = [part for part in raw.split(",") if part.strip()]
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = [raw]
    if raw is None or raw == []:
        if required:
            raise BadBody(400, "no version number provided")
        return []
    if not isinstance(raw, list) or len(raw) > 1000:
        raise BadBody(400, "versions: expected a list of at most 1000 version numbers")
    found = [whole_number(v.strip() if isinstance(v, str) else v, "versions") for v in raw]
    if 0 in found:
        raise BadBody(400, "versions: version numbers start at 1")
    return sorted(set(found))


def custom_metadata(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise BadBody(400, "custom_metadata: expected an object of string values")
    return dict(value)


def optional_bool(body: Mapping[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise BadBody(400, f"{name}: expected true or false")
    return value


_DURATION_PART = re.compile(r"([0-9]{1,12})(h|m|s)")


def _seconds(value: Any, field_name: str) -> int:
    """A whole number of seconds from an integer or a Go duration ("90s", "1h30m")."""
    if isinstance(value, bool):
        raise BadBody(400, f"{field_name}: expected seconds or a duration like 1h30m")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        seconds = int(value)
    elif isinstance(value, str) and value and _DURATION_PART.sub("", value) == "":
        units = {"h": 3600, "m": 60, "s": 1}
        seconds = sum(int(n) * units[u] for n, u in _DURATION_PART.findall(value))
    else:
        raise BadBody(400, f"{field_name}: expected seconds or a duration like 1h30m")
    if not 0 <= seconds <= MAX_DELETE_AFTER_S:
        raise BadBody(400, f"{field_name}: must be from 0 to {MAX_DELETE_AFTER_S} seconds")
    return seconds


def duration_field(body: Mapping[str, Any], name: str) -> int | None:
    """A duration field (seconds, or Go's "1h30m"); None when absent."""
    value = body.get(name)
    return None if value is None else _seconds(value, name)


def number_field(body: Mapping[str, Any], name: str) -> int | None:
    value = body.get(name)
    return None if value is None else whole_number(value, name)
