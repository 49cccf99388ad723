"""Which key a request touched, noted by servicers for the request's audit line.

A context variable: each request runs in its own asyncio task, so each has its own
target. The `rpc` wrapper sets it before the handler and reads it after.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class AuditTarget:
    key_id: str | None = None
    key_version: int | None = None
    context: dict[str, str] = field(default_factory=dict)


audit_target: contextvars.ContextVar[AuditTarget | None] = contextvars.ContextVar(
    "audit_target", default=None
)


def note_key(key_id: str, version: int | None = None) -> None:
    """Records which key (and version) the current request used, for its audit line."""
    target = audit_target.get()
    if target is not None:
        target.key_id = key_id
        if version is not None:
            target.key_version = version


def note_context(context: Mapping[str, str]) -> None:
    """Context a request carries outside `encryption_context` (volume id, database id),
    so it reaches the audit line (values HMAC'd there like any context)."""
    target = audit_target.get()
    if target is not None:
        target.context.update(context)
