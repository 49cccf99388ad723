"""The `keymgr drill chaos` checker: pure functions over the history and end-state probes.

Each function returns one line per violation (empty: the property held), so a report can
count them and show the first few. End-state probes are taken after the round's fault is
healed and every node has caught up (a LINEARIZABLE read first on each node).

Consistency model checked (docs/runbook.md, "Chaos drill"):

- an acknowledged CreateKey/RotateKey exists on every node (no lost write);
- one key version has one material: the same version metadata on every node, and every
  acknowledged ciphertext decrypts to its plaintext on every node;
- a request id is applied once: a key never has more versions than acknowledged plus
  abandoned (outcome unknown) rotations, and a re-sent request id returns the first reply;
- read-your-writes: after a thread's write of version v is acknowledged, its LINEARIZABLE
  reads never see the key missing or older; its default reads may lag only within the
  staleness bound;
- disable bound: no Encrypt sent later than ack(DisableKey) + bound succeeds, unless an
  EnableKey for that key was sent in between.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from keymgr.ops.chaos_history import Cipher, History

Version = tuple[int, int, str]  # (version, created_at_ms, created_by)


@dataclass(frozen=True)
class KeyView:
    """One key's metadata as one node reports it (GetKey/ListKeys)."""

    key_id: str
    current: int
    versions: tuple[Version, ...]


NodeKeys = Mapping[str, Mapping[str, KeyView]]  # node id -> key id -> view


@dataclass(frozen=True)
class Probe:
    """Decrypting one recorded ciphertext on one node after the round."""

    node: str
    cipher: Cipher
    outcome: Literal["ok", "mismatch", "missing", "error"]
    detail: str = ""


@dataclass
class Findings:
    lost: list[str] = field(default_factory=list)
    divergent: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    ryw: list[str] = field(default_factory=list)
    disable: list[str] = field(default_factory=list)
    not_back: list[str] = field(default_factory=list)

    def total(self) -> int:
        return sum(
            len(v)
            for v in (
                self.lost,
                self.divergent,
                self.duplicates,
                self.ryw,
                self.disable,
                self.not_back,
            )
        )

    def first(self, limit: int = 5) -> list[str]:
        lines = []
        for name in ("lost", "divergent", "duplicates", "ryw", "disable", "not_back"):
            lines += [f"{name}: {line}" for line in getattr(self, name)[:limit]]
        return lines


def lost_writes(history: History, nodes: NodeKeys) -> list[str]:
    """Acknowledged CreateKey/RotateKey versions missing on some node."""
    out = []
    for ack in history.writes:
        if ack.kind not in ("create", "rotate") or ack.key_id in history.retired:
            continue
        for node, keys in sorted(nodes.items()):
            view = keys.get(ack.key_id)
            have = {v[0] for v in view.versions} if view else set()
            if ack.version not in have:
                out.append(
                    f"{ack.kind} {ack.key_id}@{ack.version} (request {ack.request_id}) "
                    f"missing on {node}"
                )
    return out


def lost_ciphertexts(probes: Sequence[Probe]) -> list[str]:
    """Acknowledged ciphertexts whose key or version a node does not have."""
    return [_probe_line(p) for p in probes if p.outcome == "missing"]


def divergent_versions(nodes: NodeKeys) -> list[str]:
    """Key versions whose metadata differs between nodes (two log entries, two materials)."""
    out = []
    seen: dict[tuple[str, int], dict[Version, list[str]]] = defaultdict(lambda: defaultdict(list))
    for node, keys in sorted(nodes.items()):
        for key_id, view in keys.items():
            for version in view.versions:
                seen[(key_id, version[0])][version].append(node)
    for (key_id, number), variants in sorted(seen.items()):
        if len(variants) > 1:
            shown = "; ".join(
                f"{','.join(n)}: created {v[1]} by {v[2]}" for v, n in variants.items()
            )
            out.append(f"{key_id}@{number} differs: {shown}")
    return out


def divergent_ciphertexts(probes: Sequence[Probe]) -> list[str]:
    """Ciphertexts that a node decrypts to other bytes or refuses (wrong material)."""
    return [_probe_line(p) for p in probes if p.outcome in ("mismatch", "error")]


def duplicate_applications(history: History, nodes: NodeKeys) -> list[str]:
    """Versions beyond what acknowledged plus abandoned rotations explain, two request ids
    acknowledged with one version, and replies showing a request id applied twice."""
    out = [f"{e.key_id}: {e.detail}" for e in history.evidence if e.kind == "duplicate"]
    rotations: dict[str, int] = defaultdict(int)
    created: set[str] = set()
    by_version: dict[tuple[str, int], set[str]] = defaultdict(set)
    for ack in history.writes:
        if ack.kind == "create":
            created.add(ack.key_id)
            by_version[(ack.key_id, ack.version)].add(ack.request_id)
        elif ack.kind == "rotate":
            rotations[ack.key_id] += 1
            by_version[(ack.key_id, ack.version)].add(ack.request_id)
    for abandoned in history.abandoned:
        if abandoned.kind == "rotate":
            rotations[abandoned.key_id] += 1
    for (key_id, version), ids in sorted(by_version.items()):
        if len(ids) > 1:
            out.append(f"{key_id}@{version} acknowledged to {len(ids)} request ids")
    for key_id in sorted(created):
        allowed = 1 + rotations[key_id]
        highest = max(
            (keys[key_id].current for keys in nodes.values() if key_id in keys), default=0
        )
        if highest > allowed:
            out.append(f"{key_id} has {highest} versions, at most {allowed} requested")
    return out


def ryw_violations(history: History, staleness_s: float) -> list[str]:
    """Reads by a thread that miss its own acknowledged write (see the module doc)."""
    out = []
    acks = defaultdict(list)
    for ack in history.writes:
        if ack.kind in ("create", "rotate"):
            acks[(ack.thread, ack.key_id)].append(ack)
    for obs in history.observations:
        for ack in acks.get((obs.thread, obs.key_id), ()):
            if ack.acked >= obs.started:
                continue
            if obs.seen is not None and obs.seen >= ack.version:
                continue
            if not obs.linearizable and obs.started <= ack.acked + staleness_s:
                continue  # a default read may lag within the bound
            seen = "NOT_FOUND" if obs.seen is None else f"version <= {obs.seen}"
            out.append(
                f"thread {obs.thread} {obs.what} on {obs.endpoint} saw {obs.key_id} {seen} "
                f"{obs.started - ack.acked:.3f}s after its {ack.kind} to version "
                f"{ack.version} was acknowledged" + (" (LINEARIZABLE)" if obs.linearizable else "")
            )
            break
    return out


def disable_bound_violations(history: History, bound_s: float) -> list[str]:
    """Encrypts sent more than `bound_s` after a DisableKey ack that still succeeded."""
    out = []
    disables = [a for a in history.writes if a.kind == "disable"]
    for cipher in history.ciphers:
        for ack in disables:
            if ack.key_id != cipher.key_id or cipher.started <= ack.acked + bound_s:
                continue
            if any(
                e.key_id == ack.key_id
                and e.started < cipher.finished
                and (e.abandoned or e.started > ack.started)
                for e in history.enables
            ):
                continue
            out.append(
                f"{cipher.key_id}: encrypt on {cipher.endpoint} sent "
                f"{cipher.started - ack.acked:.3f}s after DisableKey was acknowledged "
                f"succeeded (bound {bound_s:g}s)"
            )
            break
    return out


def not_back(serving: Mapping[str, str]) -> list[str]:
    """Nodes not serving after the round (node id -> reason, "" when serving)."""
    return [f"{node}: {reason}" for node, reason in sorted(serving.items()) if reason]


def check_round(
    history: History,
    nodes: NodeKeys,
    probes: Sequence[Probe],
    serving: Mapping[str, str],
    *,
    staleness_s: float,
    disable_bound_s: float,
    all_writes: History | None = None,
) -> Findings:
    """Every check over one round; `all_writes` (the whole run) for the lost-write check."""
    return Findings(
        lost=lost_writes(all_writes or history, nodes) + lost_ciphertexts(probes),
        divergent=divergent_versions(nodes)
        + divergent_ciphertexts(probes)
        + [f"{e.key_id}: {e.detail}" for e in history.evidence if e.kind == "divergent"],
        duplicates=duplicate_applications(all_writes or history, nodes),
        ryw=ryw_violations(history, staleness_s),
        disable=disable_bound_violations(history, disable_bound_s),
        not_back=not_back(serving),
    )


def _probe_line(p: Probe) -> str:
    return (
        f"ciphertext under {p.cipher.key_id}@{p.cipher.version} (plaintext sha256 "
        f"{p.cipher.digest}, round {p.cipher.round}) on {p.node}: {p.outcome} {p.detail}"
    )
