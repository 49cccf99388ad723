"""Several proposals in one Raft entry: one journal record, one AppendEntries per peer.

pysyncobj (without its 100 ms batching delay) sends every follower one AppendEntries per
command and each follower answers each one: with 64 writers that is 64 encrypted,
compressed, pickled messages per peer per direction where one would do. Proposals that
wait while the tick thread is busy are carried together: the entry is `BATCH | count |
(length | payload)*`; applying it applies each payload in order and returns `count |
(length | result)*` (a payload whose apply failed gives an empty slot and the node stops,
as for a single command), which the adapter splits back to each caller.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

BATCH = b"\x03"
MAX_BATCH_COMMANDS = 512
MAX_BATCH_BYTES = 4 << 20
_U32 = struct.Struct(">I")


class BatchError(ValueError):
    """A batch entry or result that does not decode: never produced by this code."""


def encode(parts: Sequence[bytes]) -> bytes:
    out = [_U32.pack(len(parts))]
    for part in parts:
        out.append(_U32.pack(len(part)))
        out.append(part)
    return b"".join(out)


def decode(data: bytes) -> list[bytes]:
    if len(data) < _U32.size:
        raise BatchError("batch too short")
    (count,) = _U32.unpack_from(data, 0)
    pos = _U32.size
    parts: list[bytes] = []
    for _ in range(count):
        if pos + _U32.size > len(data):
            raise BatchError("batch truncated")
        (length,) = _U32.unpack_from(data, pos)
        pos += _U32.size
        if pos + length > len(data):
            raise BatchError("batch truncated")
        parts.append(bytes(data[pos : pos + length]))
        pos += length
    if pos != len(data):
        raise BatchError("trailing bytes after a batch")
    return parts


def take(queue: Sequence[tuple[bytes, object]]) -> int:
    """How many queued proposals (from the front) fit in one entry (at least one)."""
    size = 0
    for count, (payload, _) in enumerate(queue[:MAX_BATCH_COMMANDS]):
        size += len(payload) + _U32.size
        if count and size > MAX_BATCH_BYTES:
            return count
    return min(len(queue), MAX_BATCH_COMMANDS)
