"""Disk faults for `keymgr drill chaos`: a torn journal tail, a corrupt dump, a full disk.

The journal is either keymgr's checksummed format (`keymgr.raft.journal_records`,
read with its own `scan`) or pysyncobj's legacy one (a 40-byte header whose bytes 36..40
hold the end offset of the last record, then records of
``<u32 length><u64 index><u64 term><command><u32 length>``). A torn tail is what a crash
in the middle of writing the last record leaves: the file ends inside that record.

Full disk: the node's data directory is a size-limited tmpfs mount (needs the right to
mount, i.e. root; `mount_tmpfs` says when it is not available) that is filled with a
filler file until ENOSPC and emptied again to heal.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import struct
import subprocess
from pathlib import Path

from keymgr.raft import journal_records as journal_records_format

HEADER_SIZE = 40  # pysyncobj.journal.FIRST_RECORD_OFFSET
LAST_RECORD_OFFSET_AT = 36  # pysyncobj.journal.LAST_RECORD_OFFSET_OFFSET
FILLER = "chaos-filler"
TMPFS_SIZE = "512m"


class DiskFaultSkipped(Exception):
    """The fault cannot be made now (no dump yet, an empty journal); the reason says why."""


def journal_records(data: bytes) -> list[tuple[int, int]]:
    """(start, end) offsets of every intact record of the journal, in either format."""
    if data.startswith(journal_records_format.MAGIC):
        found = journal_records_format.scan(data)
        return list(zip(found.offsets, [*found.offsets[1:], found.end], strict=True))
    return _legacy_records(data)


def _legacy_records(data: bytes) -> list[tuple[int, int]]:
    """pysyncobj's format: the header says where the last record ends."""
    if len(data) < HEADER_SIZE:
        raise DiskFaultSkipped("journal shorter than its header")
    (end,) = struct.unpack_from("<I", data, LAST_RECORD_OFFSET_AT)
    records = []
    offset = HEADER_SIZE
    while offset < end and offset + 4 <= len(data):
        (size,) = struct.unpack_from("<I", data, offset)
        records.append((offset, offset + size + 8))
        offset += size + 8
    return records


def tear_journal(path: Path, rng: random.Random) -> str:
    """Truncates the journal inside its last record; says where."""
    if not path.is_file():
        raise DiskFaultSkipped(f"no journal at {path}")
    records = journal_records(path.read_bytes())
    if not records:
        raise DiskFaultSkipped("the journal holds no record (all compacted into the dump)")
    start, end = records[-1]
    cut = rng.randint(start + 1, end - 1)
    with open(path, "r+b") as handle:
        handle.truncate(cut)
        os.fsync(handle.fileno())
    return (
        f"journal cut at byte {cut} inside its last record ({start}..{end}, {len(records)} records)"
    )


def corrupt_dump(path: Path, rng: random.Random, flips: int = 3) -> str:
    """Flips bytes at random offsets of the dump; says which."""
    if not path.is_file() or path.stat().st_size == 0:
        raise DiskFaultSkipped(f"no dump at {path} yet")
    data = bytearray(path.read_bytes())
    offsets = sorted(rng.sample(range(len(data)), min(flips, len(data))))
    for offset in offsets:
        data[offset] ^= 0xFF
    with open(path, "r+b") as handle:
        handle.write(data)
        os.fsync(handle.fileno())
    return f"dump bytes flipped at {offsets} of {len(data)}"


def mount_tmpfs(directory: Path, size: str = TMPFS_SIZE) -> str:
    """Mounts a size-limited tmpfs on `directory`; "" on success, else why not."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(directory)],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"mount failed: {exc}"
    return "" if done.returncode == 0 else f"mount failed: {done.stderr.strip()}"


def unmount(directory: Path) -> None:
    """Unmounts (lazily if busy); never raises."""
    for argv in (["umount", str(directory)], ["umount", "-l", str(directory)]):
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            if subprocess.run(argv, capture_output=True, timeout=10, check=False).returncode == 0:
                return


def fill(directory: Path, limit_bytes: int = 1 << 30) -> int:
    """Writes a filler file until the file system is full (ENOSPC); returns its size."""
    written = 0
    fd = os.open(directory / FILLER, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for chunk in (1 << 20, 4096, 1):
            block = b"\0" * chunk
            while written < limit_bytes:
                try:
                    written += os.write(fd, block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return written


def empty(directory: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (directory / FILLER).unlink()
