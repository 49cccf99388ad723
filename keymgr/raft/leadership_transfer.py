"""A leadership transfer that holds new proposals until its target has caught up.

pysyncobj sends Raft's TimeoutNow only if the target's match index equals the leader's
last index at that very tick; under steady writes that tick rarely comes, and StepDown
failed for seconds on end (the remote failover drill gave up after 15 s). As etcd does
with its lead transferee, the leader stops appending while a transfer is pending (new
proposals wait in the adapter's queue), asks again every tick until the target has
caught up, and gives up after a bound, when appends resume. The adapter owns the I/O;
this is the state and the decision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from pysyncobj import FAIL_REASON


class Step(Enum):
    """What the adapter does with a pending transfer at this tick."""

    ASK = "ask"  # ask pysyncobj to send TimeoutNow (it refuses until the target caught up)
    HOLD = "hold"  # TimeoutNow sent: keep proposals back until the role changes
    DONE = "done"  # finished (reported): drop it and resume appending


@dataclass
class PendingTransfer:
    target: str | None  # a peer address, or None for the most caught-up peer
    deadline: float  # on the Raft clock
    report: Callable[[int], None]  # called once, with a FAIL_REASON code
    sent: bool = False
    _reported: bool = False

    def finish(self, code: int) -> None:
        if not self._reported:
            self._reported = True
            self.report(code)

    def step(self, *, is_leader: bool, now: float) -> Step:
        """Decides this tick's step; reports the outcome when there is one."""
        if not is_leader:
            self.finish(FAIL_REASON.SUCCESS if self.sent else FAIL_REASON.NOT_LEADER)
            return Step.DONE
        if now > self.deadline:
            self.finish(FAIL_REASON.REQUEST_DENIED)  # no-op once sent
            return Step.DONE
        return Step.HOLD if self.sent else Step.ASK

    def asked(self, code: int) -> Step:
        """pysyncobj's answer to this tick's request."""
        if code == FAIL_REASON.SUCCESS:
            self.sent = True
            self.finish(code)  # the request is out: the caller polls for the new leader
            return Step.HOLD
        if code == FAIL_REASON.NOT_LEADER:
            self.finish(code)
            return Step.DONE
        return Step.ASK  # the target is not caught up yet: ask again next tick
