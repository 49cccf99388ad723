"""One audit event is one hash-chained JSON line; `AuditLog` writes them to its sinks.

A line is the canonical JSON (sorted keys, no spaces, UTF-8) of:

    seq, time, node, principal, operation, key_id, key_version, request_id, result,
    latency_ms, context, detail, prev, hash

and, only on a batch call's line, `batch`: one short "<key id>:<version>:<outcome>"
string per item (runs of equal neighbours as one, "*<n>"), so the line names every key
the batch touched and how each item ended.

`hash` is SHA-256 over the canonical JSON of the line without `hash`; `prev` is the
`hash` of the line before (GENESIS for the very first line of a node). Editing,
deleting, inserting or reordering a line therefore breaks the chain, which
`keymgr.audit.verify` detects. The chain is not keyed: whoever can rewrite the whole
tail of a file can forge a consistent one, which is why a SIEM copy (syslog) matters.

Encryption-context values are HMAC-SHA256'd with the per-cluster audit key, so equal
values correlate across lines and nodes without being revealed; while the node is
sealed there is no key and values become "<sealed>". Plaintext and key material are
never part of an event.

What a caller chose (request id, context, text its error message repeats) is cut first
(`keymgr.audit.bounds`): a line's size does not follow the request's; a refused
request's line is at most 1 KiB.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from keymgr.audit import bounds
from keymgr.audit.errors import AuditUnavailable, SinkError

__all__ = [
    "FIELDS",
    "GENESIS",
    "SEALED",
    "AuditEvent",
    "AuditLog",
    "ChainPoint",
    "Sink",
    "canonical",
    "line_hash",
    "parse_line",
    "rfc3339_ms",
]

GENESIS: Final = "0" * 64
SEALED: Final = "<sealed>"
FIELDS: Final = frozenset(
    {
        "seq",
        "time",
        "node",
        "principal",
        "operation",
        "key_id",
        "key_version",
        "request_id",
        "result",
        "latency_ms",
        "context",
        "detail",
        "prev",
        "hash",
    }
)
OPTIONAL_FIELDS: Final = frozenset({"batch"})  # written only when there is something

_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def canonical(record: Mapping[str, object]) -> bytes:
    """Sorted keys, no spaces, UTF-8: the bytes a line's hash is computed over."""
    return _encode(record).encode("utf-8")


def line_hash(record: Mapping[str, object]) -> str:
    """SHA-256 (hex) of the canonical JSON of `record` without its `hash` field."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical(body)).hexdigest()


_HEX64 = re.compile(r"[0-9a-f]{64}")
_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "seq": (int,),
    "time": (str,),
    "node": (str,),
    "principal": (str,),
    "operation": (str,),
    "key_id": (str, type(None)),
    "key_version": (int, type(None)),
    "request_id": (str, type(None)),
    "result": (str,),
    "latency_ms": (int, float),
    "context": (dict,),
    "detail": (str,),
    "prev": (str,),
    "hash": (str,),
}


def parse_line(raw: bytes) -> dict[str, object]:
    """One line as a record; ValueError says what is wrong with it (not its content)."""
    if not raw.strip():
        raise ValueError("empty line")
    try:
        record = json.loads(raw)
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"truncated or corrupt JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    missing = sorted(FIELDS - record.keys())
    if missing:
        raise ValueError(f"missing field(s) {', '.join(missing)}")
    extra = sorted(record.keys() - FIELDS - OPTIONAL_FIELDS)
    if extra:
        raise ValueError(f"unknown field(s) {', '.join(extra)}")
    for name, types in _TYPES.items():
        value = record[name]
        if isinstance(value, bool) or not isinstance(value, types):
            raise ValueError(f"field {name} has the wrong type")
    batch = record.get("batch", [])
    if not isinstance(batch, list) or not all(isinstance(e, str) for e in batch):
        raise ValueError("field batch has the wrong type")
    if record["seq"] < 1:
        raise ValueError("field seq must be >= 1")
    for name in ("prev", "hash"):
        if not _HEX64.fullmatch(record[name]):
            raise ValueError(f"field {name} is not a SHA-256 hex digest")
    return record


_time_cache: tuple[int, str] = (-1, "")


def rfc3339_ms(epoch: float) -> str:
    """`2025-01-31T12:00:00.123Z` (UTC, milliseconds)."""
    global _time_cache
    seconds, ms = divmod(int(epoch * 1000), 1000)
    cached_seconds, text = _time_cache  # one tuple: read and replaced atomically
    if cached_seconds != seconds:  # strftime is the slow part; one call per second
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _time_cache = (seconds, text)
    return f"{text}.{ms:03d}Z"


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    """What the node knows about one request; `AuditLog` adds seq, time, node and chain.

    `result` is the gRPC code name ("OK", "PERMISSION_DENIED", ...). `context` holds the
    request's encryption context in the clear: only HMACs of its values are written.
    `detail` is a short reason (an error message), never key material.
    """

    principal: str
    operation: str
    result: str
    latency_ms: float
    key_id: str | None = None
    key_version: int | None = None
    request_id: str | None = None
    context: Mapping[str, str] = field(default_factory=dict)
    detail: str = ""
    time: float | None = None  # epoch seconds; None: when logged
    batch: Sequence[str] = ()  # a batch call's items (keys and outcomes), see the module doc


@dataclass(frozen=True, slots=True)
class ChainPoint:
    """Where a chain stands: the last line's seq and hash."""

    seq: int
    hash: str


class Sink(Protocol):
    """Where lines go. `write` raises SinkError when the line was not written.

    `chained` sinks (the file) hold the chain and can say where it stands after a
    restart; at most one per log. `required` sinks failing make the request fail.
    """

    name: str
    required: bool
    chained: bool

    def write(self, line: str, record: Mapping[str, object]) -> None: ...

    def resume(self) -> ChainPoint | None: ...

    def close(self) -> None: ...


class AuditLog:
    """Writes each event as one chained line to every sink; thread-safe.

    The chained sink is written first: if it fails, nothing else is sent and the chain
    does not advance, so the next line reuses the seq and the file stays contiguous.
    """

    def __init__(
        self,
        sinks: Sequence[Sink],
        node_id: str,
        hmac_key_provider: Callable[[], bytes | None],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        chained = [s for s in sinks if s.chained]
        if len(chained) > 1:
            raise ValueError("at most one chained (file) sink per audit log")
        self._sinks = [*chained, *(s for s in sinks if not s.chained)]
        self._node = node_id
        self._key_provider = hmac_key_provider
        self._clock = clock
        self._lock = threading.Lock()
        point = chained[0].resume() if chained else None
        self._seq = point.seq if point else 0
        self._prev = point.hash if point else GENESIS
        self._hmac_key: bytes | None = None
        self._hmac_template: hmac.HMAC | None = None
        self._healthy = True
        self._failures = 0
        self._last_error: str | None = None
        self._closed = False

    @property
    def healthy(self) -> bool:
        """False after a required sink failed, until a line is written everywhere again."""
        return self._healthy

    @property
    def failures(self) -> int:
        """Sink write failures since start (required or not), for status and metrics."""
        return self._failures

    @property
    def last_error(self) -> str | None:
        """The most recent sink failure, one line (no audited data in it)."""
        return self._last_error

    @property
    def seq(self) -> int:
        """Seq of the last line written (0 before the first)."""
        return self._seq

    def log(self, event: AuditEvent) -> None:
        """Writes one line; raises AuditUnavailable if a required sink could not.

        What the caller chose is cut to the bounds of `keymgr.audit.bounds` first.
        """
        with self._lock:
            if self._closed:
                raise AuditUnavailable("audit log is closed")
            record: dict[str, object] = {
                "seq": self._seq + 1,
                "time": rfc3339_ms(self._clock() if event.time is None else event.time),
                "node": self._node,
                "principal": bounds.bounded(event.principal),
                "operation": event.operation,
                "key_id": bounds.bounded_or_none(event.key_id),
                "key_version": event.key_version,
                "request_id": bounds.bounded_or_none(event.request_id),
                "result": event.result,
                "latency_ms": round(event.latency_ms, 3),
                "context": self._context(event.context),
                "detail": bounds.short(event.detail),
                "prev": self._prev,
            }
            if event.batch:  # sorts before "hash": `_with_hash` is unaffected
                record["batch"] = bounds.batch_entries(list(event.batch))
            body = self._within_budget(record, event)
            digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
            record["hash"] = digest
            line = _with_hash(body, digest)
            failed: list[str] = []
            for sink in self._sinks:
                try:
                    sink.write(line, record)
                except (SinkError, OSError) as exc:
                    self._failures += 1
                    self._last_error = f"{sink.name}: {_one_line(exc)}"
                    if sink.chained:
                        self._healthy = False
                        raise AuditUnavailable(self._last_error) from None
                    if sink.required:
                        failed.append(self._last_error)
            # the chained sink (first) wrote the line, or there is none: the chain moves on
            self._seq += 1
            self._prev = digest
            self._healthy = not failed
            if failed:
                raise AuditUnavailable("; ".join(failed))

    def close(self) -> None:
        """Closes every sink; later `log` calls raise AuditUnavailable."""
        with self._lock:
            self._closed = True
            for sink in self._sinks:
                with contextlib.suppress(SinkError, OSError):
                    sink.close()

    def _within_budget(self, record: dict[str, object], event: AuditEvent) -> str:
        """The canonical body of `record`, made to fit its line budget (see bounds)."""
        budget = bounds.line_budget(event.result) - _HASH_FIELD_BYTES
        body = _encode(record)
        if _size(body) <= budget:
            return body
        if event.context:
            record["context"] = bounds.context_summary(event.context, self._mac())
            body = _encode(record)
            if _size(body) <= budget:
                return body
        for name in ("principal", "key_id", "request_id"):
            value = record[name]
            if isinstance(value, str) and bounds.json_size(value) > bounds.CUT_MIN_BYTES:
                record[name] = bounds.cut(value)
        record["detail"] = bounds.short(event.detail, bounds.MIN_DETAIL_BYTES)
        return _encode(record)

    def _mac(self) -> Callable[[bytes], str] | None:
        """HMAC-SHA256 (hex) with the audit key; None while sealed."""
        key = self._key_provider()
        if key is None:
            return None
        if key != self._hmac_key or self._hmac_template is None:
            self._hmac_key = bytes(key)
            self._hmac_template = hmac.new(self._hmac_key, digestmod=hashlib.sha256)
        template = self._hmac_template

        def mac(data: bytes) -> str:
            one = template.copy()
            one.update(data)
            return one.hexdigest()

        return mac

    def _context(self, context: Mapping[str, str]) -> dict[str, str]:
        if not context:
            return {}
        mac = self._mac()
        if len(context) > bounds.MAX_CONTEXT_ENTRIES:
            return bounds.context_summary(context, mac)
        if mac is None:
            return {bounds.bounded(name): SEALED for name in context}
        return {bounds.bounded(name): mac(value.encode("utf-8")) for name, value in context.items()}


_HASH_FIELD_BYTES: Final = len(',"hash":""') + 64


def _size(body: str) -> int:
    return len(body) if body.isascii() else len(body.encode("utf-8"))


def _with_hash(body: str, digest: str) -> str:
    """`canonical(record + hash)` without encoding twice (half the cost of a line).

    Sorted, "hash" goes right before "key_id". The last `,"key_id":` is the top-level
    one: a context key of that name comes earlier, and in string values after it a
    quote would be escaped.
    """
    at = body.rindex(',"key_id":')
    return f'{body[:at]},"hash":"{digest}"{body[at:]}'


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split()) or type(exc).__name__
