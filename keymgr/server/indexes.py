"""Read-your-writes on the node: the index a write was applied at, and waiting for the
caller's index before serving.

`WriteIndex` rides in a context variable, like the audit target: the `rpc` wrapper sets
one per request, the proposer raises it for each write the request made, and the
wrapper sends it back as `keymgr-index` metadata without any servicer knowing.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from keymgr.consistency import MIN_INDEX_KEY, parse_index
from keymgr.node_errors import InvalidArgument, Unavailable

MIN_INDEX_WAIT_S = 0.5
MIN_INDEX_POLL_S = 0.01


@dataclass
class WriteIndex:
    index: int = 0  # highest Raft index a write of this request was applied at


write_index: contextvars.ContextVar[WriteIndex | None] = contextvars.ContextVar(
    "write_index", default=None
)


def note_write_index(index: int) -> None:
    """Records that the current request's write was applied at Raft index `index`."""
    target = write_index.get()
    if target is not None and index > target.index:
        target.index = index


def requested_min_index(context: grpc.aio.ServicerContext) -> int:
    """The caller's `keymgr-min-index` (0 if absent); InvalidArgument if malformed."""
    found = 0
    for key, value in context.invocation_metadata() or ():
        if key != MIN_INDEX_KEY:
            continue
        try:
            found = max(found, parse_index(value))
        except ValueError as exc:
            raise InvalidArgument(MIN_INDEX_KEY, f"metadata {exc}") from None
    return found


async def await_applied(
    applied: Callable[[], int], wanted: int, *, wait_s: float = MIN_INDEX_WAIT_S
) -> None:
    """Returns once `applied()` reaches `wanted`; after `wait_s`, Unavailable (the SDK
    then tries another node). Polls on the event loop: never blocks it."""
    deadline = time.monotonic() + wait_s
    while True:
        have = applied()
        if have >= wanted:
            return
        if time.monotonic() >= deadline:
            raise Unavailable(
                f"node has applied Raft index {have}, behind the caller's index {wanted} "
                f"({MIN_INDEX_KEY}) after waiting {wait_s:g}s; try another node"
            )
        await asyncio.sleep(MIN_INDEX_POLL_S)
