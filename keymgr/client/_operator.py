"""Operator calls (Operator service): init, seal and unseal, status, joining nodes,
seal migration, leadership, keyring and root rotation, peers.

Init and RotateRoot are sent at most once (`at_most_once`): their reply holds the only
copy of the unseal shares, so a call that may have run is never sent again.
"""

from __future__ import annotations

import uuid
from typing import cast

from keymgr.client._transport import Transport
from keymgr.v1 import operator_pb2


class OperatorCalls(Transport):
    """Client methods for operating a cluster; calls about one node take `endpoint`."""

    def init(
        self,
        *,
        shares: int = 5,
        threshold: int = 3,
        approvals_required: int = 0,
        endpoint: str | None = None,
    ) -> operator_pb2.InitResponse:
        return cast(
            "operator_pb2.InitResponse",
            self._call(
                "operator",
                "Init",
                operator_pb2.InitRequest(
                    secret_shares=shares,
                    secret_threshold=threshold,
                    approvals_required=approvals_required,
                ),
                endpoint=endpoint,
                at_most_once=True,
            ),
        )

    def unseal(
        self, share: str, *, endpoint: str, reset: bool = False
    ) -> operator_pb2.SealStatusResponse:
        return cast(
            "operator_pb2.SealStatusResponse",
            self._call(
                "operator",
                "Unseal",
                operator_pb2.UnsealRequest(share=share, reset=reset),
                endpoint=endpoint,
            ),
        )

    def seal(self, *, endpoint: str) -> operator_pb2.SealStatusResponse:
        return cast(
            "operator_pb2.SealStatusResponse",
            self._call("operator", "Seal", operator_pb2.SealRequest(), endpoint=endpoint),
        )

    def local_status(self, *, endpoint: str | None = None) -> operator_pb2.NodeStatus:
        """One node's own view (role, term, indexes, sealed, serving and why not)."""
        return cast(
            "operator_pb2.NodeStatus",
            self._call(
                "operator", "LocalStatus", operator_pb2.LocalStatusRequest(), endpoint=endpoint
            ),
        )

    def seal_status(self, *, endpoint: str) -> operator_pb2.SealStatusResponse:
        return cast(
            "operator_pb2.SealStatusResponse",
            self._call(
                "operator", "SealStatus", operator_pb2.SealStatusRequest(), endpoint=endpoint
            ),
        )

    def create_join_token(
        self, node_id: str, *, ttl_seconds: int = 0
    ) -> operator_pb2.CreateJoinTokenResponse:
        """A one-use token for `node_id` to fetch the root key (after its approval)."""
        return cast(
            "operator_pb2.CreateJoinTokenResponse",
            self._call(
                "operator",
                "CreateJoinToken",
                operator_pb2.CreateJoinTokenRequest(node_id=node_id, ttl_seconds=ttl_seconds),
            ),
        )

    def join(self, token: str, *, endpoint: str) -> operator_pb2.JoinResponse:
        """Tells the node at `endpoint` to fetch the root key from a peer with `token`."""
        return cast(
            "operator_pb2.JoinResponse",
            self._call(
                "operator", "Join", operator_pb2.JoinRequest(token=token), endpoint=endpoint
            ),
        )

    def request_seal_migration(
        self, node_id: str, to_type: str, *, ttl_seconds: int = 0
    ) -> operator_pb2.RequestSealMigrationResponse:
        """Asks the admins to approve moving `node_id`'s seal to `to_type`."""
        return cast(
            "operator_pb2.RequestSealMigrationResponse",
            self._call(
                "operator",
                "RequestSealMigration",
                operator_pb2.RequestSealMigrationRequest(
                    node_id=node_id, to_type=to_type, ttl_seconds=ttl_seconds
                ),
            ),
        )

    def migrate_seal(self, migration_id: str, *, endpoint: str) -> operator_pb2.SealStatusResponse:
        """Tells the node at `endpoint` to re-seal its root key per its edited config."""
        return cast(
            "operator_pb2.SealStatusResponse",
            self._call(
                "operator",
                "MigrateSeal",
                operator_pb2.MigrateSealRequest(migration_id=migration_id),
                endpoint=endpoint,
            ),
        )

    def cluster_status(self, *, endpoint: str | None = None) -> operator_pb2.ClusterStatusResponse:
        return cast(
            "operator_pb2.ClusterStatusResponse",
            self._call(
                "operator", "ClusterStatus", operator_pb2.ClusterStatusRequest(), endpoint=endpoint
            ),
        )

    def step_down(
        self, *, target_node_id: str = "", endpoint: str | None = None
    ) -> operator_pb2.StepDownResponse:
        return cast(
            "operator_pb2.StepDownResponse",
            self._call(
                "operator",
                "StepDown",
                operator_pb2.StepDownRequest(target_node_id=target_node_id),
                endpoint=endpoint,
            ),
        )

    def rotate_keyring(self, *, request_id: str | None = None) -> int:
        rid = request_id or uuid.uuid4().hex
        response = self._call(
            "operator",
            "RotateKeyring",
            operator_pb2.RotateKeyringRequest(request_id=rid),
            request_id=rid,
        )
        term: int = response.active_term
        return term

    def rotate_root(
        self,
        *,
        shares: int = 0,
        threshold: int = 0,
        ttl_seconds: int = 0,
        operation_id: str | None = None,
    ) -> operator_pb2.RotateRootResponse:
        """Requests a new root key and new unseal shares (split-key). The reply holds the
        new shares once; it is not resent once the request may have run: then look up
        `operation_id` (made here when not given; it is on the error) in the approvals."""
        op_id = operation_id or uuid.uuid4().hex
        return cast(
            "operator_pb2.RotateRootResponse",
            self._call(
                "operator",
                "RotateRoot",
                operator_pb2.RotateRootRequest(
                    secret_shares=shares,
                    secret_threshold=threshold,
                    ttl_seconds=ttl_seconds,
                    operation_id=op_id,
                ),
                request_id=op_id,
                at_most_once=True,
            ),
        )

    def list_peers(self, *, endpoint: str | None = None) -> operator_pb2.PeersResponse:
        return cast(
            "operator_pb2.PeersResponse",
            self._call("operator", "ListPeers", operator_pb2.ListPeersRequest(), endpoint=endpoint),
        )

    def add_peer(
        self, node_id: str, *, api: str, raft: str, zone: str = "", endpoint: str | None = None
    ) -> operator_pb2.PeersResponse:
        return cast(
            "operator_pb2.PeersResponse",
            self._call(
                "operator",
                "AddPeer",
                operator_pb2.AddPeerRequest(
                    id=node_id, api_address=api, raft_address=raft, zone=zone
                ),
                endpoint=endpoint,
            ),
        )

    def remove_peer(
        self, node_id: str, *, endpoint: str | None = None
    ) -> operator_pb2.PeersResponse:
        return cast(
            "operator_pb2.PeersResponse",
            self._call(
                "operator",
                "RemovePeer",
                operator_pb2.RemovePeerRequest(id=node_id),
                endpoint=endpoint,
            ),
        )
