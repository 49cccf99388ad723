"""Calls to the cluster with a failover deadline.

The SDK already moves a call across nodes (`Client`); when every node it tried was
unavailable (a leader election, a node being replaced) the gateway keeps trying for
`failover_deadline_s` before it answers 503, so a client sees a slow answer rather than
an error during a failover. Final errors are raised at once.

One `Client` serves every request thread: its failover order is thread-safe and it opens
`connections_per_node` channels to each node, taken in turn.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from keymgr.client import RetryableError

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRY_PAUSE_S = 0.2


class ClusterUnavailable(Exception):
    """No node answered within the failover deadline."""


def with_failover(call: Callable[[], T], deadline_s: float, what: str) -> T:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return call()
        except RetryableError as exc:
            if time.monotonic() + RETRY_PAUSE_S > deadline:
                log.warning("%s: cluster unavailable: %s", what, exc)
                raise ClusterUnavailable(what) from None
            time.sleep(RETRY_PAUSE_S)
