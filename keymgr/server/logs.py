"""Node logging: text or one JSON object per line, with the request id of the RPC.

The `@rpc` wrapper sets `request_id` (the client's, or a fresh one) for the duration
of a call, so every line logged while serving it can be joined with the audit line
and with the client's error, which carries the same id.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


class RequestIdFilter(logging.Filter):
    """Adds `record.request_id` (empty outside a request) for both formats."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, node, logger, message, request_id."""

    def __init__(self, node_id: str) -> None:
        super().__init__()
        self._node_id = node_id

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "node": self._node_id,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", "")
        if rid:
            entry["request_id"] = rid
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, sort_keys=True, separators=(",", ":"))


def text_formatter(node_id: str) -> logging.Formatter:
    return logging.Formatter(
        f"%(asctime)s {node_id} %(levelname)s %(name)s: %(message)s [rid=%(request_id)s]"
    )
