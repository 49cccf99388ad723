"""Reads .tf files with python-hcl2 into plain values the invariant checks can walk.

python-hcl2 keeps HCL's quotes (`"\"tcp\""`) and wraps expressions as `${...}`; here
literal strings lose their quotes, expressions stay `${...}`, and block bookkeeping keys
are dropped, so `body["ip_protocol"] == "tcp"` and `body["from_port"] ==
"${var.raft_port}"`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {_unquote(k): _plain(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return _unquote(value)
    return value


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1].replace('\\"', '"')
    return text


def load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        result: dict[str, Any] = _plain(hcl2.load(handle))
    return result


def load_dir(directory: Path) -> dict[str, list[Any]]:
    """All top-level blocks of a module directory, merged by kind (resource, variable...)."""
    merged: dict[str, list[Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for kind, blocks in load(path).items():
            merged.setdefault(kind, []).extend(blocks)
    return merged


def resources(module: dict[str, list[Any]]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(type, name, body) of every resource block."""
    for block in module.get("resource", []):
        for rtype, named in block.items():
            for name, body in named.items():
                yield rtype, name, body


def variables(module: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for block in module.get("variable", []):
        found.update(block)
    return found


def blocks(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Nested blocks of one kind (python-hcl2 gives a list, or a dict for one)."""
    value = body.get(name, [])
    return value if isinstance(value, list) else [value]
