"""The operator RPCs for membership: list, add and remove peers (removal is split-key),
join tokens and joining. Part of `OperatorServicer` (a mixin)."""

from __future__ import annotations

import asyncio
import uuid

import grpc

from keymgr.node_errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from keymgr.raft.node import ProposalRejected, RaftError
from keymgr.raft.proposer import now_ms
from keymgr.server import join
from keymgr.server.approvals import request_approval
from keymgr.server.auth import Caller, caller_of
from keymgr.server.context import NodeContext, zone_warnings
from keymgr.server.operator_seal import seal_status
from keymgr.server.peers import Peers
from keymgr.server.rpc import rpc
from keymgr.v1 import operator_pb2, store_pb2

REMOVAL_TTL_S = 24 * 3600
MEMBERSHIP_TIMEOUT_S = 10.0


class MembershipRpcs:
    _node: NodeContext
    _peers: Peers

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
        except ProposalRejected:
            raise  # FAILED_PRECONDITION (server/rpc.py): not a peer, already a member
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
        return operator_pb2.JoinResponse(peer_id=peer_id, status=seal_status(self._node))

    @rpc
    async def ExchangeRootKey(
        self, request: operator_pb2.ExchangeRootKeyRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.ExchangeRootKeyResponse:
        return await join.exchange_root_key(self._node, caller_of(context), request)
