"""Durable, atomic file writes: the one place that knows the POSIX steps.

A crash (or a power cut, with fsync honoured) must leave either the old file or the new
one, never a torn one: write a temp file in the same directory, fsync it, rename it
over the target (or hard-link it, to refuse clobbering an existing file), then fsync the
directory so the rename itself survives. Every durable write of the project (Raft
term/vote and member files, sealed root key, PKI material, audit rotation) goes
through here.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def fsync_dir(directory: str | Path, *, ignore_errors: bool = False) -> None:
    """Makes a rename, creation or unlink in `directory` durable.

    `ignore_errors` is for best-effort callers on filesystems that cannot fsync a
    directory; durability-critical callers let the OSError propagate.
    """
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        if ignore_errors:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not ignore_errors:
            raise
    finally:
        os.close(fd)


def fsync_file(path: str | Path) -> None:
    """Flush one file's data and metadata to stable storage."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written (a write may be short)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def replace_file(
    path: str | Path,
    data: bytes,
    *,
    mode: int = 0o600,
    exclusive: bool = False,
    ignore_dir_fsync_errors: bool = False,
) -> None:
    """Atomically and durably makes `path` hold `data` with permissions `mode`.

    With `exclusive=True` the last step is a hard link, which fails with
    FileExistsError if `path` exists: an existing file is never clobbered, even by a
    concurrent writer.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        try:
            os.fchmod(fd, mode)  # the umask may have narrowed `mode`
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if exclusive:
            os.link(tmp, target)
        else:
            os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    fsync_dir(target.parent, ignore_errors=ignore_dir_fsync_errors)
