"""The fuzz case maker: seeded (a failing run replays), every method and kind, and an
admin's fuzz never sends a request that could stop the node or lock the admin out."""

from __future__ import annotations

from collections import Counter

from tests.apifuzz import (
    ADMIN_UNDECODABLE_ONLY,
    INIT_POLICY,
    KINDS,
    CaseMaker,
    api_methods,
    decodes,
)

ADMIN = "spiffe://keymgr/admin/admin"


def test_same_seed_same_cases() -> None:
    first = [(c.method.path, c.kind, c.body) for c in CaseMaker(5).cases(300)]
    again = [(c.method.path, c.kind, c.body) for c in CaseMaker(5).cases(300)]
    other = [(c.method.path, c.kind, c.body) for c in CaseMaker(6).cases(300)]
    assert first == again and first != other


def test_cases_cover_every_method_and_kind_decodable_or_not() -> None:
    cases = list(CaseMaker(1).cases(2500))
    assert {c.method.path for c in cases} == {m.path for m in api_methods()}
    assert {c.kind for c in cases} == {kind for kind, _ in KINDS}
    decoded = Counter(decodes(c.method, c.body) for c in cases)
    assert decoded[True] > 500 and decoded[False] > 500


def test_admin_fuzz_sends_disruptive_requests_only_undecodable() -> None:
    maker = CaseMaker(3, admin=ADMIN, pool_strings=[INIT_POLICY, ADMIN])
    for case in maker.cases(3000):
        if not decodes(case.method, case.body):
            continue
        message = case.method.request.FromString(case.body)
        assert case.method.name not in ADMIN_UNDECODABLE_ONLY
        if case.method.name == "PutPolicy":
            assert message.policy.name != INIT_POLICY
        elif case.method.name == "DeletePolicy":
            assert message.name != INIT_POLICY
        elif case.method.name == "SetRoles":
            assert message.principal != ADMIN
        elif case.method.name == "CreateKey":
            assert message.rotation_period_seconds == 0
