"""The read gate's decision: may this node serve from its applied state now?

Pure (a Raft status and the serving bounds in, a reason out) so every branch is
unit-tested. A follower's own commit index is clamped to its log and any message
counts as leader contact, so neither can show staleness; the gate uses what the Raft
layer measures against the leader instead: how long ago this node last confirmed it had
applied everything the leader had committed, and the leader's commit index as heard.
"""

from __future__ import annotations

import math

from keymgr.config import ServingConfig
from keymgr.raft.node import RaftStatus


def lag_entries(status: RaftStatus) -> int:
    """Entries the leader has committed that this node has not applied (as last heard)."""
    return max(0, status.leader_commit_index - status.applied_index)


def raft_refusal(status: RaftStatus, serving: ServingConfig, status_age_s: float = 0.0) -> str:
    """Why Raft state makes this node refuse, or "". `status_age_s`: how long ago
    `status` was taken (a cached status understates every age by that much)."""
    if status.error:
        return f"Raft stopped: {status.error}"
    if status.recovering:
        return f"node is rebuilding its Raft log ({status.recovering})"
    silence = status.seconds_since_leader_contact + status_age_s
    if silence > serving.max_leader_silence_s:
        return f"no contact with a Raft leader for more than {serving.max_leader_silence_s:g}s"
    stale = status.seconds_since_caught_up + status_age_s
    if stale > serving.max_staleness_s:
        if math.isinf(stale):
            return "node has not yet confirmed it caught up with the Raft leader"
        return (
            f"node last confirmed it caught up with the Raft leader {stale:.2f}s ago "
            f"(serving.max_staleness_s is {serving.max_staleness_s:g}s)"
        )
    lag = lag_entries(status)
    if lag > serving.max_lag_entries:
        return f"node lags {lag} entries behind the leader's commit index"
    return ""
