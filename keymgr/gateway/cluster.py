"""Calls to the cluster with a failover deadline.

The SDK already moves a call across nodes (`Client`); when every node it tried was
unavailable (a leader election, a node being replaced) the gateway keeps trying for
`failover_deadline_s` before it answers 503, so a client sees a slow answer rather than
an error during a failover. Final errors are raised at once.

A write is sent again under the request id it was first sent with (the caller fixes
it), so a write that may have been applied (a timeout, a lost connection) and is sent
again is applied at most once: the cluster answers the second sending with the first
one's result (no second version, no check-and-set refused although the first
succeeded).

One `Client` serves every request thread: its failover order is thread-safe and it opens
`connections_per_node` channels to each node, taken in turn. `ClusterClient` rebuilds it
when the gateway's own certificate files for the cluster change (a reissued client
certificate is used without a restart); the previous one serves the calls already made
with it and is closed `RETIRE_AFTER_S` later.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from keymgr.client import Client, MasterKey, RetryableError
from keymgr.gateway.tls import file_stamp

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRY_PAUSE_S = 0.2
CHECK_INTERVAL_S = 1.0
RETIRE_AFTER_S = 60.0  # longer than any call's deadline


class ClusterUnavailable(Exception):
    """No node answered within the failover deadline."""


def with_failover(call: Callable[[], T], deadline_s: float, what: str) -> T:
    """`call` until it answers or `deadline_s` passes; a write must carry one request id
    across the calls (see the module docstring)."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return call()
        except RetryableError as exc:
            if time.monotonic() + RETRY_PAUSE_S > deadline:
                log.warning("%s: cluster unavailable: %s", what, exc)
                raise ClusterUnavailable(what) from None
            time.sleep(RETRY_PAUSE_S)


class ClusterClient:
    """The gateway's `Client`, rebuilt when `files` (its CA, certificate and key) change."""

    def __init__(
        self,
        build: Callable[[], Client],
        files: tuple[Path, ...],
        *,
        check_interval_s: float = CHECK_INTERVAL_S,
        retire_after_s: float = RETIRE_AFTER_S,
    ) -> None:
        self._build = build
        self._files = files
        self._interval = check_interval_s
        self._retire_after = retire_after_s
        self._lock = threading.Lock()
        self._stamp = file_stamp(files)
        self._client = build()
        self._checked = time.monotonic()
        self._retiring: list[tuple[float, Client]] = []
        self.rebuilds = 0

    def current(self) -> Client:
        now = time.monotonic()
        if now - self._checked < self._interval:
            return self._client
        with self._lock:
            if now - self._checked >= self._interval:
                self._checked = now
                self._refresh(now)
            return self._client

    def _refresh(self, now: float) -> None:
        for retired_at, old in [r for r in self._retiring if now - r[0] >= self._retire_after]:
            old.close()
            self._retiring.remove((retired_at, old))
        try:
            stamp = file_stamp(self._files)
            if stamp == self._stamp:
                return
            fresh = self._build()
        except (OSError, ValueError) as exc:  # half-written files: try again next time
            log.warning("gateway cluster certificate not reloaded (kept the old one): %s", exc)
            return
        self._retiring.append((now, self._client))
        self._client, self._stamp = fresh, stamp
        self.rebuilds += 1
        log.info("gateway cluster certificate reloaded from %s", self._files[1])

    def get_master_key(self, db_id: str, key_id: str, *, version: int = 0) -> MasterKey:
        """The TDE part's calls, on the current client."""
        return self.current().get_master_key(db_id, key_id, version=version)

    def close(self) -> None:
        with self._lock:
            for _, old in self._retiring:
                old.close()
            self._retiring.clear()
            self._client.close()
