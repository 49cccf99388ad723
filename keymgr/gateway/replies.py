"""KV v2 response shapes (as OpenBao 2.7 answers, compared on the wire):

    {"request_id": "...", "lease_id": "", "renewable": false, "lease_duration": 0,
     "data": {...}, "wrap_info": null, "warnings": null, "auth": null}

errors as `{"errors": ["..."]}`, writes without a body as 204. Times are RFC 3339 UTC
with microseconds; a duration is Go's ("0s", "1h30m0s"), which is what clients parse.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

PERMISSION_DENIED = "permission denied"
CAS_MISMATCH = "check-and-set parameter did not match the current version"
CAS_REQUIRED = "check-and-set parameter required for this call"


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any] | None  # None: no body (204)


def ok(data: dict[str, Any] | None, status: int = 200) -> Reply:
    return Reply(status, envelope(data))


def envelope(data: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "request_id": str(uuid.uuid4()),
        "lease_id": "",
        "renewable": False,
        "lease_duration": 0,
        "data": data,
        "wrap_info": None,
        "warnings": None,
        "auth": None,
    }


def no_content() -> Reply:
    return Reply(204, None)


def error(status: int, *messages: str) -> Reply:
    return Reply(status, {"errors": list(messages)})


def denied() -> Reply:
    return error(403, PERMISSION_DENIED)


def rfc3339(unix: float) -> str:
    """Unix seconds -> "2026-12-06T19:35:30.730342Z"; 0 -> "" (as KV v2 says "never")."""
    if not unix:
        return ""
    moment = datetime.datetime.fromtimestamp(unix, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def go_duration(seconds: int) -> str:
    """Seconds -> Go's time.Duration text: 0 -> "0s", 5400 -> "1h30m0s"."""
    if seconds <= 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
