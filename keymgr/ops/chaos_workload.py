"""The `keymgr drill chaos` workload: client threads that record a history.

Each thread owns the keys it creates (only it rotates, disables and enables them) and
encrypts under any key of the run. Every RPC goes to one node chosen by the thread's
seeded RNG; a write that fails with a retryable error is sent again, with the same
request id, to another chosen node, a bounded number of times within a bounded time.
A quarter of the crypto calls ask for LINEARIZABLE reads.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from keymgr.client import (
    AlreadyExists,
    Client,
    Credentials,
    FailedPrecondition,
    FinalError,
    KeymgrError,
    NotFound,
    RetryableError,
)
from keymgr.crypto.envelope import read_unverified_header
from keymgr.ops.chaos_history import (
    Abandoned,
    Cipher,
    EnableSent,
    Evidence,
    History,
    Observation,
    WriteAck,
    WriteKind,
)
from keymgr.v1 import keys_pb2

THREADS = 8
WRITE_ATTEMPTS = 8
WRITE_BUDGET_S = 8.0
RPC_TIMEOUT_S = 2.0
MAX_OPS_PER_THREAD = 100_000
KEYS_PER_THREAD = 3  # live keys a thread owns at a time
MAX_VERSIONS = 8  # then the key is retired (scheduled for deletion): bounded state
RETIRE_WINDOW_S = 1  # the cluster's keys.min_deletion_window_s in drill chaos
RESEND_ACKED = 0.1  # share of acknowledged rotations sent again with the same request id
LINEARIZABLE = 0.25

# op -> weight; the mix of the brief: lifecycle writes and crypto calls
MIX: tuple[tuple[str, int], ...] = (
    ("create", 1),
    ("rotate", 3),
    ("disable", 1),
    ("enable", 2),
    ("encrypt", 8),
    ("decrypt", 6),
    ("datakey", 4),
)


@dataclass
class _Key:
    key_id: str
    name: str
    owner: int
    version: int = 1
    enabled: bool = True
    tainted: bool = False  # a lifecycle write on it was abandoned: its state is unknown


@dataclass
class Workload:
    """`THREADS` threads issuing the mix against `endpoints` (node id -> API address)."""

    endpoints: Mapping[str, str]
    credentials: Credentials
    history: History
    seed: int
    run: str
    threads: int = THREADS
    _keys: dict[str, _Key] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _clients: dict[str, Client] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _round: int = 0

    def __post_init__(self) -> None:
        for node_id, api in self.endpoints.items():
            self._clients[node_id] = Client(
                [api], credentials=self.credentials, timeout=RPC_TIMEOUT_S, attempts=1
            )

    def close(self) -> None:
        self.stop()
        for client in self._clients.values():
            client.close()

    def start(self, round_number: int, duration_s: float) -> None:
        """Starts the threads for one round; they stop by themselves after `duration_s`."""
        self._round = round_number
        self._stop.clear()
        deadline = time.monotonic() + duration_s
        self._workers = [
            threading.Thread(
                target=self._thread, args=(i, deadline), daemon=True, name=f"chaos worker {i}"
            )
            for i in range(self.threads)
        ]
        for worker in self._workers:
            worker.start()

    def stop(self, timeout: float = WRITE_BUDGET_S + 2 * RPC_TIMEOUT_S) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self._workers = []

    def key_states(self) -> list[tuple[str, bool, bool]]:
        """(key id, enabled as last acknowledged, tainted) of every acknowledged key."""
        with self._lock:
            return [(k.key_id, k.enabled, k.tainted) for k in self._keys.values()]

    def mark_enabled(self, key_id: str) -> None:
        with self._lock:
            key = self._keys[key_id]
            key.enabled, key.tainted = True, False

    # --- one thread ------------------------------------------------------------------

    def _thread(self, index: int, deadline: float) -> None:
        rng = random.Random(f"{self.seed}/{self._round}/{index}")
        names, weights = zip(*MIX, strict=True)
        ops: dict[str, Callable[[int, random.Random, str], None]] = {
            "create": self._create,
            "rotate": self._rotate,
            "disable": self._disable,
            "enable": self._enable,
            "encrypt": self._encrypt,
            "decrypt": self._decrypt,
            "datakey": self._datakey,
        }
        nodes = sorted(self._clients)
        for _ in range(MAX_OPS_PER_THREAD):
            if self._stop.is_set() or time.monotonic() > deadline:
                return
            op = rng.choices(names, weights)[0]
            try:
                ops[op](index, rng, rng.choice(nodes))
            except Exception as exc:  # recorded; a worker must not die silently mid-round
                self.history.error(f"{op}: {type(exc).__name__}: {exc}")
                time.sleep(0.02)

    def _own(self, index: int, rng: random.Random, *, enabled: bool) -> _Key | None:
        with self._lock:
            mine = [
                k
                for k in self._keys.values()
                if k.owner == index and k.enabled == enabled and not k.tainted
            ]
        return rng.choice(mine) if mine else None

    def _any(self, rng: random.Random) -> _Key | None:
        with self._lock:
            keys = list(self._keys.values())
        return rng.choice(keys) if keys else None

    def _write(
        self,
        index: int,
        rng: random.Random,
        node: str,
        kind: WriteKind,
        key: _Key | None,
        send: Callable[[Client, str], keys_pb2.Key],
        request_id: str,
    ) -> tuple[keys_pb2.Key, float] | None:
        """Sends a write until acknowledged, with one request id; None when abandoned.
        A final error after an attempt that may have been applied also abandons it."""
        started = time.monotonic()
        nodes = sorted(self._clients)
        uncertain = False
        try:
            for attempt in range(WRITE_ATTEMPTS):
                sent = time.monotonic()
                try:
                    return send(self._clients[node], request_id), started
                except RetryableError as exc:
                    uncertain = True  # it may have been applied: its outcome is unknown
                    self.history.error(f"{kind}: {exc}")
                    if time.monotonic() - started > WRITE_BUDGET_S or self._stop.is_set():
                        break
                    time.sleep(min(0.05 * (attempt + 1), 0.5))
                    node = rng.choice(nodes)
                except NotFound:
                    if key is not None:  # a node that has not applied the key's creation
                        self._observe(
                            index, key, None, sent, self.endpoints[node], False, f"{kind} (write)"
                        )
                    raise
                except AlreadyExists as exc:
                    if kind == "create" and attempt > 0:
                        self.history.add(
                            Evidence(
                                self._round,
                                index,
                                "",
                                "duplicate",
                                f"CreateKey retried with request id "
                                f"{request_id} got AlreadyExists: {exc}",
                            )
                        )
                        return None
                    raise
        except FinalError:
            if uncertain:
                self._abandon(index, kind, key, request_id, started)
            raise
        self._abandon(index, kind, key, request_id, started)
        return None

    def _abandon(
        self, index: int, kind: WriteKind, key: _Key | None, request_id: str, started: float
    ) -> None:
        self.history.add(
            Abandoned(self._round, index, kind, key.key_id if key else "", request_id, started)
        )
        if key is not None:
            with self._lock:
                key.tainted = True

    def _request_id(self, rng: random.Random) -> str:
        return f"chaos-{self.run}-{rng.getrandbits(64):016x}"

    def _create(self, index: int, rng: random.Random, node: str) -> None:
        with self._lock:
            owned = sum(1 for k in self._keys.values() if k.owner == index and not k.tainted)
        if owned >= KEYS_PER_THREAD:
            return
        rid = self._request_id(rng)
        name = f"chaos-{self.run}-r{self._round}-t{index}-{rid[-8:]}"
        done = self._write(
            index, rng, node, "create", None, lambda c, r: c.create_key(name, request_id=r), rid
        )
        if done is None:
            return
        key, started = done
        self._ack(index, "create", key, rid, started)
        with self._lock:
            self._keys[key.id] = _Key(key.id, name, index)

    def _rotate(self, index: int, rng: random.Random, node: str) -> None:
        key = self._own(index, rng, enabled=True) or self._own(index, rng, enabled=False)
        if key is None:
            return
        rid = self._request_id(rng)
        done = self._write(
            index,
            rng,
            node,
            "rotate",
            key,
            lambda c, r: c.rotate_key(key.key_id, request_id=r),
            rid,
        )
        if done is None:
            return
        reply, started = done
        self._ack(index, "rotate", reply, rid, started)
        key.version = reply.current_version
        if key.version >= MAX_VERSIONS:
            self._retire(index, rng, node, key)
            return
        if rng.random() < RESEND_ACKED:
            again = self._write(
                index,
                rng,
                rng.choice(sorted(self._clients)),
                "rotate",
                key,
                lambda c, r: c.rotate_key(key.key_id, request_id=r),
                rid,
            )
            if again is not None and again[0].current_version != reply.current_version:
                self.history.add(
                    Evidence(
                        self._round,
                        index,
                        key.key_id,
                        "duplicate",
                        f"RotateKey request id {rid} acknowledged version "
                        f"{reply.current_version}, then {again[0].current_version} when sent again",
                    )
                )

    def _retire(self, index: int, rng: random.Random, node: str, key: _Key) -> None:
        """Schedules the key for deletion; from now on it is not used nor judged."""
        self.history.retire(key.key_id)
        with self._lock:
            self._keys.pop(key.key_id, None)
        done = self._write(
            index,
            rng,
            node,
            "retire",
            None,
            lambda c, r: c.schedule_key_deletion(
                key.key_id, pending_window_seconds=RETIRE_WINDOW_S, request_id=r
            ),
            self._request_id(rng),
        )
        if done is not None:
            self._ack(index, "retire", done[0], "", done[1])

    def _disable(self, index: int, rng: random.Random, node: str) -> None:
        key = self._own(index, rng, enabled=True)
        if key is None:
            return
        done = self._write(
            index,
            rng,
            node,
            "disable",
            key,
            lambda c, r: c.disable_key(key.key_id, request_id=r),
            self._request_id(rng),
        )
        if done is not None:
            self._ack(index, "disable", done[0], "", done[1])
            key.enabled = False

    def _enable(self, index: int, rng: random.Random, node: str) -> None:
        key = self._own(index, rng, enabled=False)
        if key is None:
            return
        started = time.monotonic()
        try:
            done = self._write(
                index,
                rng,
                node,
                "enable",
                key,
                lambda c, r: c.enable_key(key.key_id, request_id=r),
                self._request_id(rng),
            )
        except KeymgrError:
            self.history.add(EnableSent(self._round, key.key_id, started, abandoned=True))
            raise
        self.history.add(EnableSent(self._round, key.key_id, started, done is None))
        if done is not None:
            self._ack(index, "enable", done[0], "", done[1])
            key.enabled = True

    def _ack(
        self, index: int, kind: WriteKind, key: keys_pb2.Key, rid: str, started: float
    ) -> None:
        self.history.add(
            WriteAck(
                self._round,
                index,
                kind,
                key.id,
                key.current_version,
                rid,
                started,
                time.monotonic(),
            )
        )

    # --- crypto calls ----------------------------------------------------------------

    def _encrypt(self, index: int, rng: random.Random, node: str) -> None:
        self._crypto(index, rng, node, datakey=False)

    def _datakey(self, index: int, rng: random.Random, node: str) -> None:
        self._crypto(index, rng, node, datakey=True)

    def _crypto(self, index: int, rng: random.Random, node: str, *, datakey: bool) -> None:
        key = self._any(rng)
        if key is None:
            return
        client = self._clients[node]
        endpoint = self.endpoints[node]
        linear = rng.random() < LINEARIZABLE
        context = {"thread": str(index)} if rng.random() < 0.5 else {}
        started = time.monotonic()
        what = "GenerateDataKey" if datakey else "Encrypt"
        try:
            if datakey:
                dk = client.generate_data_key(
                    key.key_id, context=context, consistent=linear, endpoint=endpoint
                )
                blob, plaintext, version = dk.ciphertext_blob, dk.plaintext, dk.key_version
            else:
                plaintext = rng.randbytes(rng.randint(1, 64))
                blob = client.encrypt(
                    key.key_id, plaintext, context=context, consistent=linear, endpoint=endpoint
                )
                version = read_unverified_header(blob).key_version
        except NotFound:
            self._observe(index, key, None, started, endpoint, linear, what)
            return
        except (FailedPrecondition, RetryableError) as exc:
            self.history.error(f"{what}: {exc}")  # disabled key, or a node not serving
            return
        self.history.add(
            Cipher(
                self._round,
                index,
                key.key_id,
                version,
                blob,
                plaintext,
                tuple(sorted(context.items())),
                started,
                time.monotonic(),
                endpoint,
                linear,
            )
        )
        self._observe(index, key, version, started, endpoint, linear, what)

    def _decrypt(self, index: int, rng: random.Random, node: str) -> None:
        mine = self.history.recent_ciphers(index)
        if not mine:
            return
        cipher = rng.choice(mine)
        endpoint = self.endpoints[node]
        linear = rng.random() < LINEARIZABLE
        started = time.monotonic()
        try:
            plain = self._clients[node].decrypt(
                cipher.blob, context=dict(cipher.context), consistent=linear, endpoint=endpoint
            )
        except NotFound:
            with self._lock:
                key = self._keys.get(cipher.key_id)
            if key is not None:
                self._observe(index, key, cipher.version - 1, started, endpoint, linear, "Decrypt")
            return
        except (FailedPrecondition, RetryableError) as exc:
            self.history.error(f"Decrypt: {exc}")
            return
        except FinalError as exc:
            self.history.add(
                Evidence(
                    self._round,
                    index,
                    cipher.key_id,
                    "divergent",
                    f"Decrypt on {endpoint} of a ciphertext under version "
                    f"{cipher.version} failed: {exc}",
                )
            )
            return
        if plain != cipher.plaintext:
            self.history.add(
                Evidence(
                    self._round,
                    index,
                    cipher.key_id,
                    "divergent",
                    f"Decrypt on {endpoint} returned other bytes for a "
                    f"ciphertext under version {cipher.version}",
                )
            )

    def _observe(
        self,
        index: int,
        key: _Key,
        seen: int | None,
        started: float,
        endpoint: str,
        linear: bool,
        what: str,
    ) -> None:
        if key.owner == index:
            self.history.add(
                Observation(self._round, index, key.key_id, seen, started, endpoint, linear, what)
            )
