"""DueIndex: what is due, in order, with O(due) reads; superseded entries never count."""

from __future__ import annotations

from typing import Any

from keymgr.store.due_index import DueIndex


class CountingList(list):  # type: ignore[type-arg]
    """A heap that counts the reads `due()` makes (heapq's own C accesses are not counted)."""

    reads = 0

    def __getitem__(self, index: Any) -> Any:
        CountingList.reads += 1
        return super().__getitem__(index)


def test_due_lists_exactly_the_keys_whose_time_has_come() -> None:
    index = DueIndex([("a", 10), ("b", 20), ("c", 30)])
    index.set("d", 15)
    assert index.due(14) == [(10, "a")]
    assert index.due(20) == [(10, "a"), (15, "d"), (20, "b")]
    assert len(index.due(20, limit=2)) == 2  # some two of the due keys
    assert index.due(9) == []


def test_a_rescheduled_or_cleared_key_is_not_due_at_its_old_time() -> None:
    index = DueIndex([("a", 10), ("b", 20)])
    index.set("a", 50)  # rescheduled: its entry at 10 is superseded
    index.set("b", None)  # unscheduled
    assert index.due(49) == []
    assert index.due(50) == [(50, "a")]
    index.set("a", 10)  # back to an earlier time: listed once
    assert index.due(60) == [(10, "a")]
    assert len(index) == 1 and index.get("b") is None


def test_pop_due_removes_in_time_then_id_order() -> None:
    index = DueIndex([("b", 5), ("a", 5), ("c", 7), ("d", 9)])
    index.set("c", 100)
    assert index.pop_due(8) == ["a", "b"]
    assert index.pop_due(8) == []
    assert index.items() == {"c": 100, "d": 9}


def test_reading_what_is_due_walks_only_the_due_part_of_the_heap() -> None:
    index = DueIndex((f"k{i}", 1_000_000 + i) for i in range(200_000))
    for i in range(5):
        index.set(f"due{i}", i)
    index._heap = CountingList(index._heap)
    CountingList.reads = 0
    assert [key for _, key in index.due(10)] == [f"due{i}" for i in range(5)]
    assert CountingList.reads <= 2 * 5 + 1  # the due entries and their children, no more
    CountingList.reads = 0
    assert index.due(10, limit=2) and CountingList.reads <= 2 * 2 + 1


def test_superseded_entries_are_dropped_from_the_top_and_the_heap_stays_bounded() -> None:
    index = DueIndex()
    for i in range(100_000):
        index.set("k", i)  # each one supersedes the previous
    assert len(index) == 1 and index.due(10**9) == [(99_999, "k")]
    assert len(index._heap) < 70_000  # rebuilt long before 100,000 stale entries pile up
