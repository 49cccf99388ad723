"""Calls to the cluster with a failover deadline.

The SDK already moves a call across nodes (`Client`); when every node it tried was
unavailable (a leader election, a node being replaced) the gateway keeps trying for
`failover_deadline_s` before it answers 503, so a client sees a slow answer rather than
an error during a failover. Final errors are raised at once.

A write is sent again only when the error says it never ran (a refused connection, a
sealed or leaderless node): each SDK call makes its own request id, so a write that may
have been applied (a timeout, a lost connection) is answered 503 rather than applied
twice (a second version, or a check-and-set refused although the first one succeeded).

One `Client` serves every request thread: its failover order is thread-safe and it opens
`connections_per_node` channels to each node, taken in turn.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from keymgr.client import RetryableError, may_have_been_applied

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRY_PAUSE_S = 0.2


class ClusterUnavailable(Exception):
    """No node answered within the failover deadline."""


def with_failover(
    call: Callable[[], T], deadline_s: float, what: str, *, write: bool = False
) -> T:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return call()
        except RetryableError as exc:
            if write and may_have_been_applied(exc):
                log.warning("%s: outcome unknown, not sent again: %s", what, exc)
                raise ClusterUnavailable(what) from None
            if time.monotonic() + RETRY_PAUSE_S > deadline:
                log.warning("%s: cluster unavailable: %s", what, exc)
                raise ClusterUnavailable(what) from None
            time.sleep(RETRY_PAUSE_S)
