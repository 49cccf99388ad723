"""What every servicer needs from the node, and the read-path gate.

Crypto calls are served from this node's applied state with no Raft round trip. The
gate makes that safe: a node that is sealed, cannot confirm its state is at most
`serving.max_staleness_s` old, is rebuilding its log, or has applied too little of what
the leader committed, refuses with UNAVAILABLE so that the client moves to another node
(fail closed). The decision itself is `read_gate.raft_refusal`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import grpc

from keymgr.audit import AuditLog
from keymgr.config import Member, NodeConfig
from keymgr.crypto.barrier import Keyring
from keymgr.node_errors import FailedPrecondition, NotFound, Unavailable, error_from_command
from keymgr.pki import verified_client_certificate
from keymgr.raft.node import RaftError, RaftNode, RaftStatus
from keymgr.raft.proposer import Proposer
from keymgr.seal.controller import SealController
from keymgr.seal.pkcs11 import Pkcs11Seal
from keymgr.server import authz
from keymgr.server.audit_target import note_key
from keymgr.server.auth import Caller, caller_of, require_admin
from keymgr.server.indexes import await_applied, note_write_index
from keymgr.server.material import MaterialCache
from keymgr.server.metrics import NodeMetrics
from keymgr.server.read_gate import raft_refusal
from keymgr.server.request_tally import RequestTally
from keymgr.store.keystore import KeyStore
from keymgr.v1 import store_pb2

T = TypeVar("T")

STATUS_TTL_S = 0.05


@dataclass
class NodeContext:
    config: NodeConfig
    store: KeyStore
    raft: RaftNode
    seal: SealController
    materials: MaterialCache
    proposer: Proposer
    audit: AuditLog
    metrics: NodeMetrics | None = None
    calls: RequestTally | None = None  # calls answered here (the metrics', or a worker's)
    _status: RaftStatus | None = field(default=None, repr=False)
    _status_at: float = 0.0
    _ca_pem: bytes | None = field(default=None, repr=False)

    @classmethod
    def assemble(
        cls,
        config: NodeConfig,
        *,
        store: KeyStore,
        raft: RaftNode,
        seal: SealController,
        audit: AuditLog,
        hsm: Callable[[], Pkcs11Seal | None],
        metrics: NodeMetrics | None = None,
        calls: RequestTally | None = None,
    ) -> NodeContext:
        """The parts every serving process builds the same way around its store, Raft
        view and seal: material cache (cleared on seal) and proposer."""
        materials = MaterialCache(seal.keyring, store, hsm=hsm)
        seal.on_seal(materials.clear)
        return cls(
            config=config,
            store=store,
            raft=raft,
            seal=seal,
            materials=materials,
            proposer=Proposer(
                raft,
                recorded_result=store.recorded_result,
                refusal=error_from_command,
                applied_at=note_write_index,
            ),
            audit=audit,
            metrics=metrics,
            calls=metrics.calls if metrics is not None else calls,
        )

    def raft_status(self) -> RaftStatus:
        """Raft status, cached briefly: it is read on every crypto call."""
        now = time.monotonic()
        if self._status is None or now - self._status_at > STATUS_TTL_S:
            self._status, self._status_at = self.raft.status(), now
        return self._status

    def members(self) -> list[Member]:
        """Every Raft voter, this node first: the Raft layer says who is a member;
        addresses and zones come from the replicated registry, else from the config.
        Reads fresh Raft status (not the read gate's cache): it follows membership changes."""
        status = self.raft.status()
        registry = {m.raft: m for m in self.store.members().values()}
        configured = {m.raft: m for m in self.config.members()}
        out = [self.config.self_member()]
        for raft in sorted(status.peers):
            known = registry.get(raft)
            if known is not None:
                out.append(Member(id=known.id, api=known.api, raft=raft, zone=known.zone))
            elif raft in configured:
                out.append(configured[raft])
            else:
                out.append(Member(id=raft, api="", raft=raft, zone=""))
        return out

    def member_id_at(self, raft_address: str) -> str | None:
        """The node id of the member at `raft_address` (Raft TLS binds peers to it)."""
        found = next((m for m in self.members() if m.raft == raft_address), None)
        return None if found is None or found.id == raft_address else found.id

    def member(self, node_id: str) -> Member | None:
        """The Raft voter `node_id`, as `members()` describes it."""
        return next((m for m in self.members() if m.id == node_id), None)

    def admin_caller(self, context: grpc.aio.ServicerContext) -> Caller:
        """The caller of this RPC, if it holds the admin role now; else PermissionDenied."""
        caller = caller_of(context)
        require_admin(caller, self.store.access.is_admin(caller.principal))
        return caller

    def authorize(
        self,
        caller: Caller,
        operation: str,
        key_name: str,
        context: Mapping[str, str] | None = None,
    ) -> None:
        """Default deny: raises PermissionDenied unless a policy grants the call."""
        if not authz.context_allows(self.granting(caller, operation, key_name), caller, context):
            raise authz.denied(caller, operation, key_name)

    def granting(
        self, caller: Caller, operation: str, key_name: str
    ) -> tuple[store_pb2.Policy, ...]:
        """The policies that grant `operation` on `key_name` to the caller before their
        required context is checked (a batch keeps them per key: `crypto_ops.KeyUse`)."""
        access = self.store.access
        return authz.granting(
            access.policies.values(), access.roles_of(caller.principal), caller, operation, key_name
        )

    def authorize_secret(self, caller: Caller, operation: str, target: str) -> None:
        """Default deny for secrets: a policy's path_patterns must grant `operation` on
        `target` ("<mount>/<path>", or the folder listed)."""
        access = self.store.access
        authz.require_path(
            access.policies.values(),
            access.roles_of(caller.principal),
            caller,
            operation,
            target,
        )

    # --- IdentitySource (keymgr.server.auth): tokens and forwarded certificates --------

    def roles_of(self, principal: str) -> tuple[str, ...]:
        return self.store.access.roles_of(principal)

    def token_for(self, digest: bytes) -> store_pb2.StoredToken | None:
        return self.store.secrets.token_by_digest(digest)

    def verified_client_certificate(self, certificate: bytes) -> bytes:
        """PEM of a forwarded certificate the cluster CA issued (IdentityRefused if not)."""
        if self._ca_pem is None:
            self._ca_pem = self.config.tls.ca.read_bytes()
        return verified_client_certificate(certificate, self._ca_pem)

    def serving_reason(self) -> str:
        """Why this node refuses crypto calls now, or "" when it serves them."""
        if not self.store.initialized:
            return "cluster is not initialized"
        if not self.audit.healthy:
            return "audit log unavailable (fail closed)"
        if self.seal.sealed:
            return f"node is sealed ({self.seal.reason})" if self.seal.reason else "node is sealed"
        return self._raft_reason()

    def _raft_reason(self) -> str:
        """Why Raft state makes this node refuse (stale, recovering, behind), or ""."""
        status = self.raft_status()
        age = max(0.0, time.monotonic() - self._status_at)
        return raft_refusal(status, self.config.serving, age)

    async def await_index(self, wanted: int) -> None:
        """Waits (briefly) until this node has applied Raft index `wanted`, the highest
        the caller has seen; else Unavailable, so the client reads elsewhere."""
        if wanted > 0:
            await await_applied(lambda: self.raft.status().applied_index, wanted)

    def check_serving(self) -> Keyring:
        """The keyring, if this node may serve crypto calls; else the reason it may not.
        On every crypto call: the checks `serving_reason` makes, each once."""
        if not self.store.initialized:
            raise FailedPrecondition("cluster is not initialized: run `keymgr operator init`")
        keyring = self.seal.keyring()  # raises Sealed
        if not self.audit.healthy:
            reason = "audit log unavailable (fail closed)"
        else:
            reason = self._raft_reason()
        if reason:
            raise Unavailable(f"{reason}; try another node")
        return keyring

    def check_fresh(self) -> None:
        """Unavailable unless this node's replicated state is within the staleness bound:
        for reads of policies and roles, which need no keyring (a sealed node may answer)."""
        reason = self._raft_reason()
        if reason:
            raise Unavailable(f"{reason}; try another node")

    def find_key(self, field_name: str, name_or_id: str) -> store_pb2.StoredKey:
        stored = self.lookup(name_or_id)
        if stored is None:
            raise NotFound(f"{field_name}: no key {name_or_id!r}")
        note_key(stored.key.id)
        return stored

    def lookup(self, name_or_id: str) -> store_pb2.StoredKey | None:
        """The key's record. Callers must not change it: within a batch it is shared by
        the items (`crypto_ops.KeyUse`)."""
        return self.store.lookup(name_or_id)

    async def read_barrier(self, timeout_s: float = 5.0) -> None:
        """Waits until this node has applied everything committed before the call."""
        try:
            await asyncio.to_thread(self.raft.read_barrier, timeout_s)
        except RaftError as exc:
            raise Unavailable(f"consistent read not possible now: {exc}") from exc

    async def find_after_commit(self, lookup: Callable[[], T | None]) -> T | None:
        """`lookup()`, and if it finds nothing, once more after a read barrier: what a
        caller names may have been committed through another node a moment ago."""
        found = lookup()
        if found is None:
            await self.read_barrier()
            found = lookup()
        return found


def zone_warnings(members: list[Member]) -> list[str]:
    """Placement problems: voters sharing a zone; a zone whose loss breaks quorum."""
    warnings: list[str] = []
    by_zone: dict[str, list[str]] = {}
    for m in members:
        by_zone.setdefault(m.zone or "<no zone>", []).append(m.id)
    for zone, ids in sorted(by_zone.items()):
        if len(ids) > 1:
            warnings.append(f"voters {', '.join(sorted(ids))} share zone {zone}")
    quorum = len(members) // 2 + 1
    for zone, ids in sorted(by_zone.items()):
        if len(members) - len(ids) < quorum:
            warnings.append(
                f"losing zone {zone} ({len(ids)} of {len(members)} voters) loses quorum: "
                "the cluster cannot survive it"
            )
    return warnings
