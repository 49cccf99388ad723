"""Key records as the store keeps them: each key is the bytes of its own snapshot entry.

A decoded protobuf `StoredKey` costs about 1.7 KB of memory; its encoding about 250
bytes. So the store keeps, per key, the exact bytes that stand for it in an encoded
`StoreState` (field `keys`, one map entry: tag, length, id, StoredKey), decodes a record
when it is read (upb parses one in well under a microsecond), and writes a snapshot by
concatenating records, with no per-key work in the Raft tick thread.

Snapshot layout (a valid `StoreState` encoding: protobuf parsers take fields in any
order and merge repeated fields): the other fields, deterministically encoded; then the
request window (field 5) oldest first; then every key record in the store's own order;
then other pre-encoded records (secret paths, field 18) in their owner's order.
That order is the order in which keys were first created by the log (a restore keeps
the snapshot's order), so equal logs give equal bytes on every node.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from keymgr.v1 import store_pb2

KEYS_FIELD = 4
REQUESTS_FIELD = 5
_LEN = 2  # wire type of length-delimited fields
_KEYS_TAG = bytes([KEYS_FIELD << 3 | _LEN])
_REQUESTS_TAG = bytes([REQUESTS_FIELD << 3 | _LEN])
_FIRST = b"\x0a"  # field 1, length-delimited (map key / request id)
_SECOND = b"\x12"  # field 2, length-delimited (map value / result)
RECORDS_PER_CHUNK = 4096


_ONE_BYTE = [bytes((i,)) for i in range(0x80)]


def varint(value: int) -> bytes:
    if value < 0x80:
        return _ONE_BYTE[value]
    if value < 0x4000:
        return bytes((value & 0x7F | 0x80, value >> 7))
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _pair(tag: bytes, first: bytes, second: bytes) -> bytes:
    """One length-delimited field holding a message with fields 1 and 2 (bytes/str)."""
    body = b"".join((_FIRST, varint(len(first)), first, _SECOND, varint(len(second)), second))
    return b"".join((tag, varint(len(body)), body))


def encode(stored: store_pb2.StoredKey) -> bytes:
    """The record of a key: its snapshot map entry, deterministically encoded."""
    return _pair(_KEYS_TAG, stored.key.id.encode(), stored.SerializeToString(deterministic=True))


def decode(record: bytes) -> store_pb2.StoredKey:
    """A fresh (mutable, unshared) StoredKey from a record made by `encode`."""
    _, pos = _read_varint(record, 1)  # entry length
    id_len, pos = _read_varint(record, pos + 1)
    _, pos = _read_varint(record, pos + id_len + 1)  # value length: the rest
    return store_pb2.StoredKey.FromString(record[pos:])


def read_entry(record: bytes) -> tuple[str, store_pb2.StoredKey, bytes]:
    """(id, key, record to keep) of a key record found in a snapshot, in whatever valid
    encoding it has: kept as it is if laid out as `encode` lays it out, else re-encoded."""
    end = len(record)
    length, pos = _read_varint(record, 1)
    if pos + length != end:
        raise ValueError("key record length does not match")
    if pos < end and record[pos] == _FIRST[0]:
        id_len, id_start = _read_varint(record, pos + 1)
        id_end = id_start + id_len
        if id_end < end and record[id_end] == _SECOND[0]:
            value_len, value_start = _read_varint(record, id_end + 1)
            if value_start + value_len == end:
                stored = store_pb2.StoredKey.FromString(record[value_start:])
                return record[id_start:id_end].decode(), stored, record
    entry = store_pb2.StoreState.KeysEntry.FromString(record[pos:])
    return entry.key, entry.value, encode(entry.value)


def request_record(request_id: str, result: bytes) -> bytes:
    """A `RequestRecord` (field 5) of the snapshot; `result` is an encoded CommandResult."""
    return _pair(_REQUESTS_TAG, request_id.encode(), result)


def split(snapshot: bytes) -> tuple[bytes, list[bytes]]:
    """(every field but `keys`, the key records in snapshot order); ValueError if the
    top level is not a protobuf encoding."""
    rest: list[bytes] = []
    records: list[bytes] = []
    pos, end = 0, len(snapshot)
    while pos < end:
        start = pos
        tag, pos = _read_varint(snapshot, pos)
        field, wire = tag >> 3, tag & 7
        if field == 0:
            raise ValueError("field number 0")
        if wire == _LEN:
            length, pos = _read_varint(snapshot, pos)
            pos += length
        elif wire == 0:
            _, pos = _read_varint(snapshot, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > end:
            raise ValueError("truncated field")
        if field == KEYS_FIELD and wire == _LEN:
            records.append(snapshot[start:pos])
        else:
            rest.append(snapshot[start:pos])
    return b"".join(rest), records


class FrozenState:
    """A consistent cut of the store, taken in O(keys) pointer copies: records and
    request results are immutable bytes, so encoding can happen in any thread later."""

    __slots__ = ("_extra", "_head", "_records", "_requests")

    def __init__(
        self,
        head: bytes,
        requests: Sequence[tuple[str, bytes]],
        records: Sequence[bytes],
        extra: Sequence[bytes] = (),
    ) -> None:
        self._head = head
        self._requests = requests
        self._records = records
        self._extra = extra  # other pre-encoded fields (secret records), written last

    @property
    def keys(self) -> int:
        return len(self._records)

    def chunks(self, per_chunk: int = RECORDS_PER_CHUNK) -> Iterator[bytes]:
        """The snapshot bytes in pieces of bounded size (each join holds the GIL briefly)."""
        yield self._head
        yield b"".join(request_record(rid, result) for rid, result in self._requests)
        records = self._records
        for start in range(0, len(records), per_chunk):
            yield b"".join(records[start : start + per_chunk])
        extra = self._extra
        for start in range(0, len(extra), per_chunk):
            yield b"".join(extra[start : start + per_chunk])

    def size(self, per_chunk: int = RECORDS_PER_CHUNK) -> int:
        """Length of `encode()`, without building it."""
        total = len(self._head)
        total += sum(len(request_record(rid, result)) for rid, result in self._requests)
        records = self._records
        for start in range(0, len(records), per_chunk):
            total += sum(map(len, records[start : start + per_chunk]))
        return total + sum(map(len, self._extra))

    def encode(self) -> bytes:
        return b"".join(self.chunks())
