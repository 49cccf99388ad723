"""Raft-index metadata shared by the node and the SDK: read-your-writes without protos.

A node answers every write with the Raft index it was applied at (`INDEX_KEY`, trailing
metadata). The SDK sends the highest index it has seen on each call (`MIN_INDEX_KEY`);
a node that has applied less waits briefly, then refuses so the SDK tries another node.
Metadata rather than proto fields: every RPC of every service gets it, unchanged.
"""

from __future__ import annotations

from typing import Final

INDEX_KEY: Final = "keymgr-index"
MIN_INDEX_KEY: Final = "keymgr-min-index"
MAX_INDEX: Final = 2**63 - 1


def parse_index(value: str | bytes) -> int:
    """A Raft index from metadata: decimal digits, 0..2**63-1; ValueError otherwise."""
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise ValueError("expected a non-negative decimal integer")
    index = int(text)
    if index > MAX_INDEX:
        raise ValueError(f"must be at most {MAX_INDEX}")
    return index
