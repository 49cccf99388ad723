"""Secrets for tests that then look for them where they must not be (logs, errors,
repr): long and random, so that finding one means it leaked, never that a port number,
a PID or a timestamp happened to contain it (a PIN `4321` was "found" in port 24321)."""

from __future__ import annotations

import secrets

MIN_LENGTH = 24


def unmistakable(label: str) -> str:
    """`<label>-<32 random hex digits>`: appears nowhere by chance."""
    return f"{label}-{secrets.token_hex(16)}"
