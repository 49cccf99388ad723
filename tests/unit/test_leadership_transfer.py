"""The pending leadership transfer's decisions, tick by tick (no I/O)."""

from __future__ import annotations

from pysyncobj import FAIL_REASON

from keymgr.raft.leadership_transfer import PendingTransfer, Step


def _transfer(deadline: float = 10.0) -> tuple[PendingTransfer, list[int]]:
    reported: list[int] = []
    return PendingTransfer("127.0.0.1:1", deadline, reported.append), reported


def test_asks_each_tick_until_the_target_caught_up_then_holds_until_the_role_changes() -> None:
    transfer, reported = _transfer()
    assert transfer.step(is_leader=True, now=1.0) is Step.ASK
    assert transfer.asked(FAIL_REASON.REQUEST_DENIED) is Step.ASK  # not caught up
    assert reported == []
    assert transfer.step(is_leader=True, now=1.1) is Step.ASK
    assert transfer.asked(FAIL_REASON.SUCCESS) is Step.HOLD
    assert reported == [FAIL_REASON.SUCCESS]
    assert transfer.step(is_leader=True, now=1.2) is Step.HOLD
    assert transfer.step(is_leader=False, now=1.3) is Step.DONE
    assert reported == [FAIL_REASON.SUCCESS]  # reported once


def test_gives_up_at_the_deadline_and_says_so() -> None:
    transfer, reported = _transfer(deadline=2.0)
    assert transfer.step(is_leader=True, now=1.0) is Step.ASK
    transfer.asked(FAIL_REASON.REQUEST_DENIED)
    assert transfer.step(is_leader=True, now=2.5) is Step.DONE
    assert reported == [FAIL_REASON.REQUEST_DENIED]


def test_sent_but_still_leader_at_the_deadline_resumes_without_a_second_report() -> None:
    transfer, reported = _transfer(deadline=2.0)
    transfer.step(is_leader=True, now=1.0)
    transfer.asked(FAIL_REASON.SUCCESS)
    assert transfer.step(is_leader=True, now=2.5) is Step.DONE
    assert reported == [FAIL_REASON.SUCCESS]


def test_losing_leadership_before_sending_is_not_leader() -> None:
    transfer, reported = _transfer()
    assert transfer.step(is_leader=False, now=1.0) is Step.DONE
    assert reported == [FAIL_REASON.NOT_LEADER]
