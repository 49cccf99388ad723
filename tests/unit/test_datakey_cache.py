"""The SDK's data-key cache: reuse within age, message and byte limits; never across
keys, contexts or sizes; entries wiped on close; safe under threads."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping

import pytest

from keymgr.client import DataKey, DataKeyCache


class CountingSource:
    """Stands in for the cluster: fresh random keys, and a count of calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str], int]] = []
        self._lock = threading.Lock()

    def generate_data_key(
        self,
        key_name: str,
        *,
        context: Mapping[str, str] | None = None,
        number_of_bytes: int = 0,
    ) -> DataKey:
        with self._lock:
            self.calls.append((key_name, dict(context or {}), number_of_bytes))
        plain = secrets.token_bytes(number_of_bytes or 32)
        return DataKey(b"wrapped:" + plain[:4], plain, "k" * 32, 1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(source: CountingSource, clock: Clock | None = None, **limits: int) -> DataKeyCache:
    settings = {"max_age_s": 60, "max_messages": 1000, "max_bytes": 1 << 30, **limits}
    return DataKeyCache(source, clock=clock or Clock(), **settings)  # type: ignore[arg-type]


def test_reuses_a_key_for_the_same_key_and_context() -> None:
    source = CountingSource()
    cache = make(source)
    first = cache.generate_data_key("orders", context={"t": "1"})
    again = cache.generate_data_key("orders", context={"t": "1"})
    assert first == again and len(source.calls) == 1
    assert (cache.hits, cache.misses) == (1, 1)


def test_never_crosses_contexts_keys_or_sizes() -> None:
    source = CountingSource()
    cache = make(source)
    made = [
        cache.generate_data_key("orders", context={"t": "1"}),
        cache.generate_data_key("orders", context={"t": "2"}),
        cache.generate_data_key("orders", context={"t": "1", "u": "x"}),
        cache.generate_data_key("orders"),
        cache.generate_data_key("invoices", context={"t": "1"}),
        cache.generate_data_key("orders", context={"t": "1"}, number_of_bytes=16),
    ]
    assert len({m.plaintext for m in made}) == len(made) == len(source.calls)
    assert source.calls[1] == ("orders", {"t": "2"}, 0)
    # and each is then reused for its own context only
    assert cache.generate_data_key("orders", context={"t": "2"}) == made[1]
    assert len(source.calls) == len(made)


def test_age_limit_with_an_injected_clock() -> None:
    source, clock = CountingSource(), Clock()
    cache = make(source, clock, max_age_s=10)
    first = cache.generate_data_key("orders")
    clock.now += 9.99
    assert cache.generate_data_key("orders") == first
    clock.now += 0.01
    assert cache.generate_data_key("orders") != first
    assert len(source.calls) == 2


def test_message_limit() -> None:
    source = CountingSource()
    cache = make(source, max_messages=3)
    keys = [cache.generate_data_key("orders").plaintext for _ in range(7)]
    assert keys[0] == keys[1] == keys[2] != keys[3]
    assert keys[3] == keys[4] == keys[5] != keys[6]
    assert len(source.calls) == 3


def test_byte_limit_counts_what_the_caller_encrypts() -> None:
    source = CountingSource()
    cache = make(source, max_bytes=100)
    first = cache.generate_data_key("orders", message_bytes=60)
    assert cache.generate_data_key("orders", message_bytes=40) == first  # exactly 100
    assert cache.generate_data_key("orders", message_bytes=1) != first
    with pytest.raises(ValueError, match="exceeds max_bytes"):
        cache.generate_data_key("orders", message_bytes=101)
    assert len(source.calls) == 2


def test_close_wipes_and_refuses() -> None:
    source = CountingSource()
    cache = make(source)
    cache.generate_data_key("orders", context={"t": "1"})
    cache.generate_data_key("orders", context={"t": "2"})
    held = [entry.plaintext for entry in cache._entries.values()]
    assert len(cache) == 2 and all(any(p) for p in held)
    cache.close()
    assert len(cache) == 0
    assert all(p == bytearray(len(p)) for p in held)  # zeroized in place
    with pytest.raises(RuntimeError, match="closed"):
        cache.generate_data_key("orders")


def test_expired_entries_leave_memory_without_being_asked_for() -> None:
    source, clock = CountingSource(), Clock()
    cache = make(source, clock, max_age_s=5)
    cache.generate_data_key("orders", context={"t": "old"})
    held = next(iter(cache._entries.values())).plaintext
    clock.now += 6
    cache.generate_data_key("orders", context={"t": "new"})
    assert len(cache) == 1 and held == bytearray(len(held))


def test_entry_count_is_bounded_least_recently_used_first() -> None:
    source = CountingSource()
    cache = make(source, max_entries=2)
    first = cache.generate_data_key("a")
    cache.generate_data_key("b")
    cache.generate_data_key("a")  # a is now the most recent
    cache.generate_data_key("c")  # evicts b
    assert len(cache) == 2 and cache.generate_data_key("a") == first
    cache.generate_data_key("b")
    assert [c[0] for c in source.calls] == ["a", "b", "c", "b"]


def test_limits_are_checked() -> None:
    source = CountingSource()
    for bad in (
        {"max_age_s": 0},
        {"max_messages": 0},
        {"max_messages": 2**32 + 1},
        {"max_bytes": 0},
    ):
        with pytest.raises(ValueError):
            make(source, **bad)


def test_threads_share_keys_within_the_message_limit() -> None:
    source = CountingSource()
    cache = make(source, max_messages=50)
    seen: list[bytes] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(100):
            key = cache.generate_data_key("orders", context={"t": "1"}).plaintext
            with lock:
                seen.append(key)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(seen) == 800
    uses = {key: seen.count(key) for key in set(seen)}
    assert max(uses.values()) <= 50  # no key served more messages than allowed
    assert len(source.calls) == len(uses) < 800
