"""Which node to try next: a sans-I/O policy, driven by the client.

The client asks `next_endpoint()`, makes the call, and reports back with `succeeded` or
`failed`. The last node that answered is tried first next time; a node that failed is
moved behind the others. Writes keep their request id across every attempt, because a
proposal can be lost, or applied, without the caller being told.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence


class FailoverPolicy:
    """Safe to share between threads (agents serve many connections with one client)."""

    def __init__(self, endpoints: Sequence[str]) -> None:
        if not endpoints:
            raise ValueError("at least one endpoint is required")
        self._order = list(dict.fromkeys(endpoints))
        self._lock = threading.Lock()

    @property
    def endpoints(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._order)

    def plan(self, attempts: int) -> list[str]:
        """The endpoints to try, in order, for one call of at most `attempts` tries."""
        with self._lock:
            order = list(self._order)
        return [order[i % len(order)] for i in range(attempts)]

    def succeeded(self, endpoint: str) -> None:
        with self._lock:
            if endpoint in self._order:
                self._order.remove(endpoint)
                self._order.insert(0, endpoint)

    def failed(self, endpoint: str) -> None:
        with self._lock:
            if endpoint in self._order and self._order[0] == endpoint:
                self._order.remove(endpoint)
                self._order.append(endpoint)
