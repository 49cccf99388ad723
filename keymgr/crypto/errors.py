"""The errors of keymgr's cryptographic layer.

- `DecryptionFailed`: a ciphertext did not authenticate. One opaque class for every
  cause (wrong key, wrong tag, wrong associated data or encryption context, tampered
  bytes), so that neither a caller nor an attacker learns which check failed.
- `MalformedCiphertext`: the input cannot even be parsed (too short, unknown format
  version). It is a `ValueError` because it is a caller's mistake, and it names what
  is wrong, never the input's bytes.
- `InvalidShare`: an operator's unseal share is malformed or does not belong to the
  cluster; the reason never echoes the share.

Caller mistakes that are not about input data (a key of the wrong length, a bad
threshold) raise plain `ValueError`/`TypeError`.
"""

from __future__ import annotations

__all__ = ["DecryptionFailed", "InvalidShare", "MalformedCiphertext"]


class DecryptionFailed(Exception):
    """A ciphertext did not authenticate; deliberately does not say why."""

    def __init__(self, message: str = "decryption failed") -> None:
        super().__init__(message)


class MalformedCiphertext(ValueError):
    """Input that cannot be parsed as a ciphertext; the message names the defect only."""


class InvalidShare(ValueError):
    """An unseal share that is malformed or not one of this cluster's shares."""
