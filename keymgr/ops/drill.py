"""Failover drills against a local cluster: make a fault under load, measure, verify.

A round: steady load runs (writer threads create keys and rotate one, reader threads
decrypt sample ciphertexts, all through the client SDK); the fault is made (kill -9 of
the leader, kill -9 of every node in the leader's zone, or stop-all + restart); the
monitor measures the time to a new leader and the load threads the time to their first
successful write and read (RTO); then RPO = 0 is verified on every live node: every key
and version acknowledged to a client exists, and every sample ciphertext made before
the fault decrypts. The drill only uses its own `drill-<run>-*` keys and schedules them
for deletion at the end.
"""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from keymgr.client import Client, KeymgrError
from keymgr.client import InvalidArgument as ClientInvalidArgument
from keymgr.ops.devcluster import LocalCluster
from keymgr.ops.drill_remote import RemoteCluster
from keymgr.v1 import keys_pb2, operator_pb2

Kind = Literal["leader-loss", "zone-loss", "full-restart"]
KINDS: tuple[Kind, ...] = ("leader-loss", "zone-loss", "full-restart")
MEDIAN_RTO_LIMIT_S = 1.0  # leader-loss bounds from issue 6
MAX_RTO_LIMIT_S = 2.0
RECOVERY_TIMEOUT_S = 30.0
WRITERS = 3
READERS = 2
SAMPLES = 6
Progress = Callable[[str], None]
Target = LocalCluster | RemoteCluster  # local processes, or remote nodes via the API


@dataclass
class RoundResult:
    round: int
    fault: str
    victims: list[str]
    new_leader: str = ""
    new_leader_s: float | None = None
    first_write_s: float | None = None
    first_read_s: float | None = None
    rto_s: float | None = None  # max(first write, first read)
    downtime_s: float = 0.0  # full-restart: stop + start before RTO is measured
    writes_acked: int = 0
    client_errors: int = 0
    acked_missing: int = 0
    samples_failed: int = 0
    passed: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class DrillReport:
    kind: str
    rounds: list[RoundResult]
    median_rto_s: float | None
    max_rto_s: float | None
    passed: bool
    failures: list[str]
    keys_cleaned: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Ack:
    key_id: str
    version: int
    at: float


class _Load:
    """Writer and reader threads; records acknowledgements, errors and timings."""

    def __init__(self, cluster: Target, run: str, samples: list[tuple[bytes, bytes]]) -> None:
        self._cluster = cluster
        self._run = run
        self._samples = samples
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.acks: dict[str, _Ack] = {}  # key id -> highest acknowledged version
        self.write_ok: list[tuple[float, float]] = []  # (start, end) of successes, monotonic
        self.read_ok: list[tuple[float, float]] = []
        self.errors: list[tuple[float, str]] = []
        self._threads: list[threading.Thread] = []
        self._counter = 0

    def _client(self) -> Client:
        return self._cluster.client(timeout=0.5, attempts=12, backoff=0.02)

    def start(self) -> None:
        for i in range(WRITERS):
            self._threads.append(threading.Thread(target=self._writer, args=(i,), daemon=True))
        for i in range(READERS):
            self._threads.append(threading.Thread(target=self._reader, args=(i,), daemon=True))
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(10.0)

    def _record_error(self, exc: Exception) -> None:
        with self._lock:
            self.errors.append((time.monotonic(), f"{type(exc).__name__}: {exc}"))

    def _writer(self, index: int) -> None:
        with self._client() as client:
            rotating: str | None = None
            step = 0
            while not self._stop.is_set():
                step += 1
                started = time.monotonic()
                try:
                    if rotating is not None and step % 3 == 0:
                        key = client.rotate_key(rotating)
                    else:
                        with self._lock:
                            self._counter += 1
                            n = self._counter
                        key = client.create_key(f"drill-{self._run}-w{index}-{n}")
                        rotating = rotating or key.id
                    done = time.monotonic()
                    with self._lock:
                        prev = self.acks.get(key.id)
                        if prev is None or key.current_version > prev.version:
                            self.acks[key.id] = _Ack(key.id, key.current_version, done)
                        self.write_ok.append((started, done))
                except KeymgrError as exc:
                    self._record_error(exc)
                self._stop.wait(0.01)

    def _reader(self, index: int) -> None:
        with self._client() as client:
            i = index
            while not self._stop.is_set():
                blob, plain = self._samples[i % len(self._samples)]
                i += 1
                started = time.monotonic()
                try:
                    if client.decrypt(blob) != plain:
                        self._record_error(ValueError("decrypt returned other plaintext"))
                    else:
                        with self._lock:
                            self.read_ok.append((started, time.monotonic()))
                except KeymgrError as exc:
                    self._record_error(exc)
                self._stop.wait(0.01)

    def first_after(self, calls: list[tuple[float, float]], after: float) -> float | None:
        """When the first call issued after `after` succeeded (None: none yet)."""
        with self._lock:
            later = [end for start, end in calls if start >= after]
        return min(later) if later else None


class Drill:
    """Runs `rounds` rounds of one drill kind against `cluster` (already serving)."""

    def __init__(
        self,
        cluster: Target,
        kind: Kind,
        *,
        shares: list[str] | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.cluster = cluster
        self.kind = kind
        self.shares = shares or []
        self.progress = progress or (lambda _msg: None)
        self.run = uuid.uuid4().hex[:8]
        self._status_clients: dict[str, Client] = {}

    # -- cluster views ------------------------------------------------------------

    def _local_status(self, node_id: str) -> operator_pb2.NodeStatus | None:
        client = self._status_clients.get(node_id)
        if client is None:
            client = self.cluster.client([node_id], timeout=0.3, attempts=1)
            self._status_clients[node_id] = client
        try:
            return client.local_status()
        except KeymgrError:
            return None

    def _leader(self, among: list[str]) -> tuple[str, int] | None:
        for node_id in among:
            status = self._local_status(node_id)
            if status is not None and status.role == operator_pb2.NODE_ROLE_LEADER:
                return node_id, status.term
        return None

    def _wait_leader(
        self, among: list[str], *, above_term: int, timeout: float
    ) -> tuple[str, float] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self._leader(among)
            if found is not None and found[1] > above_term:
                return found[0], time.monotonic()
            time.sleep(0.02)
        return None

    def _ids(self) -> list[str]:
        return [n.id for n in self.cluster.spec.nodes]

    # -- the drill ---------------------------------------------------------------

    def execute(self, rounds: int) -> DrillReport:
        results: list[RoundResult] = []
        try:
            self.cluster.wait_serving(timeout=RECOVERY_TIMEOUT_S)
            for number in range(1, rounds + 1):
                result = self._round(number)
                results.append(result)
                verdict = "pass" if result.passed else "FAIL"
                self.progress(
                    f"round {number}/{rounds} {verdict}: new leader {result.new_leader or '-'} "
                    f"in {_fmt(result.new_leader_s)}, write {_fmt(result.first_write_s)}, "
                    f"read {_fmt(result.first_read_s)}, errors {result.client_errors}, "
                    f"missing {result.acked_missing}"
                )
            cleaned = self._cleanup()
        finally:
            for client in self._status_clients.values():
                client.close()
        return _report(self.kind, results, cleaned)

    def _round(self, number: int) -> RoundResult:
        cluster = self.cluster
        ids = self._ids()
        found = self._leader(ids)
        deadline = time.monotonic() + RECOVERY_TIMEOUT_S
        while found is None and time.monotonic() < deadline:
            time.sleep(0.05)
            found = self._leader(ids)
        if found is None:
            return RoundResult(number, self.kind, [], notes=["no leader before the fault"])
        old_leader, old_term = found
        victims = self._victims(old_leader)
        result = RoundResult(number, self.kind, victims)
        self.progress(f"round {number}: preparing samples (leader {old_leader})")
        samples = self._make_samples(number)
        load = _Load(cluster, f"{self.run}-r{number}", samples)
        load.start()
        time.sleep(1.0)  # steady state before the fault
        self.progress(f"round {number}: fault {self.kind} -> {', '.join(victims)}")
        fault_at = time.monotonic()
        for victim in victims:
            cluster.stop(victim, kill=self.kind != "full-restart")
        survivors = [i for i in ids if i not in victims]
        if self.kind == "full-restart":
            down = time.monotonic()
            for client in self._status_clients.values():
                client.close()  # fresh channels: no reconnect backoff in the measurement
            self._status_clients.clear()
            cluster.start_all()
            result.downtime_s = round(time.monotonic() - fault_at, 3)
            fault_at = down
            survivors = ids
            old_term = 0  # the leader's term after a restart may not exceed the old one
        elected = self._wait_leader(survivors, above_term=old_term, timeout=RECOVERY_TIMEOUT_S)
        if self.kind == "full-restart":
            self._unseal_all()
        if elected is None:
            result.notes.append("no new leader within the bound")
        else:
            result.new_leader, at = elected
            result.new_leader_s = round(at - fault_at, 3)
        recovered = time.monotonic() + RECOVERY_TIMEOUT_S
        while time.monotonic() < recovered and (
            load.first_after(load.write_ok, fault_at) is None
            or load.first_after(load.read_ok, fault_at) is None
        ):
            time.sleep(0.02)
        time.sleep(0.5)  # some load after recovery too
        load.stop()
        w = load.first_after(load.write_ok, fault_at)
        r = load.first_after(load.read_ok, fault_at)
        result.first_write_s = None if w is None else round(w - fault_at, 3)
        result.first_read_s = None if r is None else round(r - fault_at, 3)
        if w is not None and r is not None:
            result.rto_s = round(max(w, r) - fault_at, 3)
        result.client_errors = len(load.errors)
        result.writes_acked = len(load.write_ok)
        # Bring the victims back, then verify on every node.
        for victim in victims:
            cluster.start(victim)
        self._unseal_all()
        try:
            cluster.wait_serving(timeout=RECOVERY_TIMEOUT_S)
        except TimeoutError as exc:
            result.notes.append(str(exc))
        missing, failed = self._verify(load.acks, samples)
        result.acked_missing = missing
        result.samples_failed = failed
        if load.errors:
            result.notes.append(f"first client error: {load.errors[0][1][:160]}")
        result.passed = (
            result.rto_s is not None and missing == 0 and failed == 0 and elected is not None
        )
        return result

    def _victims(self, leader: str) -> list[str]:
        if self.kind == "leader-loss":
            return [leader]
        if self.kind == "zone-loss":
            zone = self.cluster.node(leader).zone
            return [n.id for n in self.cluster.spec.nodes if n.zone == zone]
        return self._ids()

    def _unseal_all(self) -> None:
        for node in self.cluster.spec.nodes:
            try:
                status = self.cluster.wait_answering(node.id, timeout=RECOVERY_TIMEOUT_S)
            except (KeymgrError, RuntimeError):
                continue
            if status.sealed and self.shares:
                with contextlib.suppress(KeymgrError):
                    self.cluster.unseal(node.id, self.shares)

    def _make_samples(self, number: int) -> list[tuple[bytes, bytes]]:
        with self.cluster.client(timeout=2.0) as client:
            key = client.create_key(f"drill-{self.run}-samples-{number}")
            samples = []
            for i in range(SAMPLES):
                plain = f"drill {self.run} round {number} sample {i}".encode()
                samples.append((client.encrypt(key.name, plain, consistent=True), plain))
        return samples

    def _verify(self, acks: dict[str, _Ack], samples: list[tuple[bytes, bytes]]) -> tuple[int, int]:
        """(acknowledged-but-missing keys/versions, sample decrypt failures), every node."""
        missing: set[str] = set()
        failed = 0
        for node_id in self._ids():
            if not self.cluster.alive(node_id):
                continue
            endpoint = self.cluster.node(node_id).api
            with self.cluster.client([node_id], timeout=3.0, attempts=3) as client:
                # The read barrier waits for catch-up; failures are counted below.
                with contextlib.suppress(KeymgrError):
                    client.decrypt(samples[0][0], endpoint=endpoint, consistent=True)
                present = _all_keys(client)
                for ack in acks.values():
                    version = present.get(ack.key_id)
                    if version is None or version < ack.version:
                        missing.add(f"{ack.key_id}@{ack.version}")
                for blob, plain in samples:
                    try:
                        if client.decrypt(blob, endpoint=endpoint) != plain:
                            failed += 1
                    except KeymgrError:
                        failed += 1
        return len(missing), failed

    def _cleanup(self) -> int:
        """Schedules every drill key of this run for deletion (shortest window allowed)."""
        prefix = f"drill-{self.run}-"
        cleaned = 0
        with self.cluster.client(timeout=3.0) as client:
            for key in client.iter_keys(page_size=500):
                if key.name.startswith(prefix) and key.state == keys_pb2.KEY_STATE_ENABLED:
                    try:
                        client.schedule_key_deletion(key.id, pending_window_seconds=1)
                    except ClientInvalidArgument:
                        client.schedule_key_deletion(key.id)
                    cleaned += 1
        return cleaned


def _all_keys(client: Client) -> dict[str, int]:
    return {key.id: key.current_version for key in client.iter_keys()}


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}s"


def _report(kind: str, results: list[RoundResult], cleaned: int) -> DrillReport:
    rtos = [r.rto_s for r in results if r.rto_s is not None]
    median = round(statistics.median(rtos), 3) if rtos else None
    worst = max(rtos) if rtos else None
    failures = [
        f"round {r.round}: {'; '.join(r.notes) or 'failed'}" for r in results if not r.passed
    ]
    if any(r.acked_missing for r in results):
        failures.append("RPO > 0: acknowledged writes missing")
    if kind == "leader-loss" and rtos:
        assert median is not None and worst is not None
        if median > MEDIAN_RTO_LIMIT_S:
            failures.append(f"median RTO {median:.3f}s > {MEDIAN_RTO_LIMIT_S}s")
        if worst > MAX_RTO_LIMIT_S:
            failures.append(f"max RTO {worst:.3f}s > {MAX_RTO_LIMIT_S}s")
    if not results:
        failures.append("no rounds ran")
    return DrillReport(kind, results, median, worst, not failures, failures, cleaned)


TABLE_HEADERS = (
    "Round",
    "Victims",
    "New leader",
    "Leader s",
    "Write s",
    "Read s",
    "RTO s",
    "Acked",
    "Errors",
    "Missing",
    "Samples bad",
    "Result",
)


def table_rows(report: DrillReport) -> list[tuple[str, ...]]:
    return [
        (
            str(r.round),
            ",".join(r.victims),
            r.new_leader or "-",
            _fmt(r.new_leader_s).rstrip("s"),
            _fmt(r.first_write_s).rstrip("s"),
            _fmt(r.first_read_s).rstrip("s"),
            _fmt(r.rto_s).rstrip("s"),
            str(r.writes_acked),
            str(r.client_errors),
            str(r.acked_missing),
            str(r.samples_failed),
            "pass" if r.passed else "FAIL",
        )
        for r in report.rounds
    ]
