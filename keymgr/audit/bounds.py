"""Caps on what one request can put in its audit line (issue 12, finding 3).

A caller chooses some of what its line holds: the request id, the encryption context
(its key names in the clear, one HMAC per value), and whatever of its input an error
message repeats. Each is cut before it is written, so a line's size does not follow the
request's size:

- a text field (request id, principal, key id, one context key name) is kept if its JSON
  form is at most `MAX_TEXT_BYTES`; a longer one becomes its first `CUT_KEEP_CHARS`
  characters, its length in UTF-8 bytes and the start of its SHA-256, e.g.
  `rrrrrrrrrrrrrrrr...[cut 1000000 bytes sha256:3f2a9c0e1b7d4a55]`: the original is not
  kept, but whoever has it (the client's log) can show it is the one;
- `detail` (the error message) is at most `MAX_DETAIL_BYTES`;
- a context of more than `MAX_CONTEXT_ENTRIES` entries (the API's own limit, so only a
  request that is refused anyway has one), or one that would take the line past its
  budget, is written as one entry `CONTEXT_CUT_KEY`: how many entries, how many bytes,
  and an HMAC (audit key) of all of them, so equal contexts still correlate and values
  are still not revealed;
- the line as a whole has a budget: `REFUSED_LINE_BYTES` unless the result is OK,
  `LINE_BYTES` otherwise (what a caller with a grant for the call can reach with valid
  fields). Past it the context is summarized as above, and if that is not enough the
  text fields longer than `CUT_MIN_BYTES` are cut to their digest form and the detail
  to `MIN_DETAIL_BYTES`.

A caller without a grant therefore gets at most `REFUSED_LINE_BYTES` of audit per
request, whatever it sends (`tests/unit/test_audit_bounds.py`,
`tests/integration/test_audit.py::test_refused_requests_write_bounded_lines`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Final

MAX_TEXT_BYTES: Final = 128  # as validation.MAX_REQUEST_ID: a valid request id is never cut
CUT_KEEP_CHARS: Final = 16
CUT_MIN_BYTES: Final = 64  # a shorter value is not cut to fit a line: its digest form is longer
DIGEST_HEX: Final = 16
MAX_DETAIL_BYTES: Final = 200
MIN_DETAIL_BYTES: Final = 64
MAX_CONTEXT_ENTRIES: Final = 64  # as validation.MAX_CONTEXT_ENTRIES
CONTEXT_CUT_KEY: Final = "<cut>"
LINE_BYTES: Final = 16 * 1024
REFUSED_LINE_BYTES: Final = 1024

# JSON-encodes as itself: printable ASCII but the quote and the backslash
_PLAIN = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
_encode = json.JSONEncoder(ensure_ascii=False).encode


def json_size(text: str) -> int:
    """Bytes `text` takes inside a line (UTF-8, escaped, without the quotes)."""
    if _PLAIN.fullmatch(text):
        return len(text)
    return len(_encode(text).encode("utf-8", "surrogatepass")) - 2


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_HEX]


def cut(text: str) -> str:
    """The digest form: start, UTF-8 length and SHA-256 prefix of `text`."""
    size = len(text.encode("utf-8", "surrogatepass"))
    return f"{text[:CUT_KEEP_CHARS]}...[cut {size} bytes sha256:{digest(text)}]"


def bounded(text: str, limit: int = MAX_TEXT_BYTES) -> str:
    """`text` if it takes at most `limit` bytes in the line, else its digest form."""
    if len(text) <= limit and (_PLAIN.fullmatch(text) or json_size(text) <= limit):
        return text
    return cut(text)


def bounded_or_none(text: str | None, limit: int = MAX_TEXT_BYTES) -> str | None:
    return bounded(text, limit) if text else None


def short(text: str, limit: int = MAX_DETAIL_BYTES) -> str:
    """One line of at most `limit` bytes in the line: whitespace runs become one space,
    and a longer text ends in "..."."""
    text = " ".join(text[: 64 * limit].split())
    if json_size(text) <= limit:
        return text
    room, size = limit - 3, 0
    for end, char in enumerate(text):
        size += json_size(char)
        if size > room:
            return text[:end] + "..."
    return text  # pragma: no cover (json_size(text) > limit means the loop returns)


def context_summary(
    context: Mapping[str, str], mac: Callable[[bytes], str] | None
) -> dict[str, str]:
    """One entry standing for the whole context: count, bytes, and (unsealed) an HMAC."""
    body = json.dumps(dict(context), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    raw = body.encode("utf-8", "surrogatepass")
    text = f"{len(context)} entries, {len(raw)} bytes"
    if mac is not None:
        text += f", hmac:{mac(raw)[:DIGEST_HEX]}"
    return {CONTEXT_CUT_KEY: text}


def line_budget(result: str) -> int:
    """The most bytes one line may take: small unless the request succeeded."""
    return LINE_BYTES if result == "OK" else REFUSED_LINE_BYTES


def batch_entries(entries: list[str], failed_budget: int = REFUSED_LINE_BYTES // 2) -> list[str]:
    """A batch line's item list: every item that succeeded is named (a caller with a
    grant, at most 1,000 items), failed items up to `failed_budget` bytes; the rest of
    the failures become one entry with their count and a digest of all of them. So a
    caller without any grant stays within `REFUSED_LINE_BYTES` per batch, as per call."""
    kept: list[str] = []
    cut: list[str] = []
    spent = 0
    for entry in entries:
        if entry.split(":", 2)[-1].split("*", 1)[0] == "OK":
            kept.append(entry)
            continue
        size = json_size(entry) + 1
        if not cut and spent + size <= failed_budget:
            kept.append(entry)
            spent += size
        else:
            cut.append(entry)
    if cut:
        items = sum(int(e.rsplit("*", 1)[1]) if "*" in e else 1 for e in cut)
        kept.append(f"{CONTEXT_CUT_KEY}:{items} failed items sha256:{digest(','.join(cut))}")
    return kept
