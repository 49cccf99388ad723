"""Files that hold secrets (cluster secret, HSM PIN) must be private to the service user."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO


def check_private_file(path: Path) -> str:
    """ "" if `path` is a regular file, mode 0600 or 0400, owned by this user; else why not.

    The owner is not checked when running as root (`keymgr config check` at boot reads
    the files the service user owns).
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        return f"cannot read {path} ({exc.strerror})"
    if not stat.S_ISREG(info.st_mode):
        return f"{path} is not a regular file"
    mode = stat.S_IMODE(info.st_mode)
    if mode not in (0o600, 0o400):
        return f"{path} must have mode 0600 or 0400, has {mode:04o}; run `chmod 600 {path}`"
    euid = os.geteuid()
    if euid != 0 and info.st_uid != euid:
        return f"{path} must be owned by the user running keymgr (uid {euid}), not {info.st_uid}"
    return ""


def owner_only_append(path: Path, *, truncate: bool = False) -> BinaryIO:
    """Opens `path` for appending (or rewriting), created 0600 whatever the umask: logs and
    pid files of a node say what it did and must not be world-readable."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_TRUNC if truncate else os.O_APPEND)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "wb")
