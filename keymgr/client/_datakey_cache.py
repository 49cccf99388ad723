"""An opt-in cache of data keys, so an application that encrypts many small messages
does not ask the cluster for a fresh data key for each one.

Reusing a data key trades isolation for calls: one key now protects several messages.
Three limits bound that trade, and an entry is retired at the first one reached:

- `max_age_s`: seconds since the cluster made the key (a clock the caller can inject);
- `max_messages`: messages encrypted under it (each `generate_data_key` is one);
- `max_bytes`: plaintext bytes encrypted under it (the caller says how many per call).

A key is reused only for the same managed key name, the same encryption context and
the same size: never across contexts, so a policy that checks the context, and the
audit line that records it, still see every context the application uses. Thread-safe;
`close()` wipes every cached plaintext key (a bytearray overwritten with zeros; copies
the caller holds are the caller's) and the cache then refuses to serve.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from keymgr.client._results import DataKey

# AES-GCM with random 96-bit nonces: NIST SP 800-38D allows at most 2**32 messages per key
MAX_MESSAGES_LIMIT = 2**32
SWEEP_INTERVAL_S = 1.0


class DataKeySource(Protocol):
    """Where fresh data keys come from: a `Client`, or anything with its method."""

    def generate_data_key(
        self,
        key_name: str,
        *,
        context: Mapping[str, str] | None = None,
        number_of_bytes: int = 0,
    ) -> DataKey: ...


CacheKey = tuple[str, frozenset[tuple[str, str]], int]


@dataclass
class _Entry:
    plaintext: bytearray  # wiped when the entry is retired
    ciphertext_blob: bytes
    key_id: str
    key_version: int
    made_at: float
    messages: int = 0
    bytes: int = 0

    def wipe(self) -> None:
        self.plaintext[:] = bytes(len(self.plaintext))


class DataKeyCache:
    """Reuses data keys within limits. Example::

    cache = DataKeyCache(client, max_age_s=60, max_messages=1000, max_bytes=2**30)
    dk = cache.generate_data_key("orders", context={"table": "t1"}, message_bytes=len(row))
    ...  # encrypt `row` locally with dk.plaintext; store dk.ciphertext_blob with it
    cache.close()
    """

    def __init__(
        self,
        source: DataKeySource,
        *,
        max_age_s: float,
        max_messages: int,
        max_bytes: int,
        max_entries: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not max_age_s > 0:
            raise ValueError("max_age_s must be > 0")
        if not 1 <= max_messages <= MAX_MESSAGES_LIMIT:
            raise ValueError(f"max_messages must be between 1 and {MAX_MESSAGES_LIMIT}")
        if max_bytes < 1 or max_entries < 1:
            raise ValueError("max_bytes and max_entries must be >= 1")
        self._source = source
        self._max_age_s = max_age_s
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[CacheKey, _Entry] = OrderedDict()
        self._closed = False
        self._swept_at = clock()
        self.hits = 0
        self.misses = 0

    def generate_data_key(
        self,
        key_name: str,
        *,
        context: Mapping[str, str] | None = None,
        number_of_bytes: int = 0,
        message_bytes: int = 0,
    ) -> DataKey:
        """A data key for one message of `message_bytes` plaintext bytes: a cached one
        if it stays within every limit after this message, else a fresh one."""
        if message_bytes < 0:
            raise ValueError("message_bytes must be >= 0")
        if message_bytes > self._max_bytes:
            raise ValueError(f"message_bytes {message_bytes} exceeds max_bytes {self._max_bytes}")
        key: CacheKey = (key_name, frozenset((context or {}).items()), number_of_bytes)
        with self._lock:
            self._check_open()
            self._sweep()
            entry = self._entries.get(key)
            if entry is not None and self._usable(entry, message_bytes):
                self.hits += 1
                return self._use(key, entry, message_bytes)
            if entry is not None:
                self._retire(key)
            self.misses += 1
        fresh = self._source.generate_data_key(
            key_name, context=dict(context or {}), number_of_bytes=number_of_bytes
        )
        entry = _Entry(
            bytearray(fresh.plaintext),
            fresh.ciphertext_blob,
            fresh.key_id,
            fresh.key_version,
            made_at=self._clock(),
        )
        with self._lock:
            self._check_open(entry)
            if key in self._entries:  # another thread filled it meanwhile: keep ours
                self._retire(key)
            self._entries[key] = entry
            while len(self._entries) > self._max_entries:
                self._retire(next(iter(self._entries)))
            return self._use(key, entry, message_bytes)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        """Wipes and drops every entry; the cache stays usable."""
        with self._lock:
            for key in list(self._entries):
                self._retire(key)

    def close(self) -> None:
        """Wipes and drops every entry; later calls raise RuntimeError."""
        with self._lock:
            self._closed = True
            for key in list(self._entries):
                self._retire(key)

    def __enter__(self) -> DataKeyCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self, pending: _Entry | None = None) -> None:
        if self._closed:
            if pending is not None:
                pending.wipe()
            raise RuntimeError("data key cache is closed")

    def _sweep(self) -> None:
        """Retires entries past their age (at most once a second), so an unused key does
        not stay in memory much longer than `max_age_s`."""
        now = self._clock()
        if now - self._swept_at < SWEEP_INTERVAL_S:
            return
        self._swept_at = now
        for key in [k for k, e in self._entries.items() if now - e.made_at >= self._max_age_s]:
            self._retire(key)

    def _usable(self, entry: _Entry, message_bytes: int) -> bool:
        return (
            self._clock() - entry.made_at < self._max_age_s
            and entry.messages + 1 <= self._max_messages
            and entry.bytes + message_bytes <= self._max_bytes
        )

    def _use(self, key: CacheKey, entry: _Entry, message_bytes: int) -> DataKey:
        entry.messages += 1
        entry.bytes += message_bytes
        self._entries.move_to_end(key)
        return DataKey(
            entry.ciphertext_blob, bytes(entry.plaintext), entry.key_id, entry.key_version
        )

    def _retire(self, key: CacheKey) -> None:
        self._entries.pop(key).wipe()
