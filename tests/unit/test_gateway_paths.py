"""The gateway's request-target and body readers, as transcripts: what each input
becomes, or the one-line error it gets (the HTTP-level refusals are in
tests/unit/test_kv_gateway.py)."""

from __future__ import annotations

import pytest

from keymgr.gateway import bodies
from keymgr.gateway.bodies import BadBody
from keymgr.gateway.paths import BadTarget, parse_target
from keymgr.gateway.replies import go_duration, rfc3339


@pytest.mark.parametrize(
    ("raw", "segments", "folder", "query"),
    [
        ("/v1/secret/data/apps/web", ("secret", "data", "apps", "web"), False, {}),
        (
            "/v1/secret/metadata/apps/?list=true",
            ("secret", "metadata", "apps"),
            True,
            {"list": "true"},
        ),
        ("/v1/secret/data/a%40b%2Bc", ("secret", "data", "a@b+c"), False, {}),
        ("/v1/secret/data/x?version=2&", ("secret", "data", "x"), False, {"version": "2"}),
        (
            "/v1/sys/internal/ui/mounts/secret",
            ("sys", "internal", "ui", "mounts", "secret"),
            False,
            {},
        ),
    ],
)
def test_targets_that_name_something(
    raw: str, segments: tuple[str, ...], folder: bool, query: dict[str, str]
) -> None:
    target = parse_target(raw)
    assert (target.segments, target.folder, target.query) == (segments, folder, query)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("/v2/secret/data/x", "must start with /v1/"),
        ("/v1/", "empty"),
        ("/v1/secret/data/a/../b", ". and .. segments"),
        ("/v1/secret/data/%2E%2e", ". and .. segments"),
        ("/v1/secret/data/a//b", "empty segment"),
        ("/v1/secret/data/a%2Fb", "encoded slash"),
        ("/v1/secret/data/a%5Cb", "encoded slash"),
        ("/v1/secret/data/a%00", "encoded slash, backslash or NUL"),
        ("/v1/secret/data/a%0a", "control character"),
        ("/v1/secret/data/a\\b", "backslash"),
        ("/v1/secret/data/a%ZZ", "malformed percent-escape"),
        ("/v1/secret/data/%ff", "not UTF-8"),
        ("/v1/secret/data/x?version=1&version=2", "given twice"),
        ("/v1/secret/data/x?" + "&".join(f"k{i}=v" for i in range(9)), "more than 8"),
        ("/v1/" + "a" * 3000, "longer than 2048 bytes"),
    ],
)
def test_targets_refused(raw: str, message: str) -> None:
    with pytest.raises(BadTarget, match=message):
        parse_target(raw)


def test_body_fields() -> None:
    assert bodies.json_object(b'{"data": {"a": [1, {"b": null}]}}') == {
        "data": {"a": [1, {"b": None}]}
    }
    assert bodies.json_object(b"  ", required=False) == {}
    assert bodies.cas_option({"options": {"cas": "3"}}) == 3
    assert bodies.cas_option({"options": {}}) is None
    assert bodies.versions({"versions": ["2", 1, "2"]}) == [1, 2]
    assert bodies.versions({"versions": "1,3"}) == [1, 3]
    assert bodies.versions({}, required=False) == []
    assert bodies.duration_field({"d": "1h30m"}, "d") == 5400
    assert bodies.duration_field({"d": 90}, "d") == 90
    assert bodies.duration_field({}, "d") is None
    assert bodies.optional_bool({"b": "true"}, "b") is True


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bodies.versions({"versions": [0]}), "start at 1"),
        (lambda: bodies.versions({"versions": ["x"]}), "versions: expected a whole number"),
        (lambda: bodies.versions({"versions": list(range(1, 1002))}), "at most 1000"),
        (lambda: bodies.whole_number("\u00b2", "version"), "version: expected"),
        (lambda: bodies.whole_number(True, "version"), "version: expected"),
        (lambda: bodies.duration_field({"d": "1d"}, "d"), "d: expected seconds"),
        (lambda: bodies.duration_field({"d": -1}, "d"), "d: must be from 0"),
        (lambda: bodies.custom_metadata({"a": 1}), "custom_metadata"),
        (lambda: bodies.optional_bool({"b": "yes"}, "b"), "b: expected true or false"),
    ],
)
def test_body_fields_refused(call: object, message: str) -> None:
    with pytest.raises(BadBody, match=message):
        call()  # type: ignore[operator]


def test_times_and_durations_as_clients_parse_them() -> None:
    assert rfc3339(0) == ""
    assert rfc3339(1796585730.730342) == "2026-12-06T19:35:30.730342Z"
    assert [go_duration(s) for s in (0, 45, 90, 3600, 5400)] == [
        "0s",
        "45s",
        "1m30s",
        "1h0m0s",
        "1h30m0s",
    ]
