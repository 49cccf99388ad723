"""The backup file: a versioned header, the replicated state, and a keyed MAC.

Layout (all integers big-endian):

    magic     8 bytes  b"KMSNAP\\x00\\x01"
    hlen      4 bytes  length of the header
    header    JSON     {"format": 1, "created_ms", "node", "applied_index", "keys",
                        "state_len", "state_sha256"}
    state     bytes    the deterministic StoreState encoding (key material inside is
                       already barrier-encrypted; the root key is Shamir-wrapped)
    mac       32 bytes HMAC-SHA256 over everything before it, keyed with
                       HKDF-SHA256(root key, info "keymgr/snapshot-mac/v1")

The SHA-256 in the header catches corruption before anything else is looked at; the
MAC, which needs the root key (so the original unseal shares), catches deliberate
tampering and a file from another cluster. Nothing is trusted before both pass.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"KMSNAP\x00\x01"
FORMAT_VERSION = 1
MAC_LEN = 32
MAX_HEADER = 64 * 1024
_MAC_INFO = b"keymgr/snapshot-mac/v1"


class SnapshotFileError(ValueError):
    """The file is not a usable keymgr snapshot; the message says why, on one line."""


@dataclass(frozen=True)
class SnapshotFile:
    header: dict[str, object]
    state: bytes
    signed: bytes  # everything the MAC covers
    mac: bytes


def mac_key(root_key: bytes | bytearray) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_MAC_INFO)
    return hkdf.derive(bytes(root_key))


def encode(
    state: bytes,
    root_key: bytes | bytearray,
    *,
    node: str,
    applied_index: int,
    keys: int,
    created_ms: int,
) -> bytes:
    header = json.dumps(
        {
            "format": FORMAT_VERSION,
            "created_ms": created_ms,
            "node": node,
            "applied_index": applied_index,
            "keys": keys,
            "state_len": len(state),
            "state_sha256": hashlib.sha256(state).hexdigest(),
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    signed = MAGIC + struct.pack(">I", len(header)) + header + state
    return signed + hmac.new(mac_key(root_key), signed, hashlib.sha256).digest()


def parse(data: bytes) -> SnapshotFile:
    """Structure and checksum only (no key needed); raises SnapshotFileError."""
    if len(data) < len(MAGIC) + 4 + MAC_LEN or not data.startswith(MAGIC[:6]):
        raise SnapshotFileError("not a keymgr snapshot file (bad magic)")
    if data[: len(MAGIC)] != MAGIC:
        raise SnapshotFileError("unsupported snapshot format version")
    (hlen,) = struct.unpack(">I", data[8:12])
    if hlen > MAX_HEADER or 12 + hlen + MAC_LEN > len(data):
        raise SnapshotFileError("snapshot file is truncated or corrupt (header length)")
    try:
        header = json.loads(data[12 : 12 + hlen])
    except ValueError:
        raise SnapshotFileError("snapshot file is corrupt (header is not JSON)") from None
    if not isinstance(header, dict):
        raise SnapshotFileError("snapshot file is corrupt (header is not a JSON object)")
    if header.get("format") != FORMAT_VERSION:
        raise SnapshotFileError(f"unsupported snapshot format {header.get('format')!r}")
    state = data[12 + hlen : -MAC_LEN]
    if header.get("state_len") != len(state):
        raise SnapshotFileError("snapshot file is truncated or corrupt (state length)")
    if hashlib.sha256(state).hexdigest() != header.get("state_sha256"):
        raise SnapshotFileError("snapshot file is corrupt or was modified (checksum mismatch)")
    return SnapshotFile(header, state, data[:-MAC_LEN], data[-MAC_LEN:])


def verify(snapshot: SnapshotFile, root_key: bytes | bytearray) -> None:
    """Raises SnapshotFileError unless the MAC matches under this root key."""
    expected = hmac.new(mac_key(root_key), snapshot.signed, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, snapshot.mac):
        raise SnapshotFileError(
            "snapshot integrity check failed: the file was modified or is not from the "
            "cluster these shares belong to"
        )
