"""Reading audit files: their rotated siblings and their last lines, without loading them."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

_BLOCK = 64 * 1024


def rotated(path: Path, index: int) -> Path:
    """`audit.log` -> `audit.log.<index>` (1 is the newest rotated file)."""
    return path.with_name(f"{path.name}.{index}")


def rotation_sets(paths: Sequence[Path]) -> list[list[Path]]:
    """The files grouped by rotation set (`audit.log*` apart from `audit-worker1.log*`),
    each oldest first, sets in the order the user named them."""
    groups: dict[str, list[Path]] = {}
    for path in paths:
        match = re.fullmatch(r"(.*)\.([0-9]+)", str(path))
        groups.setdefault(match.group(1) if match else str(path), []).append(path)
    return [chain_order(group) for group in groups.values()]


def chain_order(paths: Sequence[Path]) -> list[Path]:
    """Oldest first: `audit.log.3, audit.log.2, audit.log.1, audit.log`.

    Files of one rotation set are ordered by their suffix wherever they were named;
    different sets keep the order the user gave.
    """
    groups: dict[str, list[tuple[int, Path]]] = {}
    for path in paths:
        match = re.fullmatch(r"(.*)\.([0-9]+)", str(path))
        base, index = (match.group(1), int(match.group(2))) if match else (str(path), 0)
        groups.setdefault(base, []).append((index, path))
    ordered: list[Path] = []
    for members in groups.values():
        ordered.extend(p for _, p in sorted(members, key=lambda item: -item[0]))
    return ordered


def last_lines(path: Path, count: int) -> tuple[list[bytes], bool]:
    """The last `count` lines (without newlines) and whether the file ends with one.

    Reads backwards in blocks, so a 100 MiB file costs a few reads. A missing or empty
    file has no lines.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return [], True  # nothing to resume; writing will fail (and say why) if it must
    try:
        size = os.fstat(fd).st_size
        if size == 0 or count <= 0:
            return [], True
        end = size
        data = b""
        while end > 0 and data.count(b"\n") <= count:
            start = max(0, end - _BLOCK)
            data = os.pread(fd, end - start, start) + data
            end = start
    finally:
        os.close(fd)
    ends_with_newline = data.endswith(b"\n")
    lines = data.split(b"\n")
    if ends_with_newline:
        lines.pop()
    if end > 0:
        lines = lines[1:]  # the first piece may be a partial line
    return lines[-count:], ends_with_newline


def count_lines(path: Path) -> int:
    """Number of lines (a final line without newline counts)."""
    total = 0
    last = b"\n"
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            total += block.count(b"\n")
            last = block[-1:]
    return total + (last != b"\n")
