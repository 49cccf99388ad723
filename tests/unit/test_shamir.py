"""Shamir sharing over GF(2^8): field arithmetic, reconstruction, and the share text form."""

from __future__ import annotations

import hashlib
import itertools
import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keymgr.crypto import shamir
from keymgr.crypto.errors import InvalidShare
from keymgr.crypto.shamir import Share, combine, decode_share, encode_share, share_digest, split

# --- field -------------------------------------------------------------------------


def _slow_mul(a: int, b: int) -> int:
    """Reference multiplication: shift-and-add, reduced by the AES polynomial 0x11B."""
    product = 0
    while b:
        if b & 1:
            product ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11B
        b >>= 1
    return product


def test_field_known_answers_from_fips_197() -> None:
    # FIPS-197 section 4.2: {57} • {83} = {c1}, {57} • {13} = {fe}.
    assert shamir._mul(0x57, 0x83) == 0xC1
    assert shamir._mul(0x57, 0x13) == 0xFE


def test_field_multiplication_matches_reference() -> None:
    for a in range(256):
        for b in range(256):
            assert shamir._mul(a, b) == _slow_mul(a, b)


def test_field_division_inverts_multiplication() -> None:
    for a in range(256):
        for b in range(1, 256):
            assert shamir._div(shamir._mul(a, b), b) == a
    with pytest.raises(ZeroDivisionError):
        shamir._div(1, 0)


def test_combine_known_answer() -> None:
    # f(x) = 0x42 + 0x57·x: f(1) = 0x15, f(2) = 0x42 ^ {57}•{02} = 0xec, f(3) = 0xbb.
    assert combine([Share(1, b"\x15"), Share(2, b"\xec")]) == b"\x42"
    assert combine([Share(3, b"\xbb"), Share(1, b"\x15")]) == b"\x42"
    assert combine([Share(2, b"\xec"), Share(3, b"\xbb")]) == b"\x42"


# --- split / combine ---------------------------------------------------------------


@settings(max_examples=60)
@given(
    secret=st.binary(min_size=1, max_size=48),
    shape=st.integers(1, 8).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n))),
    seed=st.integers(0, 2**32),
)
def test_any_threshold_subset_reconstructs(
    secret: bytes, shape: tuple[int, int], seed: int
) -> None:
    shares_count, threshold = shape
    shares = split(secret, shares_count, threshold)
    assert [s.x for s in shares] == list(range(1, shares_count + 1))
    assert all(len(s.y) == len(secret) for s in shares)
    rng = random.Random(seed)
    size = rng.randint(threshold, shares_count)
    subset = rng.sample(shares, size)
    assert combine(subset) == secret


def test_every_subset_of_a_small_split_reconstructs() -> None:
    secret = os.urandom(32)
    shares = split(secret, 5, 3)
    for size in (3, 4, 5):
        for subset in itertools.combinations(shares, size):
            assert combine(subset) == secret
            assert combine(list(reversed(subset))) == secret


@settings(max_examples=60)
@given(
    secret=st.binary(min_size=16, max_size=48),
    shape=st.integers(2, 8).flatmap(lambda n: st.tuples(st.just(n), st.integers(2, n))),
    seed=st.integers(0, 2**32),
)
def test_fewer_than_threshold_gives_a_different_secret(
    secret: bytes, shape: tuple[int, int], seed: int
) -> None:
    # With 16+ random bytes a false match has probability <= 2**-128.
    shares_count, threshold = shape
    shares = split(secret, shares_count, threshold)
    subset = random.Random(seed).sample(shares, random.Random(seed).randint(1, threshold - 1))
    assert combine(subset) != secret


def test_threshold_one_every_share_is_the_secret() -> None:
    secret = os.urandom(32)
    shares = split(secret, 4, 1)
    for share in shares:
        assert share.y == secret
        assert combine([share]) == secret


def test_split_is_randomised() -> None:
    secret = os.urandom(32)
    assert split(secret, 3, 2) != split(secret, 3, 2)


def test_shares_do_not_contain_the_secret() -> None:
    secret = os.urandom(32)
    for share in split(secret, 5, 3):
        assert secret not in share.y


def test_255_shares() -> None:
    secret = os.urandom(32)
    shares = split(secret, 255, 255)
    assert [s.x for s in shares] == list(range(1, 256))
    assert combine(shares) == secret
    assert combine(shares[:254]) != secret
    few = split(secret, 255, 3)
    assert combine([few[0], few[127], few[254]]) == secret


@pytest.mark.parametrize(
    ("shares", "threshold"), [(0, 0), (3, 0), (2, 3), (256, 2), (256, 256), (-1, 1)]
)
def test_split_rejects_bad_parameters(shares: int, threshold: int) -> None:
    with pytest.raises(ValueError, match="threshold"):
        split(b"secret", shares, threshold)


def test_split_rejects_empty_secret() -> None:
    with pytest.raises(ValueError, match="empty"):
        split(b"", 3, 2)


def test_combine_rejects_duplicates() -> None:
    shares = split(os.urandom(32), 3, 2)
    with pytest.raises(InvalidShare, match="share 1 was given more than once"):
        combine([shares[0], shares[0]])
    with pytest.raises(InvalidShare, match="more than once"):
        combine([shares[0], Share(1, shares[1].y)])


def test_combine_rejects_mismatched_lengths() -> None:
    with pytest.raises(InvalidShare, match="different lengths"):
        combine([Share(1, bytes(32)), Share(2, bytes(31))])


@pytest.mark.parametrize("x", [0, 256, -1])
def test_combine_rejects_bad_index(x: int) -> None:
    with pytest.raises(InvalidShare, match="index"):
        combine([Share(x, b"\x01"), Share(2, b"\x02")])


def test_combine_rejects_empty_input() -> None:
    with pytest.raises(InvalidShare, match="no shares"):
        combine([])
    with pytest.raises(InvalidShare, match="empty"):
        combine([Share(1, b"")])


def test_combine_points_returns_wipeable_buffer() -> None:
    secret = os.urandom(32)
    shares = split(secret, 3, 2)
    result = shamir.combine_points([(s.x, bytearray(s.y)) for s in shares[:2]])
    assert isinstance(result, bytearray) and result == secret


# --- text form and digest -----------------------------------------------------------


def test_share_repr_hides_value() -> None:
    share = Share(3, bytes([0xAB]) * 32)
    assert repr(share) == "Share(x=3, y=<32 bytes>)"
    assert str(share) == repr(share)


@given(x=st.integers(1, 255), y=st.binary(min_size=1, max_size=64))
def test_text_round_trip(x: int, y: bytes) -> None:
    text = encode_share(Share(x, y))
    assert text == f"km1-{x}-{y.hex()}"
    assert decode_share(text) == Share(x, y)


def test_decode_is_lenient_about_case_and_whitespace() -> None:
    assert decode_share("  KM1-7-ABcd\n") == Share(7, b"\xab\xcd")


def test_encode_rejects_invalid_share() -> None:
    with pytest.raises(ValueError):
        encode_share(Share(0, b"\x01"))
    with pytest.raises(ValueError):
        encode_share(Share(1, b""))


SECRETISH = "deadbeefcafe"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "must start with 'km1-'"),
        (f"km2-1-{SECRETISH}", "must start with 'km1-'"),
        (f"{SECRETISH}", "must start with 'km1-'"),
        ("km1-1", "form km1-<index>-<hex>"),
        (f"km1--{SECRETISH}", "index must be a number"),
        (f"km1-0-{SECRETISH}", "index must be a number between 1 and 255"),
        (f"km1-256-{SECRETISH}", "index must be a number"),
        (f"km1-0001-{SECRETISH}", "index must be a number"),
        (f"km1-+1-{SECRETISH}", "index must be a number"),
        (f"km1-1_0-{SECRETISH}", "index must be a number"),
        (f"km1-\u0661-{SECRETISH}", "index must be a number"),
        ("km1-1-", "value is empty"),
        (f"km1-1-{SECRETISH}a", "even number"),
        (f"km1-1-{SECRETISH[:-2]}zz", "not hexadecimal"),
        (f"km1-1-{SECRETISH[:4]} {SECRETISH[5:]}", "not hexadecimal"),
        (f"km1-1-{SECRETISH[:4]}-{SECRETISH[5:]}", "not hexadecimal"),
        ("km1-1-ééé", "hexadecimal"),
    ],
)
def test_decode_rejects_with_reason_that_does_not_echo(text: str, reason: str) -> None:
    with pytest.raises(InvalidShare, match=reason) as info:
        decode_share(text)
    message = str(info.value)
    assert "\n" not in message
    assert SECRETISH[:6] not in message
    assert text.strip() == "" or text.strip() not in message


def test_decode_rejects_non_text() -> None:
    with pytest.raises(InvalidShare):
        decode_share(b"km1-1-00")  # type: ignore[arg-type]


def test_invalid_share_is_a_value_error() -> None:
    assert issubclass(InvalidShare, ValueError)


def test_share_digest_known_construction() -> None:
    share = Share(2, b"\x01\x02")
    expected = hashlib.sha256(b"keymgr-share-v1\x02\x01\x02").digest()
    assert share_digest(share) == expected
    assert shamir.share_digest_of(2, bytearray(b"\x01\x02")) == expected
    assert share_digest(Share(3, b"\x01\x02")) != expected
