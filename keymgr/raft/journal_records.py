"""The Raft journal's on-disk record format: checksummed, so damage is found, not loaded.

    file   = MAGIC | record*
    record = body length (u32 BE) | CRC-32 of (length | body) (u32 BE) | body
    body   = index (u64 BE) | term (u64 BE) | command bytes

pysyncobj's own format has no checksum and a record-count pointer in its header: a cut
or a flipped bit either crashed the loader or was loaded and then failed on every tick.
Here `scan` returns the longest intact prefix of consecutive records and says where and
why it stopped, so the node can keep what is intact and fetch the rest from the leader
(see "Protocol-Aware Recovery for Consensus-Based Storage", FAST 2018).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"KMRJRNL1"
LEGACY_MAGIC = b"PYSYNCOBJ"  # pysyncobj's FileJournal header, converted once on open
_HEAD = struct.Struct(">II")
_BODY = struct.Struct(">QQ")
MAX_RECORD = 256 << 20  # a length above this is corruption, not a record

Entry = tuple[bytes, int, int]
"""A pysyncobj log entry: (encoded command, index, term)."""


def encode_record(command: bytes, index: int, term: int) -> bytes:
    body = _BODY.pack(index, term) + command
    length = struct.pack(">I", len(body))
    return length + struct.pack(">I", zlib.crc32(length + body)) + body


@dataclass(frozen=True)
class Scan:
    entries: list[Entry]
    offsets: list[int]  # file offset of each entry's record
    end: int  # offset just after the last intact record
    damage: str | None  # why the scan stopped before the end of the file, if it did


def scan(data: bytes) -> Scan:
    """Parse records from a whole journal file; stop at the first damaged one."""
    entries: list[Entry] = []
    offsets: list[int] = []
    pos = len(MAGIC)
    damage: str | None = None
    while pos < len(data):
        where = f"record {len(entries) + 1} at byte {pos}"
        if len(data) - pos < _HEAD.size:
            damage = f"torn {where}: {len(data) - pos} bytes of its header"
            break
        length, crc = _HEAD.unpack_from(data, pos)
        if length < _BODY.size or length > MAX_RECORD:
            damage = f"corrupt {where}: length {length}"
            break
        start = pos + _HEAD.size
        if start + length > len(data):
            damage = f"torn {where}: {len(data) - start} of {length} bytes"
            break
        body = data[start : start + length]
        if zlib.crc32(data[pos : pos + 4] + body) != crc:
            damage = f"corrupt {where}: checksum mismatch"
            break
        index, term = _BODY.unpack_from(body)
        if entries and (index != entries[-1][1] + 1 or term < entries[-1][2]):
            damage = f"corrupt {where}: index {index} term {term} does not follow"
            break
        entries.append((bytes(body[_BODY.size :]), index, term))
        offsets.append(pos)
        pos = start + length
    return Scan(entries, offsets, pos, damage)
