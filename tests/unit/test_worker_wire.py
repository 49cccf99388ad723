"""The Raft process <-> worker frames: round trips, and malformed input refused."""

from __future__ import annotations

import asyncio
import math

import pytest

from keymgr.raft import proposal_batch
from keymgr.raft.node import NoLeader, PeerStatus, ProposalTimeout, RaftStatus, commands_in
from keymgr.server import worker_wire as wire
from keymgr.server.worker_wire import Kind


def _read(data: bytes) -> wire.Frame:
    async def go() -> wire.Frame:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await wire.read_frame(reader)

    return asyncio.run(go())


def test_a_frame_round_trips() -> None:
    frame = _read(wire.encode(Kind.ENTRY, wire.indexed(42, b"\x01payload")))
    assert frame.kind is Kind.ENTRY
    assert wire.split_indexed(frame.body) == (42, b"\x01payload")


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x00\x00\x00\x02",  # size 0
        b"\x7f\xff\xff\xff\x02",  # over MAX_FRAME
        b"\x00\x00\x00\x01\x63",  # unknown kind
    ],
)
def test_malformed_frames_are_refused(data: bytes) -> None:
    with pytest.raises(wire.WireError):
        _read(data)


def test_status_round_trips_with_infinite_ages() -> None:
    status = RaftStatus(
        "follower",
        "127.0.0.1:1",
        "127.0.0.1:2",
        3,
        10,
        9,
        True,
        math.inf,
        peers={"127.0.0.1:2": PeerStatus("127.0.0.1:2", True, None)},
        leader_commit_index=11,
    )
    assert wire.parse_status(wire.status_body(status)) == status


def test_outcomes_carry_results_and_errors() -> None:
    assert wire.split_outcome(wire.outcome(7, 99, b"result", None)) == (7, 99, b"result", None)
    request_id, index, result, error = wire.split_outcome(
        wire.outcome(8, 0, None, ProposalTimeout("slow"))
    )
    assert (request_id, index, result) == (8, 0, b"")
    assert isinstance(error, ProposalTimeout) and error.outcome_unknown
    _, _, _, error = wire.split_outcome(wire.outcome(9, 0, None, NoLeader("none")))
    assert isinstance(error, NoLeader) and not error.outcome_unknown
    with pytest.raises(wire.WireError):
        wire.split_outcome(b"\x00" * 3)


def test_commands_in_replays_entries_as_the_state_machine_sees_them() -> None:
    single = b"\x01cmd"
    batch = proposal_batch.BATCH + proposal_batch.encode([b"\x01a", b"\x02", b"\x01b"])
    assert commands_in(single) == [b"cmd"]
    assert commands_in(b"\x02") == []
    assert commands_in(batch) == [b"a", b"b"]
    with pytest.raises(proposal_batch.BatchError):
        commands_in(b"\x09junk")
