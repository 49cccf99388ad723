"""Operator: one servicer composed of its parts, plus this node's and the cluster's status.

`OperatorServicer` is registered once; its RPCs live with their concern: the root key
and seals (`operator_seal`), backup and restore (`operator_snapshots`), membership and
joining (`operator_membership`). Here: status (local, cluster) and stepping down.
"""

from __future__ import annotations

import asyncio
import math

import grpc

from keymgr.node_errors import FailedPrecondition, NotFound, Unavailable
from keymgr.raft.node import RaftError
from keymgr.server.auth import caller_of, require_node_or_admin
from keymgr.server.context import NodeContext, zone_warnings
from keymgr.server.operator_membership import MembershipRpcs
from keymgr.server.operator_seal import SealRpcs
from keymgr.server.operator_snapshots import SnapshotRpcs
from keymgr.server.peers import Peers
from keymgr.server.read_gate import lag_entries
from keymgr.server.rpc import rpc
from keymgr.v1 import operator_pb2

PEER_STATUS_TIMEOUT_S = 1.5
ROLES = {
    "leader": operator_pb2.NODE_ROLE_LEADER,
    "follower": operator_pb2.NODE_ROLE_FOLLOWER,
    "candidate": operator_pb2.NODE_ROLE_CANDIDATE,
}


class OperatorServicer(SealRpcs, SnapshotRpcs, MembershipRpcs):
    def __init__(self, node: NodeContext, peers: Peers) -> None:
        self._node = node
        self._peers = peers
        self._snapshots = {}
        self._uploads = {}

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
        if caller.kind != "node" and not self._node.store.initialized:
            # who is an admin is in the state this node has not applied yet (a restarted
            # node replaying its journal, or a cluster not initialized): it cannot say no
            raise Unavailable(
                "this node holds no cluster state yet (not initialized, or still loading "
                "it): ask another node, or try again"
            )
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
        leader_commit = max((max(n.commit_index, n.leader_commit_index) for n in nodes), default=0)
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
