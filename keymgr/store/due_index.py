"""Keys by due time: which keys a timer must act on, found without scanning every key.

The state machine keeps one index per timer (deletion, rotation) and changes it in
`apply`, so every replica derives the same index from the same log; nothing here reads
a clock. A change costs O(log n); asking what is due at `now` costs O(due): a binary
heap with lazy removal (a superseded entry stays in the heap until it reaches the top,
where it is dropped) is walked only through entries whose time has come.

Readers (the leader's scheduler, on the event loop) and `apply` (the Raft tick thread)
share the heap under a lock that either side holds for O(due) steps at most.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterable

_REBUILD_SLACK = 65_536


class DueIndex:
    """key id -> due time (ms); `due(now)` lists keys whose time is at or before `now`."""

    __slots__ = ("_due", "_heap", "_lock")

    def __init__(self, items: Iterable[tuple[str, int]] = ()) -> None:
        self._due: dict[str, int] = dict(items)
        self._heap = [(due, key_id) for key_id, due in self._due.items()]
        heapq.heapify(self._heap)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._due)

    def get(self, key_id: str) -> int | None:
        return self._due.get(key_id)

    def items(self) -> dict[str, int]:
        """A copy of the whole index (tests, checks: O(n))."""
        with self._lock:
            return dict(self._due)

    def set(self, key_id: str, due: int | None) -> None:
        """Schedules `key_id` at `due`, or unschedules it (None). Apply thread only."""
        if self._due.get(key_id) == due:
            return
        with self._lock:
            if due is None:
                del self._due[key_id]
            else:
                self._due[key_id] = due
                heapq.heappush(self._heap, (due, key_id))
            self._drop_stale_top()

    def pop_due(self, now: int) -> list[str]:
        """Removes and returns the keys due at `now`, by (due, id). Apply thread only."""
        popped: list[str] = []
        with self._lock:
            heap, current = self._heap, self._due
            while heap and heap[0][0] <= now:
                due, key_id = heapq.heappop(heap)
                if current.get(key_id) == due:
                    del current[key_id]
                    popped.append(key_id)
            self._drop_stale_top()
        return popped

    def due(self, now: int, limit: int | None = None) -> list[tuple[int, str]]:
        """(due, id) of keys due at `now`, earliest first, at most `limit` (any thread).

        Walks only heap entries at or before `now` (and their direct children)."""
        found: dict[str, int] = {}
        with self._lock:
            heap, current = self._heap, self._due
            stack = [0]
            while stack and (limit is None or len(found) < limit):
                i = stack.pop()
                if i >= len(heap):
                    continue
                due, key_id = heap[i]
                if due > now:
                    continue
                if current.get(key_id) == due:
                    found[key_id] = due
                stack.append(2 * i + 1)
                stack.append(2 * i + 2)
        return sorted((due, key_id) for key_id, due in found.items())

    def _drop_stale_top(self) -> None:
        heap, current = self._heap, self._due
        while heap and current.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        if len(heap) > 4 * len(current) + _REBUILD_SLACK:  # many superseded entries
            self._heap = [(due, key_id) for key_id, due in current.items()]
            heapq.heapify(self._heap)
