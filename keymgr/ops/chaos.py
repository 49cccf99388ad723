"""`keymgr drill chaos`: faults under a recorded workload, then a consistency check.

A local cluster of real node processes (`LocalCluster`) whose Raft links each pass
through a `FaultProxy` runs one fault per round while `Workload` threads record a
history; after the fault is healed the drill measures how long the cluster takes to
serve again on its own, probes every node's end state, and `chaos_check` judges it.
Everything random (fault order, victims, hold times, the workload's choices, request
ids) comes from the seed, so a failing run can be replayed with the same `--seed`.
"""

from __future__ import annotations

import contextlib
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from itertools import permutations
from pathlib import Path
from typing import Any

from keymgr.client import KeymgrError, NotFound, RetryableError
from keymgr.ops import chaos_disk
from keymgr.ops.chaos_check import Findings, KeyView, Probe, check_round
from keymgr.ops.chaos_faults import FAULTS, FaultBed, Outcome, inject
from keymgr.ops.chaos_history import Cipher, History
from keymgr.ops.chaos_workload import Workload
from keymgr.ops.devcluster import LocalCluster, default_spec
from keymgr.ops.faultproxy import FaultProxy
from keymgr.ops.ports import free_port

COMPACTION_ENTRIES = 200  # low, so that dumps exist for the corrupt-dump fault
FAULT_AT = 0.25  # share of the round before the fault
PROBE_POLL_S = 0.1
GRACE_S = 10.0  # a node that served after the heal and stopped again


@dataclass(frozen=True)
class ChaosOptions:
    rounds: int = 8
    seed: int = 1
    nodes: int = 3
    processes: int = 1  # serving processes per node (serving.processes)
    faults: tuple[str, ...] = FAULTS
    round_s: float = 25.0
    staleness_s: float = 1.0  # serving.max_staleness_s (the default)
    tolerance_s: float = 0.5  # added to the staleness bound for the disable check
    recovery_timeout_s: float = 60.0
    probe_cap: int = 200  # ciphertexts of the round decrypted on every node


@dataclass
class ChaosRound:
    number: int
    fault: str
    victims: list[str] = field(default_factory=list)
    detail: str = ""
    skipped: str = ""
    acked_writes: int = 0
    ciphertexts: int = 0
    client_errors: int = 0
    lost: int = 0
    divergent: int = 0
    duplicates: int = 0
    ryw: int = 0
    disable: int = 0
    not_back: int = 0
    recovery_s: float | None = None
    violations: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.violations


@dataclass
class ChaosReport:
    seed: int
    nodes: int
    rounds: list[ChaosRound]
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.rounds) and all(r.passed for r in self.rounds)

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "nodes": self.nodes,
            "passed": self.passed,
            "notes": self.notes,
            "rounds": [asdict(r) for r in self.rounds],
            "faults": [dict(zip(TABLE_HEADERS, row, strict=True)) for row in table_rows(self)],
        }


def schedule(options: ChaosOptions) -> list[str]:
    """The fault of each round: the faults in a seeded order, cycled."""
    order = list(options.faults)
    random.Random(f"{options.seed}/schedule").shuffle(order)
    return [order[i % len(order)] for i in range(options.rounds)]


class ChaosDrill:
    """Owns the cluster under `root`, its proxies and mounts; `execute` cleans them up."""

    def __init__(
        self, root: Path, options: ChaosOptions, progress: Callable[[str], None] = lambda _m: None
    ) -> None:
        self.root = root
        self.options = options
        self.progress = progress
        self.run = f"s{options.seed}"
        self.history = History()
        self.notes: list[str] = []
        self._reported: set[str] = set()
        spec = default_spec(options.nodes)
        spec.processes = options.processes
        spec.min_deletion_window_s = 1
        spec.log_compaction_min_entries = COMPACTION_ENTRIES
        spec.max_staleness_s = options.staleness_s  # the bound the checks hold it to
        self.proxies: dict[tuple[str, str], FaultProxy] = {}
        for dialer, peer in permutations(spec.nodes, 2):
            proxy = FaultProxy(
                f"127.0.0.1:{free_port()}", peer.raft, name=f"{dialer.id}->{peer.id}"
            )
            self.proxies[(dialer.id, peer.id)] = proxy
            dialer.dial_overrides[peer.raft] = proxy.listen
        self.cluster = LocalCluster(root, spec)
        self.mounted: set[str] = set()

    # --- lifecycle -------------------------------------------------------------------

    def execute(self) -> ChaosReport:
        rounds: list[ChaosRound] = []
        workload: Workload | None = None
        try:
            self._bring_up()
            endpoints = {n.id: n.api for n in self.cluster.spec.nodes}
            workload = Workload(
                endpoints, self.cluster.credentials, self.history, self.options.seed, self.run
            )
            bed = FaultBed(
                self.cluster,
                self.proxies,
                set(self.mounted),
                random.Random(f"{self.options.seed}/faults"),
                self.options.round_s,
            )
            for number, fault in enumerate(schedule(self.options), 1):
                result = self._round(number, fault, bed, workload)
                rounds.append(result)
                verdict = "pass" if result.passed else "FAIL"
                self.progress(
                    f"round {number}/{self.options.rounds} {fault} {verdict}: "
                    f"victims {','.join(result.victims) or '-'}, "
                    f"acked writes {result.acked_writes}, recovery "
                    f"{'-' if result.recovery_s is None else f'{result.recovery_s:.2f}s'}"
                    + (f", skipped: {result.skipped}" if result.skipped else "")
                    + (f" ({result.detail.lstrip('; ')})" if result.detail else "")
                    + "".join(f"\n    {v}" for v in result.violations[:8])
                )
        finally:
            if workload is not None:
                workload.close()
            self._tear_down()
        return ChaosReport(self.options.seed, self.options.nodes, rounds, self.notes)

    def _bring_up(self) -> None:
        for proxy in self.proxies.values():
            proxy.start()
        if "full-disk" in self.options.faults:
            for node in self.cluster.spec.nodes:
                why = chaos_disk.mount_tmpfs(self.cluster.data_dir(node.id))
                if why:
                    self.notes.append(f"full-disk skipped ({why}); needs root to mount tmpfs")
                    break
                self.mounted.add(node.id)
        self.progress(
            f"starting a {self.options.nodes}-node cluster in {self.root} "
            f"(seed {self.options.seed})"
        )
        self.cluster.bring_up()

    def _tear_down(self) -> None:
        self.cluster.kill_all()
        for proxy in self.proxies.values():
            proxy.close()
        for node_id in sorted(self.mounted):
            chaos_disk.unmount(self.cluster.data_dir(node_id))

    # --- one round -------------------------------------------------------------------

    def _round(self, number: int, fault: str, bed: FaultBed, workload: Workload) -> ChaosRound:
        options = self.options
        result = ChaosRound(number, fault)
        self.progress(f"round {number}: {fault} under load")
        started = time.monotonic()
        errors_before = self.history.errors
        workload.start(number, options.round_s)
        outcome = Outcome(fault)
        try:
            time.sleep(options.round_s * FAULT_AT)
            try:
                outcome = inject(fault, bed)
            except Exception as exc:  # the drill's own failure: reported, the run goes on
                outcome = Outcome(fault, skipped=f"fault could not be made: {exc!r}")
                result.violations.append(f"drill: {fault} could not be made: {exc!r}")
            result.recovery_s = self._wait_back(outcome.healed_at or time.monotonic())
            time.sleep(max(0.0, started + options.round_s - time.monotonic()))
        finally:
            workload.stop()
        result.victims, result.detail, result.skipped = (
            outcome.victims,
            outcome.detail,
            outcome.skipped,
        )
        serving = self._serving_reasons()
        if any(serving.values()) and result.recovery_s is not None:
            self._wait_back(time.monotonic(), GRACE_S)  # served once: a short grace
            serving = self._serving_reasons()
        self._enable_all(workload)
        findings = self._check(number, serving)
        round_history = self.history.of_round(number)
        result.acked_writes = len(round_history.writes)
        result.ciphertexts = len(round_history.ciphers)
        result.client_errors = self.history.errors - errors_before  # refusals, retries
        self._count(result, findings)
        broken = sorted(node for node, reason in serving.items() if reason)
        if broken:
            result.detail += "; " + self._repair(number, broken)
        return result

    def _repair(self, number: int, broken: list[str]) -> str:
        """What an operator would do for a node that did not come back (already counted
        as a violation): replace its Raft state, so that later rounds start whole."""
        for node_id in broken:
            self.cluster.stop(node_id, kill=True)
            raft = self.cluster.data_dir(node_id) / "raft"
            if raft.exists():
                raft.rename(raft.with_name(f"raft.broken-round{number}"))
            self.cluster.start(node_id)
        back = self._wait_back(time.monotonic())
        state = "back" if back is not None else "still not back"
        return (
            f"repaired {','.join(broken)} after the round (Raft dir moved to "
            f"raft.broken-round{number}, node restarted empty): {state}"
        )

    def _wait_back(self, since: float, timeout: float | None = None) -> float | None:
        """Seconds from `since` until every node serves; None if not within the timeout."""
        deadline = since + (timeout or self.options.recovery_timeout_s)
        while time.monotonic() < deadline:
            if not any(self._serving_reasons().values()):
                return round(time.monotonic() - since, 3)
            time.sleep(PROBE_POLL_S)
        return None

    def _serving_reasons(self) -> dict[str, str]:
        reasons = {}
        for node in self.cluster.spec.nodes:
            if not self.cluster.alive(node.id):
                reasons[node.id] = "process exited; last output: " + self.cluster.last_output(
                    node.id, 3
                )
                continue
            with self.cluster.client([node.id], timeout=1.0, attempts=1) as client:
                try:
                    status = client.local_status(endpoint=node.api)
                    reasons[node.id] = "" if status.serving else status.error or "not serving"
                except KeymgrError as exc:
                    reasons[node.id] = str(exc)[:200]
        return reasons

    def _enable_all(self, workload: Workload) -> None:
        """Every key enabled again, so that every ciphertext must decrypt everywhere."""
        with self.cluster.client(timeout=3.0) as client:
            for key_id, enabled, tainted in workload.key_states():
                if enabled and not tainted:
                    continue
                try:
                    client.enable_key(key_id)
                    workload.mark_enabled(key_id)
                except KeymgrError as exc:
                    self.notes.append(f"could not enable {key_id} for the probes: {exc}")

    # --- checks ----------------------------------------------------------------------

    def _check(self, number: int, serving: dict[str, str]) -> Findings:
        rng = random.Random(f"{self.options.seed}/probes/{number}")
        judged = [c for c in self.history.ciphers if c.key_id not in self.history.retired]
        current = [c for c in judged if c.round == number]
        older = [c for c in judged if c.round != number]
        cap = self.options.probe_cap
        sample = rng.sample(current, min(cap, len(current)))
        sample += rng.sample(older, min(cap // 4, len(older)))
        nodes: dict[str, dict[str, KeyView]] = {}
        probes: list[Probe] = []
        for node in self.cluster.spec.nodes:
            if serving.get(node.id):
                continue  # reported as not back; its state is not judged
            try:
                nodes[node.id], node_probes = self._probe(node.id, node.api, sample)
            except KeymgrError as exc:
                serving[node.id] = f"probe failed: {exc}"
                continue
            probes += node_probes
        bound = self.options.staleness_s + self.options.tolerance_s
        return check_round(
            self.history.of_round(number),
            nodes,
            probes,
            serving,
            staleness_s=bound,
            disable_bound_s=bound,
            all_writes=self.history,
        )

    def _probe(
        self, node_id: str, api: str, sample: list[Cipher]
    ) -> tuple[dict[str, KeyView], list[Probe]]:
        prefix = f"chaos-{self.run}-"
        probes = []
        with self.cluster.client([node_id], timeout=5.0, attempts=3) as client:
            if sample:  # a LINEARIZABLE read first: the node has applied all committed
                with contextlib.suppress(KeymgrError):
                    client.decrypt(
                        sample[0].blob,
                        context=dict(sample[0].context),
                        consistent=True,
                        endpoint=api,
                    )
            keys = {
                k.id: KeyView(
                    k.id,
                    k.current_version,
                    tuple((v.version, v.created_at_ms, v.created_by) for v in k.versions),
                )
                for k in client.iter_keys()
                if k.name.startswith(prefix)
            }
            for cipher in sample:
                try:
                    plain = client.decrypt(cipher.blob, context=dict(cipher.context), endpoint=api)
                except NotFound as exc:
                    probes.append(Probe(node_id, cipher, "missing", str(exc)[:160]))
                    continue
                except RetryableError:
                    continue  # the node stopped serving; `not back` reports that
                except KeymgrError as exc:
                    probes.append(Probe(node_id, cipher, "error", str(exc)[:160]))
                    continue
                probes.append(
                    Probe(node_id, cipher, "ok" if plain == cipher.plaintext else "mismatch")
                )
        return keys, probes

    def _named(self, line: str) -> str:
        """The line with each node's API address shown with its id."""
        for node in self.cluster.spec.nodes:
            line = line.replace(f" {node.api}", f" {node.id} ({node.api})")
        return line

    def _count(self, result: ChaosRound, findings: Findings) -> None:
        """Counts findings; lines already reported in an earlier round are not counted again
        (the lost-write and duplicate checks look at the whole run)."""
        for name in ("lost", "divergent", "duplicates", "ryw", "disable", "not_back"):
            fresh = [line for line in getattr(findings, name) if line not in self._reported]
            self._reported.update(fresh)
            setattr(result, name, len(fresh))
            result.violations += [f"{name}: {self._named(line)}" for line in fresh]
        if result.recovery_s is None and not result.not_back:
            result.not_back = 1
            result.violations.append(
                f"not_back: not every node served within {self.options.recovery_timeout_s:g}s "
                "of the heal"
            )
        self._reported -= {line for line in findings.not_back}  # judged afresh each round


TABLE_HEADERS = (
    "Fault",
    "Rounds",
    "Acked writes",
    "Lost",
    "Divergent",
    "Duplicate",
    "RYW",
    "Disable bound",
    "Not back",
    "Recovery median s",
    "Recovery max s",
    "Result",
)


def table_rows(report: ChaosReport) -> list[tuple[str, ...]]:
    """One row per fault, in the order the faults first ran."""
    rows = []
    for fault in dict.fromkeys(r.fault for r in report.rounds):
        mine = [r for r in report.rounds if r.fault == fault]
        times = [r.recovery_s for r in mine if r.recovery_s is not None and not r.skipped]
        skipped = sum(1 for r in mine if r.skipped)
        rows.append(
            (
                fault,
                f"{len(mine)}" + (f" ({skipped} skipped)" if skipped else ""),
                str(sum(r.acked_writes for r in mine)),
                *(
                    str(sum(getattr(r, n) for r in mine))
                    for n in ("lost", "divergent", "duplicates", "ryw", "disable", "not_back")
                ),
                f"{statistics.median(times):.2f}" if times else "-",
                f"{max(times):.2f}" if times else "-",
                "pass" if all(r.passed for r in mine) else "FAIL",
            )
        )
    return rows
