"""The faults of `keymgr drill chaos`: each injects one fault, holds it, and heals it.

A fault function returns once the fault is healed (a killed node restarted, a stopped
one continued, a link passing again, the disk emptied); the caller then measures how
long the cluster takes to serve again on its own. Processes are signalled by the PIDs
`LocalCluster` started; SIGCONT and link heals are also done in `finally` blocks.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from keymgr.client import KeymgrError
from keymgr.ops import chaos_disk
from keymgr.ops.devcluster import LocalCluster
from keymgr.ops.faultproxy import FaultProxy, Mode
from keymgr.v1 import operator_pb2

FAULTS: tuple[str, ...] = (
    "kill-leader",
    "kill-all",
    "stop-leader",
    "stop-follower",
    "partition",
    "torn-journal",
    "corrupt-dump",
    "full-disk",
)
LEADER_WAIT_S = 15.0


@dataclass
class Outcome:
    """What a fault did: victims, when it was healed, and why it was skipped, if so."""

    fault: str
    victims: list[str] = field(default_factory=list)
    healed_at: float = 0.0
    detail: str = ""
    skipped: str = ""


@dataclass
class FaultBed:
    """The cluster and the levers the faults pull."""

    cluster: LocalCluster
    proxies: dict[tuple[str, str], FaultProxy]  # (dialer, peer) -> proxy on that link
    tmpfs: set[str]  # nodes whose data dir is a size-limited tmpfs
    rng: random.Random
    round_s: float

    def ids(self) -> list[str]:
        return [n.id for n in self.cluster.spec.nodes]

    def hold_s(self, low: float = 3.0, high: float = 8.0) -> float:
        """A hold time in [low, high], shortened for short rounds."""
        high = max(low, min(high, self.round_s * 0.4))
        return round(self.rng.uniform(low, high), 2)

    def leader(self) -> str | None:
        deadline = time.monotonic() + LEADER_WAIT_S
        while time.monotonic() < deadline:
            for node_id in self.ids():
                if not self.cluster.alive(node_id):
                    continue
                with self.cluster.client([node_id], timeout=1.0, attempts=1) as client:
                    try:
                        status = client.local_status()
                    except KeymgrError:
                        continue
                if status.role == operator_pb2.NODE_ROLE_LEADER:
                    return node_id
            time.sleep(0.05)
        return None

    def status_of(self, node_id: str) -> str:
        """The node's own view in a few words, as evidence that a fault took hold."""
        if not self.cluster.alive(node_id):
            return "process exited"
        with self.cluster.client([node_id], timeout=1.0, attempts=1) as client:
            try:
                status = client.local_status()
            except KeymgrError as exc:
                return f"no answer ({type(exc).__name__})"
        role = operator_pb2.NodeRole.Name(status.role).removeprefix("NODE_ROLE_").lower()
        return f"{role}, " + ("serving" if status.serving else f"not serving: {status.error}")

    def raft_dir(self, node_id: str) -> Path:
        return self.cluster.data_dir(node_id) / "raft"


def inject(name: str, bed: FaultBed) -> Outcome:
    """Runs fault `name` to its heal."""
    return _FAULTS[name](bed)


def _kill_leader(bed: FaultBed) -> Outcome:
    leader = bed.leader()
    if leader is None:
        return Outcome("kill-leader", skipped="no leader found")
    bed.cluster.stop(leader, kill=True)
    time.sleep(bed.hold_s(1.0, 3.0))
    bed.cluster.start(leader)
    return Outcome("kill-leader", [leader], time.monotonic())


def _kill_all(bed: FaultBed) -> Outcome:
    for node_id in bed.ids():
        bed.cluster.stop(node_id, kill=True)
    time.sleep(bed.hold_s(1.0, 2.0))
    bed.cluster.start_all()
    return Outcome("kill-all", bed.ids(), time.monotonic())


def _sigstop(bed: FaultBed, *, leader: bool) -> Outcome:
    name = "stop-leader" if leader else "stop-follower"
    current = bed.leader()
    if current is None:
        return Outcome(name, skipped="no leader found")
    victim = current if leader else bed.rng.choice([i for i in bed.ids() if i != current])
    pid = bed.cluster.pid(victim)
    hold = bed.hold_s()
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(hold)
    finally:
        os.kill(pid, signal.SIGCONT)
    return Outcome(name, [victim], time.monotonic(), f"SIGSTOP for {hold}s")


def _partition(bed: FaultBed) -> Outcome:
    victim = bed.rng.choice(bed.ids())
    mode: Mode = bed.rng.choice(("partition", "blackhole"))
    links = [p for (a, b), p in bed.proxies.items() if victim in (a, b)]
    hold = bed.hold_s()
    try:
        for proxy in links:
            proxy.set_mode(mode)
        time.sleep(hold)
        during = bed.status_of(victim)
    finally:
        for proxy in links:
            proxy.set_mode("pass")
    return Outcome(
        "partition",
        [victim],
        time.monotonic(),
        f"{len(links)} raft links {mode} for {hold}s; before the heal: {during}",
    )


def _on_disk(name: str, damage: Callable[[FaultBed, str], str]) -> Callable[[FaultBed], Outcome]:
    """A fault that kills one node, damages its files, and restarts it."""

    def fault(bed: FaultBed) -> Outcome:
        victim = bed.rng.choice(bed.ids())
        bed.cluster.stop(victim, kill=True)
        try:
            detail = damage(bed, victim)
        except chaos_disk.DiskFaultSkipped as exc:
            bed.cluster.start(victim)
            return Outcome(name, [victim], time.monotonic(), skipped=str(exc))
        bed.cluster.start(victim)
        return Outcome(name, [victim], time.monotonic(), detail)

    return fault


def _tear(bed: FaultBed, victim: str) -> str:
    return chaos_disk.tear_journal(bed.raft_dir(victim) / "raft.journal", bed.rng)


def _corrupt(bed: FaultBed, victim: str) -> str:
    return chaos_disk.corrupt_dump(bed.raft_dir(victim) / "raft.dump", bed.rng)


def _full_disk(bed: FaultBed) -> Outcome:
    if not bed.tmpfs:
        return Outcome("full-disk", skipped="no tmpfs data dirs (mount not permitted)")
    victim = bed.rng.choice(sorted(bed.tmpfs))
    directory = bed.cluster.data_dir(victim)
    hold = bed.hold_s()
    try:
        written = chaos_disk.fill(directory)
        time.sleep(hold)
        during = bed.status_of(victim)
    finally:
        chaos_disk.empty(directory)
    detail = f"data dir full ({written >> 10} KiB filler) for {hold}s; before the heal: {during}"
    if not bed.cluster.alive(victim):
        bed.cluster.start(victim)  # as a service manager would (Restart=on-failure)
        detail += "; the node exited and was restarted"
    return Outcome("full-disk", [victim], time.monotonic(), detail)


_FAULTS: dict[str, Callable[[FaultBed], Outcome]] = {
    "kill-leader": _kill_leader,
    "kill-all": _kill_all,
    "stop-leader": lambda bed: _sigstop(bed, leader=True),
    "stop-follower": lambda bed: _sigstop(bed, leader=False),
    "partition": _partition,
    "torn-journal": _on_disk("torn-journal", _tear),
    "corrupt-dump": _on_disk("corrupt-dump", _corrupt),
    "full-disk": _full_disk,
}
