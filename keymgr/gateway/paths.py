"""The request target, checked before anything else is done with it.

Everything the gateway serves is under `/v1/`. The path is split on `/` *before* any
percent-decoding, so an encoded slash (`%2F`) can never make a new segment; it, an
encoded NUL or backslash, any control character, an empty segment (`//`), a `.` or `..`
segment (also when spelled `%2e%2e`) and a target longer than `MAX_TARGET_BYTES` are
refused with 400 before any handler runs. A trailing `/` is kept as a flag (a folder to
list). The secrets engine's own path rules (`keymgr.store.secrets_validation`) are
applied next, by `kv2`, and again by the cluster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

MAX_TARGET_BYTES = 2048  # a secret path is at most 512 bytes; room for mount, op, query
MAX_QUERY_PARAMS = 8

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_FORBIDDEN_ESCAPES = re.compile(r"%(2f|5c|00)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BadTarget(Exception):
    """The target cannot name anything; the message says why (no secret in it)."""


@dataclass(frozen=True)
class Target:
    segments: tuple[str, ...]  # decoded, after /v1/
    folder: bool  # ended with "/"
    query: dict[str, str]

    def rest(self, start: int) -> str:
        """The segments from `start` joined again (a secret path or list prefix)."""
        return "/".join(self.segments[start:])


def parse_target(raw: str) -> Target:
    if len(raw.encode("latin-1", "replace")) > MAX_TARGET_BYTES:
        raise BadTarget(f"path: longer than {MAX_TARGET_BYTES} bytes")
    path, _, query_text = raw.partition("?")
    path = path.partition("#")[0]
    if not path.startswith("/v1/"):
        raise BadTarget("path: must start with /v1/")
    body = path[len("/v1/") :]
    folder = body.endswith("/")
    if folder:
        body = body[:-1]
    if not body:
        raise BadTarget("path: empty")
    segments = tuple(_segment(part) for part in body.split("/"))
    return Target(segments=segments, folder=folder, query=_query(query_text))


def _segment(raw: str) -> str:
    if not raw:
        raise BadTarget("path: empty segment (//)")
    if _BAD_ESCAPE.search(raw):
        raise BadTarget("path: malformed percent-escape")
    if _FORBIDDEN_ESCAPES.search(raw):
        raise BadTarget("path: encoded slash, backslash or NUL")
    try:
        text = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise BadTarget("path: not UTF-8") from None
    if _CONTROL.search(text) or "\\" in text:
        raise BadTarget("path: control character or backslash")
    if text in (".", ".."):
        raise BadTarget("path: . and .. segments are not allowed")
    return text


def _query(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    if not text:
        return found
    pairs = text.split("&")
    if len(pairs) > MAX_QUERY_PARAMS:
        raise BadTarget(f"query: more than {MAX_QUERY_PARAMS} parameters")
    for pair in pairs:
        if not pair:
            continue
        name, _, value = pair.partition("=")
        try:
            name = unquote(name.replace("+", " "), errors="strict")
            value = unquote(value.replace("+", " "), errors="strict")
        except UnicodeDecodeError:
            raise BadTarget("query: not UTF-8") from None
        if name in found:
            raise BadTarget(f"query: {name[:32]} given twice")
        if _CONTROL.search(name + value):
            raise BadTarget("query: control character")
        found[name] = value
    return found
