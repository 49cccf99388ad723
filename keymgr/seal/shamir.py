"""The Shamir seal: operators' shares reconstruct the unseal key, which unwraps the root key.

At Init the node makes a random 32-byte unseal key, splits it into shares for the
operators and replicates only the root key wrapped by it (`InitCluster.
shamir_wrapped_root_key`) plus a digest of each share. Shares never reach a disk. Any
node can then be unsealed by `threshold` operators submitting their shares one at a
time (`ShareCollector`); a share whose digest is unknown is rejected on its own, so one
typo does not spoil the others' work.

Python caveats: share texts arrive as `str` and the decoded unseal key passes through
`bytes` inside `cryptography`, neither of which can be wiped; the collector keeps share
values and the root key in bytearrays and wipes them as soon as it is done.
"""

from __future__ import annotations

import hmac
import secrets

from keymgr.crypto.aead import KEY_SIZE, BytesLike, check_key, wipe
from keymgr.crypto.barrier import ROOT_KEY_AAD, unwrap_root_key, wrap_root_key
from keymgr.crypto.errors import InvalidShare
from keymgr.crypto.shamir import (
    MAX_SHARES,
    combine_points,
    encode_share,
    parse_share,
    share_digest,
    share_digest_of,
    split,
)
from keymgr.v1 import store_pb2

__all__ = ["SEAL_TYPE", "ShareCollector", "new_shamir_init"]

SEAL_TYPE = "shamir"


def new_shamir_init(
    root_key: BytesLike, shares: int, threshold: int
) -> tuple[list[str], bytes, list[bytes]]:
    """(share texts for the operators, shamir_wrapped_root_key, share_digests) for Init.

    Raises ValueError for an impossible shares/threshold combination.
    """
    check_key(root_key, "root key")
    if not 1 <= threshold <= shares <= MAX_SHARES:
        raise ValueError(
            f"need 1 <= threshold <= shares <= {MAX_SHARES}, "
            f"got threshold={threshold}, shares={shares}"
        )
    unseal_key = bytearray(secrets.token_bytes(KEY_SIZE))
    try:
        parts = split(unseal_key, shares, threshold)
        wrapped = wrap_root_key(unseal_key, root_key, ROOT_KEY_AAD)
    finally:
        wipe(unseal_key)
    return [encode_share(p) for p in parts], wrapped, [share_digest(p) for p in parts]


class ShareCollector:
    """Collects operators' shares for one unseal attempt; not thread-safe (lock outside)."""

    def __init__(self, init: store_pb2.InitCluster) -> None:
        threshold = int(init.secret_threshold)
        if not 1 <= threshold <= MAX_SHARES:
            raise ValueError(f"init record has an invalid secret threshold {threshold}")
        if not init.shamir_wrapped_root_key:
            raise ValueError("init record has no Shamir-wrapped root key")
        if len(init.share_digests) < threshold:
            raise ValueError("init record has fewer share digests than its threshold")
        self._threshold = threshold
        self._wrapped_root = bytes(init.shamir_wrapped_root_key)
        self._digests = [bytes(d) for d in init.share_digests]
        self._shares: dict[int, tuple[bytes, bytearray]] = {}  # x -> (digest, y)
        self._root_key: bytearray | None = None
        self._complete = False

    def __repr__(self) -> str:
        return f"ShareCollector(progress={self.progress}, threshold={self._threshold})"

    @property
    def threshold(self) -> int:
        """How many distinct shares unseal."""
        return self._threshold

    @property
    def progress(self) -> int:
        """Distinct valid shares submitted so far (the threshold once unsealed)."""
        return self._threshold if self._complete else len(self._shares)

    @property
    def complete(self) -> bool:
        """True once the shares have unwrapped the root key."""
        return self._complete

    def submit(self, text: str) -> int:
        """Adds one share and returns the progress; unwraps the root key at the threshold.

        Raises InvalidShare for malformed text or a share that is not one of this
        cluster's (it does not count); a repeated share counts once. Raises
        DecryptionFailed if the threshold is reached but the combined key does not
        unwrap the root key (an inconsistent init record); the collector is then reset.
        """
        if self._complete:
            return self.progress
        x, y = parse_share(text)
        digest = share_digest_of(x, y)
        if not any(hmac.compare_digest(digest, known) for known in self._digests):
            wipe(y)
            raise InvalidShare("share is not one of this cluster's unseal shares")
        held = self._shares.get(x)
        if held is not None:
            wipe(y)
            if not hmac.compare_digest(held[0], digest):
                raise InvalidShare(f"a different share with index {x} was already submitted")
            return self.progress
        self._shares[x] = (digest, y)
        if len(self._shares) >= self._threshold:
            self._unwrap()
        return self.progress

    def _unwrap(self) -> None:
        try:
            unseal_key = combine_points([(x, y) for x, (_, y) in self._shares.items()])
            try:
                self._root_key = unwrap_root_key(unseal_key, self._wrapped_root, ROOT_KEY_AAD)
            finally:
                wipe(unseal_key)
        except BaseException:
            self.reset()
            raise
        self._wipe_shares()
        self._complete = True

    def take_root_key(self) -> bytearray:
        """Hands over the root key (the caller wipes it); only once, after the threshold."""
        root = self._root_key
        if root is None:
            raise RuntimeError("no root key to take: threshold not reached or key already taken")
        self._root_key = None
        self._wipe_shares()
        return root

    def reset(self) -> None:
        """Discards every submitted share and any root key not yet taken."""
        self._wipe_shares()
        if self._root_key is not None:
            wipe(self._root_key)
            self._root_key = None
        self._complete = False

    def _wipe_shares(self) -> None:
        for _, y in self._shares.values():
            wipe(y)
        self._shares.clear()
