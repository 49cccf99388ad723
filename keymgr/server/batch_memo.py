"""Within one stretch of a batch call, what items share is worked out once: a batch of
100 items under one key otherwise decodes the key's record and walks the caller's
policies 100 times (a quarter of a batch's CPU).

A memo lives in a context variable only while `run_items` works through items between
two yields to the event loop, so nothing it holds outlives a state the node could
change in between (a disabled key, a revoked policy): at each yield it is dropped.
What is remembered is what a stretch may share (`crypto_ops`): a key as one operation uses
it (`KeyUse`: record, name check, the policies that grant it, state), and the material
of a key version once its checks passed. Each item's own context is checked every time, and
a check that fails is never remembered (the next item runs it again, with its own field
name in the error).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")

_memo: contextvars.ContextVar[dict[Hashable, object] | None] = contextvars.ContextVar(
    "keymgr_batch_memo", default=None
)


def start() -> contextvars.Token[dict[Hashable, object] | None]:
    return _memo.set({})


def stop(token: contextvars.Token[dict[Hashable, object] | None]) -> None:
    _memo.reset(token)


def remembered(key: Hashable, compute: Callable[[], T]) -> T:
    """`compute()`, once per memo stretch for `key` (every time outside a batch)."""
    memo = _memo.get()
    if memo is None:
        return compute()
    if key in memo:
        return memo[key]  # type: ignore[return-value]
    value = compute()
    memo[key] = value
    return value
