"""The backup file format: every malformed file is a SnapshotFileError with a reason."""

from __future__ import annotations

import json
import struct

import pytest

from keymgr.raft import snapshot_file
from keymgr.raft.snapshot_file import MAC_LEN, MAGIC, SnapshotFileError

ROOT = bytes(range(32))


def _with_header(header: object) -> bytes:
    raw = json.dumps(header).encode()
    return MAGIC + struct.pack(">I", len(raw)) + raw + b"state" + bytes(MAC_LEN)


def test_a_file_round_trips_and_verifies() -> None:
    data = snapshot_file.encode(b"state", ROOT, node="n1", applied_index=7, keys=1, created_ms=1)
    parsed = snapshot_file.parse(data)
    snapshot_file.verify(parsed, ROOT)
    assert parsed.state == b"state" and parsed.header["applied_index"] == 7


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"nonsense" * 8, "bad magic"),
        (_with_header([1, 2]), "not a JSON object"),
        (_with_header("text"), "not a JSON object"),
        (_with_header({"format": 99}), "unsupported snapshot format 99"),
    ],
)
def test_malformed_files_name_the_problem(data: bytes, reason: str) -> None:
    with pytest.raises(SnapshotFileError, match=reason):
        snapshot_file.parse(data)
