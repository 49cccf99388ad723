"""What `keymgr drill chaos` saw clients do: the history the checker judges.

Only facts a client can know are recorded: what it sent, when, and what came back.
Plaintexts stay in memory (the checker needs them to verify decryption) and are never
written to disk; `Cipher.digest` is what a report may show.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import Literal

WriteKind = Literal["create", "rotate", "disable", "enable", "retire"]


@dataclass(frozen=True)
class WriteAck:
    """An acknowledged write: the key's version in the reply, when it was sent/acked."""

    round: int
    thread: int
    kind: WriteKind
    key_id: str
    version: int
    request_id: str
    started: float
    acked: float


@dataclass(frozen=True)
class Abandoned:
    """A write given up after bounded retries: it may or may not have been applied."""

    round: int
    thread: int
    kind: WriteKind
    key_id: str  # "" for a CreateKey (the id was never seen)
    request_id: str
    started: float


@dataclass(frozen=True)
class Cipher:
    """A ciphertext returned by Encrypt or GenerateDataKey, with its plaintext."""

    round: int
    thread: int
    key_id: str
    version: int
    blob: bytes = field(repr=False)
    plaintext: bytes = field(repr=False)
    context: tuple[tuple[str, str], ...]
    started: float
    finished: float
    endpoint: str
    linearizable: bool

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.plaintext).hexdigest()[:16]


@dataclass(frozen=True)
class Observation:
    """A read that showed a key's version on one node: `seen` is the highest version the
    node can have had (None: the key itself was NOT_FOUND)."""

    round: int
    thread: int
    key_id: str
    seen: int | None
    started: float
    endpoint: str
    linearizable: bool
    what: str


@dataclass(frozen=True)
class EnableSent:
    """An EnableKey sent (acknowledged or not): encryption may legitimately resume."""

    round: int
    key_id: str
    started: float
    abandoned: bool


@dataclass(frozen=True)
class Evidence:
    """A reply that by itself shows a request id applied twice or a version diverging."""

    round: int
    thread: int
    key_id: str
    kind: Literal["duplicate", "divergent"]
    detail: str


@dataclass
class History:
    """Thread-safe, append-only lists of everything the workload recorded."""

    writes: list[WriteAck] = field(default_factory=list)
    abandoned: list[Abandoned] = field(default_factory=list)
    ciphers: list[Cipher] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    enables: list[EnableSent] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    # keys scheduled for deletion once they have enough versions (keeps the state small):
    # their writes and ciphertexts are no longer judged after that
    retired: set[str] = field(default_factory=set)
    errors: int = 0
    first_error: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(
        self, record: WriteAck | Abandoned | Cipher | Observation | EnableSent | Evidence
    ) -> None:
        with self._lock:
            if isinstance(record, WriteAck):
                self.writes.append(record)
            elif isinstance(record, Abandoned):
                self.abandoned.append(record)
            elif isinstance(record, Cipher):
                self.ciphers.append(record)
            elif isinstance(record, Observation):
                self.observations.append(record)
            elif isinstance(record, EnableSent):
                self.enables.append(record)
            else:
                self.evidence.append(record)

    def retire(self, key_id: str) -> None:
        with self._lock:
            self.retired.add(key_id)

    def error(self, text: str) -> None:
        with self._lock:
            self.errors += 1
            if not self.first_error:
                self.first_error = text[:200]

    def recent_ciphers(self, thread: int, last: int = 500) -> list[Cipher]:
        """The thread's ciphertexts among the `last` recorded (for its Decrypt calls)."""
        with self._lock:
            return [c for c in self.ciphers[-last:] if c.thread == thread]

    def of_round(self, number: int) -> History:
        """The records of one round (a copy; errors are not split by round)."""
        with self._lock:
            return History(
                writes=[r for r in self.writes if r.round == number],
                abandoned=[r for r in self.abandoned if r.round == number],
                ciphers=[r for r in self.ciphers if r.round == number],
                observations=[r for r in self.observations if r.round == number],
                enables=[r for r in self.enables if r.round == number],
                evidence=[r for r in self.evidence if r.round == number],
                retired=set(self.retired),
            )
