"""Secret values: the JSON checks and RFC 7396 merge patch of keymgr/server/secret_values."""

from __future__ import annotations

import json
from typing import Any

import pytest

from keymgr.node_errors import InvalidArgument
from keymgr.server.secret_values import MAX_DEPTH, json_object, merge_patch, secret_context
from keymgr.store.secrets_validation import MAX_VALUE_BYTES, path_problem, prefix_problem


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{nope", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"a": NaN}', "not valid JSON"),
        (b'{"a": Infinity}', "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"[" * 100000 + b"]" * 100000, "not valid JSON"),
        (b'{"a": ' + b"[" * (MAX_DEPTH + 5) + b"]" * (MAX_DEPTH + 5) + b"}", "nested"),
        (b'{"a": "' + b"x" * MAX_VALUE_BYTES + b'"}', "bytes, more than"),
    ],
)
def test_bad_values_name_the_field_and_never_echo_the_value(body: bytes, problem: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        json_object("data", body)
    message = str(refused.value)
    assert message.startswith("data: ") and problem in message
    assert len(message) < 120


def test_a_json_object_is_accepted() -> None:
    assert json_object("data", b'{"a": {"b": [1, 2.5, null, true]}}') == {
        "a": {"b": [1, 2.5, None, True]}
    }


# RFC 7396, appendix A
@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_follows_rfc_7396(target: Any, patch: Any, result: Any) -> None:
    before = json.dumps(target)
    assert merge_patch(target, patch) == result
    assert json.dumps(target) == before  # the target is not changed


def test_the_context_binds_mount_path_and_version() -> None:
    assert secret_context("secret", "a/b", 3) == {
        "keymgr:secret-mount": "secret",
        "keymgr:secret-path": "a/b",
        "keymgr:secret-version": "3",
    }
    assert secret_context("secret", "a/b", 3) != secret_context("secret", "a/b", 4)


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/a",
        "a/",
        "a//b",
        "..",
        "a/../b",
        "./a",
        "a b",
        "a\nb",
        "%2e%2e",
        "x" * 129,
        "/".join(["a" * 100] * 6),
    ],
)
def test_bad_paths(path: str) -> None:
    assert path_problem(path)


@pytest.mark.parametrize("path", ["a", "apps/web", "a.b/c-d_e/f@g+h=i,j", "..a/b..", "x" * 128])
def test_good_paths(path: str) -> None:
    assert path_problem(path) == ""


def test_prefixes() -> None:
    assert prefix_problem("") == "" and prefix_problem("apps/") == ""
    assert prefix_problem("apps") and prefix_problem("../") and prefix_problem("a//")
