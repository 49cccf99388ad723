"""Shamir secret sharing over GF(2^8), for the operators' unseal shares.

Each byte of the secret is the constant term of its own random polynomial of degree
threshold - 1 over GF(2^8) (AES polynomial x^8 + x^4 + x^3 + x + 1, 0x11B); share x
holds the polynomials' values at x (x = 1..n). Any `threshold` shares determine the
polynomials by Lagrange interpolation; fewer reveal nothing about the secret.

Caveats Python imposes: the field arithmetic uses lookup tables and Python integers,
so it is not constant time (the shares are only combined on a node, from operators'
input, not in response to remote queries); and `Share.y` is `bytes`, which cannot be
wiped. Internal buffers (coefficients, combined secrets) are bytearrays and are wiped.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from keymgr.crypto.aead import BytesLike, wipe
from keymgr.crypto.errors import InvalidShare

__all__ = [
    "MAX_SHARES",
    "SHARE_PREFIX",
    "Share",
    "combine",
    "combine_points",
    "decode_share",
    "encode_share",
    "parse_share",
    "share_digest",
    "share_digest_of",
    "split",
]

MAX_SHARES = 255
SHARE_PREFIX = "km1-"
_DIGEST_DOMAIN = b"keymgr-share-v1"


def _tables() -> tuple[list[int], list[int]]:
    """exp/log tables of GF(2^8) mod 0x11B, with generator 0x03."""
    exp = [0] * 510
    log = [0] * 256
    value = 1
    for power in range(255):
        exp[power] = value
        log[value] = power
        # value *= 3, i.e. value ^ (value * 2), reduced by the AES polynomial.
        doubled = value << 1
        if doubled & 0x100:
            doubled ^= 0x11B
        value ^= doubled
    for power in range(255, 510):  # so exp[log a + log b] needs no modulo
        exp[power] = exp[power - 255]
    return exp, log


_EXP, _LOG = _tables()


def _mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def _div(a: int, b: int) -> int:
    if b == 0:
        raise ZeroDivisionError("division by zero in GF(2^8)")
    if a == 0:
        return 0
    return _EXP[_LOG[a] + 255 - _LOG[b]]


@dataclass(frozen=True, slots=True)
class Share:
    """One share: the evaluation point x (1..255) and the values y (one per byte)."""

    x: int
    y: bytes

    def __repr__(self) -> str:
        return f"Share(x={self.x}, y=<{len(self.y)} bytes>)"


def split(secret: BytesLike, shares: int, threshold: int) -> list[Share]:
    """Splits `secret` into `shares` shares, any `threshold` of which recover it."""
    if not 1 <= threshold <= shares <= MAX_SHARES:
        raise ValueError(
            f"need 1 <= threshold <= shares <= {MAX_SHARES}, "
            f"got threshold={threshold}, shares={shares}"
        )
    if len(secret) == 0:
        raise ValueError("cannot split an empty secret")
    size = len(secret)
    # coefficients[d * size + i]: coefficient of x^d for byte i; degree 0 is the secret.
    coefficients = bytearray(secret)
    coefficients += secrets.token_bytes(size * (threshold - 1))
    try:
        result = []
        for x in range(1, shares + 1):
            y = bytearray(size)
            log_x = _LOG[x]
            for i in range(size):
                # Horner's rule from the highest degree down.
                acc = 0
                for d in range(threshold - 1, -1, -1):
                    acc = (_EXP[_LOG[acc] + log_x] if acc else 0) ^ coefficients[d * size + i]
                y[i] = acc
            result.append(Share(x, bytes(y)))
            y[:] = bytes(size)
        return result
    finally:
        wipe(coefficients)


def combine_points(points: Sequence[tuple[int, BytesLike]]) -> bytearray:
    """`combine` on raw (x, y) points, into a bytearray the caller wipes.

    For callers that hold share values in wipeable buffers (the unseal collector).
    """
    if not points:
        raise InvalidShare("no shares to combine")
    size = len(points[0][1])
    seen: set[int] = set()
    for x, y in points:
        if isinstance(x, bool) or not isinstance(x, int) or not 1 <= x <= MAX_SHARES:
            raise InvalidShare(f"share index must be between 1 and {MAX_SHARES}")
        if x in seen:
            raise InvalidShare(f"share {x} was given more than once")
        seen.add(x)
        if len(y) != size:
            raise InvalidShare("shares have different lengths")
    if size == 0:
        raise InvalidShare("share value is empty")
    # Lagrange basis at 0: l_i = prod_{j != i} x_j / (x_j - x_i); minus is xor here.
    basis = []
    for x_i, _ in points:
        numerator, denominator = 1, 1
        for x_j, _ in points:
            if x_j != x_i:
                numerator = _mul(numerator, x_j)
                denominator = _mul(denominator, x_j ^ x_i)
        basis.append(_div(numerator, denominator))
    secret = bytearray(size)
    for weight, (_, y) in zip(basis, points, strict=True):
        log_w = _LOG[weight]
        for i in range(size):
            value = y[i]
            if value:
                secret[i] ^= _EXP[_LOG[value] + log_w]
    return secret


def combine(shares: Sequence[Share]) -> bytes:
    """Recovers the secret from at least `threshold` distinct shares.

    Shares are not self-authenticating: fewer than `threshold` shares, or shares from
    another split, give a wrong secret rather than an error (the caller authenticates
    the result, e.g. by unwrapping with it). Raises InvalidShare for no shares,
    duplicate x, or mismatched lengths.
    """
    secret = combine_points([(share.x, share.y) for share in shares])
    try:
        return bytes(secret)
    finally:
        wipe(secret)


def encode_share(share: Share) -> str:
    """The operator-facing text form: km1-<x>-<hex y>."""
    if not 1 <= share.x <= MAX_SHARES or not share.y:
        raise ValueError("not a valid share")
    return f"{SHARE_PREFIX}{share.x}-{share.y.hex()}"


def parse_share(text: str) -> tuple[int, bytearray]:
    """`decode_share` into (x, y) with y a bytearray the caller wipes.

    Reasons never echo the input: a share is a secret even when it is mistyped.
    """
    if not isinstance(text, str):
        raise InvalidShare("share must be text")
    text = text.strip().lower()
    if not text.startswith(SHARE_PREFIX):
        raise InvalidShare(f"share must start with {SHARE_PREFIX!r}")
    x_text, dash, y_text = text[len(SHARE_PREFIX) :].partition("-")
    if not dash:
        raise InvalidShare("share must have the form km1-<index>-<hex>")
    if not (x_text.isascii() and x_text.isdigit() and len(x_text) <= 3):
        raise InvalidShare(f"share index must be a number between 1 and {MAX_SHARES}")
    x = int(x_text)
    if not 1 <= x <= MAX_SHARES:
        raise InvalidShare(f"share index must be a number between 1 and {MAX_SHARES}")
    if not y_text:
        raise InvalidShare("share value is empty")
    if not y_text.isascii() or len(y_text) % 2:
        raise InvalidShare("share value is not an even number of hexadecimal digits")
    try:
        y = bytearray.fromhex(y_text)
    except ValueError:
        raise InvalidShare("share value is not hexadecimal") from None
    if len(y) * 2 != len(y_text):  # fromhex skips whitespace between pairs
        wipe(y)
        raise InvalidShare("share value is not hexadecimal")
    return x, y


def decode_share(text: str) -> Share:
    """Inverse of `encode_share`; InvalidShare with a one-line reason for bad text."""
    x, y = parse_share(text)
    try:
        return Share(x, bytes(y))
    finally:
        wipe(y)


def share_digest(share: Share) -> bytes:
    """SHA-256 over a domain prefix, x and y: lets a node recognise a share of its own."""
    return share_digest_of(share.x, share.y)


def share_digest_of(x: int, y: BytesLike) -> bytes:
    """`share_digest` of a raw (x, y) point."""
    return hashlib.sha256(b"".join((_DIGEST_DOMAIN, bytes((x,)), y))).digest()
