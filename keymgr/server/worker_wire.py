"""The frames a node's Raft process and its worker processes exchange over a private
unix socket: the applied Raft stream, status, the root key, proposals and outcomes.

Nothing here is unpickled or evaluated: a frame is a length, a kind byte and a body of
fixed fields, raw bytes or JSON of plain values. The socket lives in the node's 0700
data directory and is 0600 (the same user that holds the root key in memory).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from keymgr.raft.node import (
    NoLeader,
    PeerStatus,
    ProposalRejected,
    ProposalTimeout,
    RaftError,
    RaftStatus,
)

MAX_FRAME = 512 * 1024 * 1024  # a whole store snapshot travels in one frame
_HEAD = struct.Struct(">IB")
_INDEX = struct.Struct(">Q")
_REQUEST = struct.Struct(">QQ")  # request id, Raft index


class Kind(IntEnum):
    # Raft process -> worker
    RESET = 1  # index, store snapshot: replace the replica
    ENTRY = 2  # index, Raft payload as the state machine saw it
    STATUS = 3  # JSON RaftStatus
    ROOT = 4  # generation, root key: unseal
    SEALED = 5  # reason: seal
    OUTCOME = 6  # request id, index, JSON {error...} + result bytes
    # worker -> Raft process
    PROPOSE = 10  # request id, command
    BARRIER = 11  # request id


@dataclass(frozen=True)
class Frame:
    kind: Kind
    body: bytes


class WireError(Exception):
    """A malformed frame: the connection is dropped (the peer is restarted)."""


def encode(kind: Kind, body: bytes) -> bytes:
    return _HEAD.pack(len(body) + 1, kind) + body


async def read_frame(reader: asyncio.StreamReader) -> Frame:
    """The next frame; IncompleteReadError at a clean end, WireError when malformed."""
    head = await reader.readexactly(_HEAD.size)
    size, kind = _HEAD.unpack(head)
    if size < 1 or size > MAX_FRAME:
        raise WireError(f"frame of {size} bytes")
    try:
        parsed = Kind(kind)
    except ValueError:
        raise WireError(f"unknown frame kind {kind}") from None
    return Frame(parsed, await reader.readexactly(size - 1))


def indexed(index: int, data: bytes) -> bytes:
    return _INDEX.pack(index) + data


def split_indexed(body: bytes) -> tuple[int, bytes]:
    if len(body) < _INDEX.size:
        raise WireError("short indexed frame")
    return _INDEX.unpack_from(body)[0], body[_INDEX.size :]


def request(request_id: int, data: bytes = b"") -> bytes:
    return _INDEX.pack(request_id) + data


def split_request(body: bytes) -> tuple[int, bytes]:
    return split_indexed(body)


# -- outcomes of proposals -----------------------------------------------------------

_ERRORS: dict[str, type[RaftError]] = {
    "NoLeader": NoLeader,
    "ProposalTimeout": ProposalTimeout,
    "ProposalRejected": ProposalRejected,
    "RaftError": RaftError,
}


def outcome(request_id: int, index: int, result: bytes | None, error: RaftError | None) -> bytes:
    meta: dict[str, Any] = {}
    if error is not None:
        name = type(error).__name__
        meta = {
            "error": name if name in _ERRORS else "RaftError",
            "message": str(error),
            "outcome_unknown": error.outcome_unknown,
        }
    head = json.dumps(meta).encode()
    return _REQUEST.pack(request_id, index) + struct.pack(">I", len(head)) + head + (result or b"")


def split_outcome(body: bytes) -> tuple[int, int, bytes, RaftError | None]:
    """(request id, index, result, error) of an OUTCOME frame."""
    try:
        request_id, index = _REQUEST.unpack_from(body)
        (size,) = struct.unpack_from(">I", body, _REQUEST.size)
        start = _REQUEST.size + 4
        meta = json.loads(body[start : start + size])
        result = body[start + size :]
    except (struct.error, ValueError) as exc:
        raise WireError(f"malformed outcome: {exc}") from None
    if not meta:
        return request_id, index, result, None
    error_type = _ERRORS.get(str(meta.get("error")), RaftError)
    unknown = bool(meta.get("outcome_unknown"))
    error = error_type(str(meta.get("message", "")), outcome_unknown=unknown)
    return request_id, index, result, error


# -- status --------------------------------------------------------------------------


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def status_body(status: RaftStatus) -> bytes:
    raw = dataclasses.asdict(status)
    raw["seconds_since_leader_contact"] = _finite(status.seconds_since_leader_contact)
    raw["seconds_since_caught_up"] = _finite(status.seconds_since_caught_up)
    return json.dumps(raw).encode()


def parse_status(body: bytes) -> RaftStatus:
    try:
        raw = json.loads(body)
        raw["peers"] = {a: PeerStatus(**p) for a, p in raw.get("peers", {}).items()}
        for name in ("seconds_since_leader_contact", "seconds_since_caught_up"):
            if raw.get(name) is None:
                raw[name] = math.inf
        return RaftStatus(**raw)
    except (TypeError, ValueError, AttributeError) as exc:
        raise WireError(f"malformed status: {exc}") from None


def root_body(generation: int, root: bytes) -> bytes:
    return indexed(generation, root)
