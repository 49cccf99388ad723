"""Operator: init, unseal, seal, status, leadership, keyring rotation."""

from __future__ import annotations

import asyncio
import math
import secrets
import time
import uuid

import grpc

from keymgr.crypto.aead import wipe
from keymgr.crypto.barrier import wrap_term_key
from keymgr.crypto.errors import DecryptionFailed, InvalidShare
from keymgr.raft import snapshot_file
from keymgr.raft.node import ProposalRejected, RaftError
from keymgr.raft.proposer import now_ms
from keymgr.seal.shamir import ShareCollector, new_shamir_init
from keymgr.server import join, migration, validation
from keymgr.server.access_service import request_approval
from keymgr.server.auth import Caller, caller_of, require_node_or_admin
from keymgr.server.context import NodeContext, zone_warnings
from keymgr.server.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from keymgr.server.peers import Peers
from keymgr.server.read_gate import lag_entries
from keymgr.server.root_rotation import request_root_rotation
from keymgr.server.rotation import attempt_id
from keymgr.server.rpc import rpc
from keymgr.v1 import operator_pb2, store_pb2

REMOVAL_TTL_S = 24 * 3600
PEER_STATUS_TIMEOUT_S = 1.5
CHUNK_BYTES = 256 * 1024
SNAPSHOT_TTL_S = 300.0
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
MEMBERSHIP_TIMEOUT_S = 10.0
ROLES = {
    "leader": operator_pb2.NODE_ROLE_LEADER,
    "follower": operator_pb2.NODE_ROLE_FOLLOWER,
    "candidate": operator_pb2.NODE_ROLE_CANDIDATE,
}


class OperatorServicer:
    def __init__(self, node: NodeContext, peers: Peers) -> None:
        self._node = node
        self._peers = peers
        self._snapshots: dict[str, tuple[float, bytes, int, int]] = {}  # id -> (t, file, idx, keys)
        self._uploads: dict[str, tuple[float, bytearray]] = {}

    def _seal_status(self) -> operator_pb2.SealStatusResponse:
        node = self._node
        init = node.store.init_cluster()
        return operator_pb2.SealStatusResponse(
            node_id=node.config.node.id,
            initialized=init is not None,
            sealed=node.seal.sealed,
            seal_type=node.seal.seal_type,
            threshold=init.secret_threshold if init else 0,
            shares=init.secret_shares if init else 0,
            progress=node.seal.progress,
            reason=node.seal.reason if node.seal.sealed else "",
            seal_error=node.seal.seal_error,
            root_generation=init.root_generation if init else 0,
        )

    @rpc
    async def Init(
        self, request: operator_pb2.InitRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.InitResponse:
        caller = caller_of(context)
        shares = request.secret_shares or 5
        threshold = request.secret_threshold or min(3, shares)
        if not 1 <= shares <= 16:
            raise InvalidArgument("secret_shares", f"must be between 1 and 16, got {shares}")
        if not 1 <= threshold <= shares:
            raise InvalidArgument(
                "secret_threshold", f"must be between 1 and secret_shares ({shares})"
            )
        approvals = request.approvals_required or 1
        if approvals > 1:
            raise InvalidArgument(
                "approvals_required",
                "must be 1 at init: there is one admin; raise it with "
                "`keymgr approvals rule` after adding admins",
            )
        if self._node.store.initialized:
            raise FailedPrecondition("cluster is already initialized")
        root = bytearray(secrets.token_bytes(32))
        try:
            texts, wrapped_root, digests = new_shamir_init(bytes(root), shares, threshold)
            first_term = store_pb2.KeyringTerm(
                term=1,
                wrapped_key=wrap_term_key(bytes(root), 1, secrets.token_bytes(32)),
                created_at_ms=now_ms(),
            )
            command = store_pb2.Command(
                request_id=uuid.uuid4().hex,
                principal=caller.principal,
                init_cluster=store_pb2.InitCluster(
                    shamir_wrapped_root_key=wrapped_root,
                    secret_shares=shares,
                    secret_threshold=threshold,
                    admins=[caller.principal],
                    first_term=first_term,
                    share_digests=digests,
                    approvals_required=approvals,
                ),
            )
            try:
                await self._node.proposer.submit(command)
            except Exception:
                wipe(root)
                raise
        except (ValueError, TypeError) as exc:
            raise InvalidArgument("secret_shares", str(exc)) from exc
        await asyncio.to_thread(self._node.seal.install_new_root_key, root)
        return operator_pb2.InitResponse(
            unseal_shares=texts, secret_threshold=threshold, root_admin=caller.principal
        )

    @rpc
    async def Unseal(
        self, request: operator_pb2.UnsealRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.SealStatusResponse:
        caller_of(context)
        if request.reset:
            self._node.seal.reset_shares()
        if request.share:
            await asyncio.to_thread(self._node.seal.submit_share, request.share.strip())
        elif not request.reset:
            raise InvalidArgument("share", "must not be empty")
        return self._seal_status()

    @rpc
    async def Seal(
        self, request: operator_pb2.SealRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.SealStatusResponse:
        self._node.admin_caller(context)
        self._node.seal.seal()
        self._node.materials.clear()
        return self._seal_status()

    @rpc
    async def SealStatus(
        self, request: operator_pb2.SealStatusRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.SealStatusResponse:
        caller_of(context)
        return self._seal_status()

    def _local_status(self) -> operator_pb2.NodeStatus:
        node = self._node
        status = node.raft.status()
        members = {m.raft: m for m in node.members()}
        leader = members.get(status.leader_address or "")
        me = node.config
        reason = node.serving_reason()
        return operator_pb2.NodeStatus(
            node_id=me.node.id,
            api_address=me.api.listen,
            raft_address=me.raft.listen,
            zone=me.node.zone,
            role=ROLES.get(status.role, operator_pb2.NODE_ROLE_UNSPECIFIED),
            term=status.term,
            commit_index=status.commit_index,
            applied_index=status.applied_index,
            lag=lag_entries(status),
            leader_commit_index=status.leader_commit_index,
            seconds_since_caught_up=(
                status.seconds_since_caught_up
                if math.isfinite(status.seconds_since_caught_up)
                else -1.0
            ),
            sealed=node.seal.sealed,
            serving=not reason,
            leader_id=leader.id if leader else "",
            error=reason,
            seal_type=node.seal.seal_type,
            audit_healthy=node.audit.healthy,
            audit_failures=node.audit.failures,
            seal_error=node.seal.seal_error,
        )

    @rpc
    async def LocalStatus(
        self, request: operator_pb2.LocalStatusRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.NodeStatus:
        caller = caller_of(context)
        require_node_or_admin(caller, self._node.store.access.is_admin(caller.principal))
        return self._local_status()

    async def _peer_status(
        self, member_id: str, api: str, raft: str, zone: str
    ) -> operator_pb2.NodeStatus:
        try:
            status: operator_pb2.NodeStatus = await self._peers.operator(api).LocalStatus(
                operator_pb2.LocalStatusRequest(), timeout=PEER_STATUS_TIMEOUT_S
            )
            return status
        except grpc.RpcError as exc:
            detail = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
            return operator_pb2.NodeStatus(
                node_id=member_id,
                api_address=api,
                raft_address=raft,
                zone=zone,
                role=operator_pb2.NODE_ROLE_UNREACHABLE,
                error=f"unreachable: {detail}",
            )

    @rpc
    async def ClusterStatus(
        self, request: operator_pb2.ClusterStatusRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.ClusterStatusResponse:
        self._node.admin_caller(context)
        local = self._local_status()
        members = self._node.members()
        others = await asyncio.gather(
            *(self._peer_status(p.id, p.api, p.raft, p.zone) for p in members[1:])
        )
        nodes = sorted([local, *others], key=lambda n: n.node_id)
        leader_commit = max(
            (max(n.commit_index, n.leader_commit_index) for n in nodes), default=0
        )
        for n in nodes:
            if n.role != operator_pb2.NODE_ROLE_UNREACHABLE:
                n.lag = max(0, leader_commit - n.applied_index)
        return operator_pb2.ClusterStatusResponse(
            nodes=nodes, leader_id=local.leader_id, warnings=zone_warnings(members)
        )

    @rpc
    async def StepDown(
        self, request: operator_pb2.StepDownRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.StepDownResponse:
        self._node.admin_caller(context)
        members = {m.id: m for m in self._node.members()}
        target = None
        if request.target_node_id:
            member = members.get(request.target_node_id)
            if member is None:
                raise NotFound(f"target_node_id: no member {request.target_node_id!r}")
            target = member.raft
        status = self._node.raft.status()
        by_raft = {m.raft: m for m in members.values()}
        if status.role != "leader":
            leader = by_raft.get(status.leader_address or "")
            if leader is None:
                raise Unavailable("no Raft leader to step down")
            # The leader does it; the caller's certificate is not forwarded, so this
            # node asks with its own after checking the caller is an admin.
            raise FailedPrecondition(
                f"this node is not the leader; ask {leader.id} at {leader.api}"
            )
        try:
            await asyncio.to_thread(self._node.raft.transfer_leadership, target)
        except RaftError as exc:
            raise Unavailable(f"leadership transfer failed: {exc}") from exc
        return operator_pb2.StepDownResponse(previous_leader_id=self._node.config.node.id)

    @rpc
    async def RotateKeyring(
        self, request: operator_pb2.RotateKeyringRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.RotateKeyringResponse:
        caller = self._node.admin_caller(context)
        rid = validation.request_id_or_new(request.request_id)  # checked before proposing
        for attempt in range(5):
            self._node.check_serving()
            root, generation = self._node.seal.current_root_key()
            term = self._node.store.active_term + 1
            command = store_pb2.Command(
                request_id=attempt_id(rid, attempt),
                principal=caller.principal,
                rotate_keyring=store_pb2.RotateKeyring(
                    new_term=store_pb2.KeyringTerm(
                        term=term,
                        wrapped_key=wrap_term_key(root, term, secrets.token_bytes(32)),
                        created_at_ms=now_ms(),
                    ),
                    root_generation=generation,
                ),
            )
            try:
                result = await self._node.proposer.submit(command)
            except Conflict:
                continue
            return operator_pb2.RotateKeyringResponse(active_term=result.keyring_term)
        raise Conflict("keyring is being rotated concurrently; retry")

    @rpc
    async def RotateRoot(
        self, request: operator_pb2.RotateRootRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.RotateRootResponse:
        caller = self._node.admin_caller(context)
        return await request_root_rotation(self._node, caller, request)

    # -- backup and DR restore -------------------------------------------------------

    def _expire(self) -> None:
        now = time.monotonic()
        for sid in [k for k, v in self._snapshots.items() if now - v[0] > SNAPSHOT_TTL_S]:
            del self._snapshots[sid]
        for uid in [k for k, v in self._uploads.items() if now - v[0] > SNAPSHOT_TTL_S]:
            del self._uploads[uid]

    async def _take_snapshot(self) -> tuple[bytes, int, int]:
        """A consistent cut: read barrier, then the state read in the Raft thread, MAC'd
        with the root key of the cut's generation (a rotation may land in between)."""
        node = self._node
        node.seal.root_key()  # Sealed: fail before the barrier
        await node.read_barrier()

        def cut(core: object) -> tuple[bytes, int, int]:
            applied = int(core.raftLastApplied)  # type: ignore[attr-defined]
            return node.store.snapshot(), applied, node.store.root_generation

        for _ in range(3):
            try:
                state, applied, generation = await asyncio.to_thread(
                    node.raft.call_in_tick, cut, 10.0
                )
            except RaftError as exc:
                raise Unavailable(f"cannot take a snapshot now: {exc}") from exc
            root, root_generation = node.seal.current_root_key()
            if root_generation == generation:
                break
        else:
            raise Unavailable("the root key is being rotated; take the snapshot again")
        keys = sum(node.store.key_counts().values())
        data = snapshot_file.encode(
            state,
            root,
            node=node.config.node.id,
            applied_index=applied,
            keys=keys,
            created_ms=now_ms(),
        )
        return data, applied, keys

    @rpc
    async def SaveSnapshot(
        self, request: operator_pb2.SaveSnapshotRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.SnapshotChunk:
        self._node.admin_caller(context)
        self._node.check_serving()
        self._expire()
        sid = request.snapshot_id
        if not sid:
            if request.offset:
                raise InvalidArgument("offset", "must be 0 when no snapshot_id is given")
            data, applied, keys = await self._take_snapshot()
            sid = uuid.uuid4().hex
            self._snapshots[sid] = (time.monotonic(), data, applied, keys)
        entry = self._snapshots.get(sid)
        if entry is None:
            raise NotFound(f"snapshot_id: no snapshot {sid!r} (expired?); start again")
        _, data, applied, keys = entry
        if request.offset > len(data):
            raise InvalidArgument("offset", f"beyond the end ({len(data)} bytes)")
        chunk = data[request.offset : request.offset + CHUNK_BYTES]
        if request.offset + len(chunk) >= len(data):
            self._snapshots.pop(sid, None)
        return operator_pb2.SnapshotChunk(
            snapshot_id=sid,
            offset=request.offset,
            total_size=len(data),
            data=chunk,
            applied_index=applied,
            keys=keys,
        )

    @rpc
    async def RestoreSnapshot(
        self, request: operator_pb2.RestoreSnapshotRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.RestoreSnapshotResponse:
        caller = caller_of(context)  # no admins yet: the unseal shares are the authority
        node = self._node
        if node.store.initialized:
            raise FailedPrecondition(
                "cluster is already initialized: restore needs a fresh, uninitialised cluster"
            )
        if not request.upload_id:
            raise InvalidArgument("upload_id", "must not be empty")
        self._expire()
        _, buffer = self._uploads.setdefault(request.upload_id, (time.monotonic(), bytearray()))
        if request.offset != len(buffer):
            raise InvalidArgument("offset", f"expected {len(buffer)}, got {request.offset}")
        if len(buffer) + len(request.data) > MAX_UPLOAD_BYTES:
            self._uploads.pop(request.upload_id, None)
            raise InvalidArgument("data", f"snapshot larger than {MAX_UPLOAD_BYTES} bytes")
        buffer.extend(request.data)
        if not request.final:
            return operator_pb2.RestoreSnapshotResponse(received=len(buffer))
        self._uploads.pop(request.upload_id, None)
        try:
            parsed = snapshot_file.parse(bytes(buffer))
        except snapshot_file.SnapshotFileError as exc:
            raise InvalidArgument("file", str(exc)) from exc
        state = store_pb2.StoreState()
        try:
            state.ParseFromString(parsed.state)
        except Exception:
            raise InvalidArgument("file", "snapshot state does not decode") from None
        if not state.HasField("init"):
            raise InvalidArgument("file", "snapshot has no init record")
        root = self._root_from_shares(state.init, list(request.shares))
        try:
            snapshot_file.verify(parsed, root)
        except snapshot_file.SnapshotFileError as exc:
            wipe(root)
            raise InvalidArgument("file", str(exc)) from exc
        command = store_pb2.Command(
            request_id=uuid.uuid4().hex,
            principal=caller.principal,
            restore_state=store_pb2.RestoreState(state=parsed.state),
        )
        try:
            await node.proposer.submit(command)
        except Exception:
            wipe(root)
            raise
        await asyncio.to_thread(
            node.seal.install_new_root_key, root, generation=state.init.root_generation
        )
        node.materials.clear()
        header = parsed.header
        applied = header.get("applied_index")
        return operator_pb2.RestoreSnapshotResponse(
            received=len(buffer),
            restored=True,
            keys=len(state.keys),
            source_applied_index=applied if isinstance(applied, int) else 0,
        )

    @staticmethod
    def _root_from_shares(init: store_pb2.InitCluster, shares: list[str]) -> bytearray:
        try:
            collector = ShareCollector(init)
        except ValueError as exc:
            raise InvalidArgument("file", f"snapshot init record: {exc}") from exc
        try:
            for share in shares:
                collector.submit(share.strip())
                if collector.complete:
                    return collector.take_root_key()
        except InvalidShare as exc:
            collector.reset()
            raise InvalidArgument("shares", str(exc)) from exc
        except DecryptionFailed as exc:
            raise InvalidArgument("shares", "the shares do not open this snapshot") from exc
        collector.reset()
        raise InvalidArgument(
            "shares", f"need {collector.threshold} distinct unseal shares of the backed-up cluster"
        )

    # -- membership ------------------------------------------------------------------

    def _peers_response(self) -> operator_pb2.PeersResponse:
        node = self._node
        status = node.raft.status()
        peers = []
        for m in node.members():
            peer_status = status.peers.get(m.raft)
            is_self = m.raft == status.self_address
            peers.append(
                operator_pb2.Peer(
                    id=m.id,
                    api_address=m.api,
                    raft_address=m.raft,
                    zone=m.zone,
                    leader=status.leader_address == m.raft,
                    connected=is_self or bool(peer_status and peer_status.connected),
                    match_index=(peer_status.match_index or 0) if peer_status else 0,
                )
            )
        return operator_pb2.PeersResponse(peers=peers, warnings=zone_warnings(node.members()))

    def _require_leader(self) -> None:
        status = self._node.raft.status()
        if status.role == "leader":
            return
        by_raft = {m.raft: m for m in self._node.members()}
        leader = by_raft.get(status.leader_address or "")
        if leader is None:
            raise Unavailable("no Raft leader: membership cannot change now")
        raise FailedPrecondition(f"this node is not the leader; ask {leader.id} at {leader.api}")

    @rpc
    async def ListPeers(
        self, request: operator_pb2.ListPeersRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.PeersResponse:
        self._node.admin_caller(context)
        return self._peers_response()

    @rpc
    async def AddPeer(
        self, request: operator_pb2.AddPeerRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.PeersResponse:
        caller = self._node.admin_caller(context)
        for name in ("id", "api_address", "raft_address"):
            if not getattr(request, name):
                raise InvalidArgument(name, "must not be empty")
        if any(m.id == request.id for m in self._node.members()):
            raise AlreadyExists(f"id: a member {request.id!r} exists")
        self._require_leader()
        member = store_pb2.Member(
            id=request.id, api=request.api_address, raft=request.raft_address, zone=request.zone
        )
        # Record the addresses first (so every node can reach it), then change Raft.
        await self._node.proposer.submit(
            store_pb2.Command(
                request_id=uuid.uuid4().hex,
                principal=caller.principal,
                set_member=store_pb2.SetMember(member=member),
            )
        )
        await self._change("add", request.raft_address)
        return self._peers_response()

    @rpc
    async def RemovePeer(
        self, request: operator_pb2.RemovePeerRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.PeersResponse:
        caller = self._node.admin_caller(context)
        target = next((m for m in self._node.members() if m.id == request.id), None)
        if target is None:
            raise NotFound(f"id: no member {request.id!r}")
        self._require_leader()
        await self._authorized_removal(caller, target.id)
        await self._change("rem", target.raft)
        await self._node.proposer.submit(
            store_pb2.Command(
                request_id=uuid.uuid4().hex,
                principal=caller.principal,
                set_member=store_pb2.SetMember(member=store_pb2.Member(id=target.id), remove=True),
            )
        )
        return self._peers_response()

    async def _authorized_removal(self, caller: Caller, member_id: str) -> None:
        """Removing a voter is split-key: use an approved removal, or ask for one.

        With one approval required the request runs at once and is used here; otherwise
        the caller is told the operation id and runs remove-peer again once approved.
        """
        access = self._node.store.access
        approved = access.removals.get(member_id)
        if approved is None or approved.used or approved.expires_at_ms <= now_ms():
            operation = await request_approval(
                self._node,
                caller,
                "authorize_removal",
                store_pb2.AuthorizeRemoval(
                    member_id=member_id, expires_at_ms=now_ms() + REMOVAL_TTL_S * 1000
                ),
                ttl_s=REMOVAL_TTL_S,
                summary=f"remove node {member_id} from the cluster",
            )
            if operation.state != store_pb2.OPERATION_STATE_EXECUTED:
                raise FailedPrecondition(
                    f"removing {member_id} needs {operation.required} admin approvals: "
                    f"operation {operation.id} ({len(operation.approvals)} so far); run "
                    "remove-peer again once it is approved"
                )
        await self._node.proposer.submit(
            store_pb2.Command(
                request_id=uuid.uuid4().hex,
                principal=caller.principal,
                consume_removal=store_pb2.ConsumeRemoval(member_id=member_id),
            )
        )

    async def _change(self, kind: str, raft_address: str) -> None:
        raft = self._node.raft
        change = raft.add_member if kind == "add" else raft.remove_member
        try:
            await asyncio.to_thread(change, raft_address, MEMBERSHIP_TIMEOUT_S)
        except ProposalRejected as exc:
            raise FailedPrecondition(str(exc)) from exc
        except RaftError as exc:
            raise Unavailable(f"membership change failed: {exc}") from exc

    @rpc
    async def CreateJoinToken(
        self, request: operator_pb2.CreateJoinTokenRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.CreateJoinTokenResponse:
        caller = self._node.admin_caller(context)
        return await join.create_join_token(self._node, caller, request)

    @rpc
    async def Join(
        self, request: operator_pb2.JoinRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.JoinResponse:
        self._node.admin_caller(context)
        peer_id = await join.join(self._node, self._peers, request.token)
        return operator_pb2.JoinResponse(peer_id=peer_id, status=self._seal_status())

    @rpc
    async def ExchangeRootKey(
        self, request: operator_pb2.ExchangeRootKeyRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.ExchangeRootKeyResponse:
        return await join.exchange_root_key(self._node, caller_of(context), request)

    @rpc
    async def RequestSealMigration(
        self,
        request: operator_pb2.RequestSealMigrationRequest,
        context: grpc.aio.ServicerContext,
    ) -> operator_pb2.RequestSealMigrationResponse:
        caller = self._node.admin_caller(context)
        return await migration.request_migration(self._node, caller, request)

    @rpc
    async def MigrateSeal(
        self, request: operator_pb2.MigrateSealRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.SealStatusResponse:
        caller = self._node.admin_caller(context)
        await migration.migrate(self._node, caller, request.migration_id)
        return self._seal_status()
