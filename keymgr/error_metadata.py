"""Structured error metadata shared by the node and the SDK: what a caller must act on
travels as data, not as words in the status message.

A node that refuses a call for one of these reasons adds `ERROR_KEY` to the status's
trailing metadata; the SDK maps the value to its exception (`keymgr.client._exceptions`)
whatever the message says, so messages can be reworded freely:

    keymgr-error: outcome-unknown   UNAVAILABLE: a write may or may not have been applied
                                    (resend only with the same request id; never resend
                                    Init or RotateRoot, whose reply holds the shares)
    keymgr-error: unauthenticated   UNAUTHENTICATED: the caller's certificate names no
                                    keymgr identity the node accepts

Any other status carries no `ERROR_KEY`; its gRPC code says enough.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

ERROR_KEY: Final = "keymgr-error"
OUTCOME_UNKNOWN: Final = "outcome-unknown"
UNAUTHENTICATED: Final = "unauthenticated"
KINDS: Final = frozenset({OUTCOME_UNKNOWN, UNAUTHENTICATED})


def error_kind(trailers: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The `keymgr-error` value among `trailers`, if it is one of `KINDS`; else None
    (an unknown value from a newer node is ignored: the gRPC code still applies)."""
    for key, value in trailers or ():
        if key != ERROR_KEY:
            continue
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
        if text in KINDS:
            return text
    return None
