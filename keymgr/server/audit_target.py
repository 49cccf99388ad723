"""Which key a request touched, noted by servicers for the request's audit line.

A context variable: each request runs in its own asyncio task, so each has its own
target. The `rpc` wrapper sets it before the handler and reads it after.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass
class AuditTarget:
    key_id: str | None = None
    key_version: int | None = None
    context: dict[str, str] = field(default_factory=dict)
    batch: list[str] = field(default_factory=list)  # a batch call's items, see note_batch
    detail: str = ""  # what a successful call did beyond key and version (note_detail)
    subject: str = ""  # what a secrets call acted on, kept on errors too (note_secret)


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


def note_detail(text: str) -> None:
    """A line for a successful request's audit `detail` (never material): e.g. where an
    export went. Errors keep their own message there."""
    target = audit_target.get()
    if target is not None:
        target.detail = text


def note_context(context: Mapping[str, str]) -> None:
    """Context a request carries outside `encryption_context` (volume id, database id),
    so it reaches the audit line (values HMAC'd there like any context)."""
    target = audit_target.get()
    if target is not None:
        target.context.update(context)


BatchEntry = tuple[str | None, int | None, str]  # (key id, key version, outcome code name)


def note_batch(entries: Sequence[BatchEntry]) -> None:
    """Names every item of a batch call in its one audit line, compactly and in order:
    "<key id>:<version>:<outcome>", a run of equal neighbours as one entry with "*<n>"
    ("-" for a key or version the item never resolved). At most one entry per item, so a
    1,000-item batch lists at most 1,000 entries (~70 KB) and usually a handful."""
    target = audit_target.get()
    if target is None:
        return
    runs: list[tuple[BatchEntry, int]] = []
    for entry in entries:
        if runs and runs[-1][0] == entry:
            runs[-1] = (entry, runs[-1][1] + 1)
        else:
            runs.append((entry, 1))
    target.batch = [_batch_text(entry, count) for entry, count in runs]


def _batch_text(entry: BatchEntry, count: int) -> str:
    key_id, version, outcome = entry
    text = f"{key_id or '-'}:{version if version is not None else '-'}:{outcome}"
    return f"{text}*{count}" if count > 1 else text


def note_secret(mount: str, path: str = "", versions: Sequence[int] = ()) -> None:
    """The secret a call acted on (mount, path, versions; never a value), for its audit
    line whatever the outcome."""
    target = audit_target.get()
    if target is None:
        return
    parts = [f"mount={mount}"]
    if path:
        parts.append(f"path={path}")
    if versions:
        shown = ",".join(str(v) for v in list(versions)[:32])
        parts.append(f"versions={shown}{',...' if len(versions) > 32 else ''}")
    target.subject = " ".join(parts)
