"""A received snapshot verified and decoded on a thread of its own, swapped in by the tick.

Installing a leader's snapshot used to run in the follower's tick: read the dump, check
its SHA-256, decode every key record and build the tables (~0.5 s at 100k keys, ~5.6 s
at 1M), while the node answered nobody. Here the tick only starts `PreparedInstall`
on the complete, fsynced file; a thread decodes and verifies it and asks the state
machine to build its new state (`prepare`, which must not touch the live state). The
tick later swaps the prepared state in, in one step, between two commands: no command
is ever applied to a half-restored state, and the state after the swap is exactly the
snapshot's, so apply stays deterministic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from keymgr.raft.durable_journal import Dump, DumpError, decode_dump

Prepare = Callable[[bytes], Any]
"""snapshot bytes -> the machine's new state, built without touching the live one."""


@dataclass(frozen=True)
class Prepared:
    """A verified dump and the state the machine will swap in (None: restore in the tick,
    for machines without `prepare_restore`)."""

    dump: Dump
    state: Any | None
    seconds: float  # spent off the tick (read, verify, decode)


class PreparedInstall:
    """One snapshot file being verified and decoded on a daemon thread."""

    def __init__(self, path: str, prepare: Prepare | None) -> None:
        self._path = path
        self._prepare = prepare
        self._done = threading.Event()
        self._result: Prepared | None = None
        self._error: str | None = None
        threading.Thread(target=self._run, name="snapshot-install", daemon=True).start()

    def _run(self) -> None:
        started = time.monotonic()
        try:
            with open(self._path, "rb") as f:
                dump = decode_dump(f.read())
            state = None
            if self._prepare is not None:
                state = self._prepare(dump.snapshot)
                dump = Dump(dump.prev, dump.last, dump.cluster, b"")  # the bytes are spent
            self._result = Prepared(dump, state, time.monotonic() - started)
        except (DumpError, OSError) as exc:
            self._error = str(exc)
        except Exception as exc:  # the machine refused it: never kill the node for it
            self._error = f"state machine cannot restore it: {type(exc).__name__}"
        finally:
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def outcome(self) -> tuple[Prepared | None, str | None]:
        """(prepared, None) or (None, why); only once `done`."""
        assert self._done.is_set()
        return self._result, self._error
