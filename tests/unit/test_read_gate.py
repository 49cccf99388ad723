"""The read gate's decision and read-your-writes handling, without a cluster.

The gate must refuse whenever the node cannot confirm it is within the staleness bound:
these cases are what the old gate (commit index clamped to the follower's own log, any
message counted as leader contact) let through.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from typing import Any

import grpc
import pytest

from keymgr.config import ServingConfig
from keymgr.consistency import MIN_INDEX_KEY, parse_index
from keymgr.node_errors import InvalidArgument, Unavailable
from keymgr.raft.node import RaftStatus
from keymgr.server.indexes import (
    WriteIndex,
    await_applied,
    note_write_index,
    requested_min_index,
    write_index,
)
from keymgr.server.read_gate import lag_entries, raft_refusal

SERVING = ServingConfig(max_leader_silence_s=3.0, max_staleness_s=1.0, max_lag_entries=100)


def follower(**changes: Any) -> RaftStatus:
    """A healthy follower: caught up 0.1 s ago, nothing left to apply."""
    status = RaftStatus(
        role="follower",
        self_address="a:1",
        leader_address="b:1",
        term=3,
        commit_index=50,
        applied_index=50,
        has_quorum=True,
        seconds_since_leader_contact=0.05,
        leader_commit_index=50,
        seconds_since_caught_up=0.1,
    )
    return dataclasses.replace(status, **changes)


def test_a_caught_up_follower_serves() -> None:
    assert raft_refusal(follower(), SERVING) == ""


def test_recent_contact_is_not_enough_when_not_caught_up() -> None:
    # every heartbeat arrives, but the node has not applied what they say is committed
    reason = raft_refusal(follower(seconds_since_caught_up=6.0), SERVING)
    assert "6.00s ago" in reason and "serving.max_staleness_s is 1s" in reason


def test_a_node_that_never_caught_up_refuses() -> None:
    reason = raft_refusal(follower(seconds_since_caught_up=math.inf), SERVING)
    assert reason == "node has not yet confirmed it caught up with the Raft leader"


def test_staleness_counts_the_age_of_a_cached_status() -> None:
    assert raft_refusal(follower(seconds_since_caught_up=0.9), SERVING) == ""
    assert "caught up" in raft_refusal(follower(seconds_since_caught_up=0.9), SERVING, 0.2)


def test_lag_is_measured_against_the_leaders_commit_index() -> None:
    # the follower's own commit index is clamped to its log: it says nothing is missing
    behind = follower(commit_index=50, applied_index=50, leader_commit_index=506)
    assert lag_entries(behind) == 456
    assert raft_refusal(behind, SERVING) == (
        "node lags 456 entries behind the leader's commit index"
    )
    assert raft_refusal(follower(leader_commit_index=150), SERVING) == ""


def test_a_recovering_node_refuses() -> None:
    reason = raft_refusal(follower(recovering="journal checksum mismatch"), SERVING)
    assert reason == "node is rebuilding its Raft log (journal checksum mismatch)"


def test_leader_silence_still_applies() -> None:
    loose = dataclasses.replace(SERVING, max_staleness_s=10.0)
    reason = raft_refusal(follower(seconds_since_leader_contact=4.0), loose)
    assert reason == "no contact with a Raft leader for more than 3s"


def test_a_stopped_raft_refuses() -> None:
    assert raft_refusal(follower(error="dump checksum"), SERVING) == "Raft stopped: dump checksum"


def test_a_leader_is_judged_by_its_majority_contact() -> None:
    leader = follower(
        role="leader",
        leader_address="a:1",
        seconds_since_caught_up=1.5,
        seconds_since_leader_contact=1.5,
    )
    assert "caught up" in raft_refusal(leader, SERVING)


# --- min index -------------------------------------------------------------------------


class FakeContext:
    def __init__(self, metadata: tuple[tuple[str, str | bytes], ...]) -> None:
        self._metadata = metadata

    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return self._metadata


def _min_index(*metadata: tuple[str, str | bytes]) -> int:
    context: grpc.aio.ServicerContext = FakeContext(metadata)  # type: ignore[assignment]
    return requested_min_index(context)


def test_min_index_absent_is_zero() -> None:
    assert _min_index(("user-agent", "x")) == 0


def test_min_index_is_read_and_the_highest_wins() -> None:
    assert _min_index((MIN_INDEX_KEY, "17"), (MIN_INDEX_KEY, "40")) == 40


@pytest.mark.parametrize("value", ["", "-1", "abc", "1.5", " 7", "٣", "9" * 20, str(2**63)])
def test_bad_min_index_is_invalid_argument_naming_the_key(value: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        _min_index((MIN_INDEX_KEY, value))
    assert str(raised.value).startswith(f"{MIN_INDEX_KEY}: metadata ")
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_parse_index_accepts_bytes_and_the_maximum() -> None:
    assert parse_index(b"12") == 12
    assert parse_index(str(2**63 - 1)) == 2**63 - 1


def test_await_applied_returns_once_the_index_is_reached() -> None:
    applied = [3]

    async def run() -> float:
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, applied.__setitem__, 0, 9)
        started = time.monotonic()
        await await_applied(lambda: applied[0], 9, wait_s=2.0)
        return time.monotonic() - started

    assert 0.05 < asyncio.run(run()) < 1.5


def test_await_applied_gives_up_with_unavailable_naming_the_reason() -> None:
    async def run() -> None:
        await await_applied(lambda: 3, 9, wait_s=0.1)

    started = time.monotonic()
    with pytest.raises(Unavailable) as raised:
        asyncio.run(run())
    assert time.monotonic() - started < 1.0
    message = str(raised.value)
    assert "applied Raft index 3, behind the caller's index 9" in message
    assert message.endswith("try another node")


def test_await_applied_does_not_block_the_event_loop() -> None:
    async def run() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        with pytest.raises(Unavailable):
            await await_applied(lambda: 0, 1, wait_s=0.2)
        task.cancel()
        return ticks

    assert asyncio.run(run()) >= 5


def test_write_index_keeps_the_highest_of_a_requests_writes() -> None:
    note_write_index(5)  # outside a request: ignored
    target = WriteIndex()
    token = write_index.set(target)
    try:
        for index in (7, 12, 9):
            note_write_index(index)
    finally:
        write_index.reset(token)
    assert target.index == 12
