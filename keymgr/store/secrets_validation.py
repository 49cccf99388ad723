"""Rules for secrets' names, sizes and settings, shared by the servicer and the state
machine (which cannot trust the proposer). Each check returns the problem as one line
without the offending value's content beyond its length, or "" when there is none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MOUNT_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
SEGMENT_PATTERN = re.compile(r"[A-Za-z0-9_.@+=,-]{1,128}")
MAX_PATH_BYTES = 512
MAX_VALUE_BYTES = 512 * 1024  # the JSON object of one version
# an envelope adds 81 bytes to the value; a faulty proposer cannot bloat replicas beyond
MAX_CIPHERTEXT = MAX_VALUE_BYTES + 1024
MAX_CUSTOM_METADATA = 64
MAX_METADATA_KEY = 128
MAX_METADATA_VALUE = 512
DEFAULT_MAX_VERSIONS = 10
MAX_MAX_VERSIONS = 1000
MAX_DELETE_AFTER_S = 100 * 365 * 24 * 3600
MAX_VERSIONS_PER_CALL = 1000
MAX_TTL_S = 10 * 365 * 24 * 3600
MAX_DISPLAY_NAME = 256
ACCESSOR_PATTERN = re.compile(r"kma_[A-Za-z0-9_-]{24}")
TOKEN_PATTERN = re.compile(r"kmt_[A-Za-z0-9_-]{43}")
TOKEN_PRINCIPAL_PREFIX = "spiffe://keymgr/"
MAX_PRINCIPAL = 1024


def mount_problem(name: str) -> str:
    if not MOUNT_PATTERN.fullmatch(name):
        return "must be 1..64 of letters, digits, _ and -"
    return ""


def path_problem(path: str) -> str:
    """Why `path` is not a secret path (segments joined by "/"), or ""."""
    if not path:
        return "must not be empty"
    if len(path.encode("utf-8", "replace")) > MAX_PATH_BYTES:
        return f"must be at most {MAX_PATH_BYTES} bytes"
    if path.startswith("/") or path.endswith("/"):
        return "must not start or end with '/'"
    for segment in path.split("/"):
        if not segment:
            return "must not contain an empty segment ('//')"
        if segment in (".", ".."):
            return "must not contain a '.' or '..' segment"
        if not SEGMENT_PATTERN.fullmatch(segment):
            return "segments are 1..128 of letters, digits and _ . @ + = , -"
    return ""


def prefix_problem(prefix: str) -> str:
    """A list prefix: "" (the mount's root) or a path ending in "/"."""
    if prefix == "":
        return ""
    if not prefix.endswith("/"):
        return "must be empty or end with '/'"
    return path_problem(prefix[:-1])


def custom_metadata_problem(metadata: Mapping[str, str]) -> str:
    if len(metadata) > MAX_CUSTOM_METADATA:
        return f"at most {MAX_CUSTOM_METADATA} entries"
    for key, value in metadata.items():
        if not key or len(key.encode()) > MAX_METADATA_KEY:
            return f"keys must be 1..{MAX_METADATA_KEY} bytes"
        if len(value.encode()) > MAX_METADATA_VALUE:
            return f"values must be at most {MAX_METADATA_VALUE} bytes"
    return ""


def max_versions_problem(value: int) -> str:
    if value > MAX_MAX_VERSIONS:
        return f"must be at most {MAX_MAX_VERSIONS}"
    return ""


def delete_after_problem(value: int) -> str:
    if value > MAX_DELETE_AFTER_S:
        return f"must be at most {MAX_DELETE_AFTER_S} seconds"
    return ""


def versions_problem(versions: Iterable[int]) -> str:
    numbers = list(versions)
    if len(numbers) > MAX_VERSIONS_PER_CALL:
        return f"at most {MAX_VERSIONS_PER_CALL} versions per call"
    if any(n < 1 for n in numbers):
        return "versions start at 1"
    return ""


def principal_problem(principal: str) -> str:
    if not principal.startswith(TOKEN_PRINCIPAL_PREFIX) or len(principal) > MAX_PRINCIPAL:
        return "must be spiffe://keymgr/<kind>/<name>"
    return ""
