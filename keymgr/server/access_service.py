"""Access: policies, roles and the M-of-N approval flow.

Every change is a split-key operation: the servicer wraps it in a RequestApproval; the
state machine runs it when enough distinct admins approved (the requester counts as
one), so with one required approval it runs at once.
"""

from __future__ import annotations

import uuid

import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from keymgr.crypto.key_export import wrap
from keymgr.node_errors import (
    CommandRejected,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from keymgr.raft.proposer import now_ms
from keymgr.server import key_export
from keymgr.server.approvals import DEFAULT_TTL_S, expiry_ms, request_approval
from keymgr.server.audit_target import note_detail, note_key
from keymgr.server.auth import Caller, caller_of
from keymgr.server.context import NodeContext
from keymgr.server.rpc import rpc
from keymgr.store.access import KINDS, check_policy
from keymgr.store.keystore_validation import (
    HSM_NOT_EXPORTABLE,
    NOT_EXPORTABLE,
    CommandRefused,
)
from keymgr.v1 import access_pb2, keys_pb2, store_pb2


def wrapping_key(pem: bytes) -> rsa.RSAPublicKey:
    """The grantee's RSA public key (>= 3072 bits) that exported material is sealed to."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise InvalidArgument("wrapping_public_key", "not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 3072:
        raise InvalidArgument("wrapping_public_key", "must be an RSA key of at least 3072 bits")
    return key


def check_exportable(key: keys_pb2.Key) -> None:
    """HSM-held and non-exportable keys get no grant and no export (the state machine
    refuses the grant too); FailedPrecondition saying which."""
    if key.purpose == keys_pb2.KEY_PURPOSE_HSM:
        raise FailedPrecondition(HSM_NOT_EXPORTABLE)
    if key.non_exportable:
        raise FailedPrecondition(NOT_EXPORTABLE)


class AccessServicer:
    def __init__(self, node: NodeContext) -> None:
        self._node = node

    def _admin(self, context: grpc.aio.ServicerContext) -> Caller:
        """The admin caller, judged (and then served) on state within the staleness bound:
        policies and roles are read from this node's applied state."""
        self._node.check_fresh()
        return self._node.admin_caller(context)

    async def _request(
        self,
        caller: Caller,
        op: str,
        message: object,
        ttl_s: int,
        summary: str,
        *,
        set_grant_id: bool = False,
    ) -> access_pb2.ApprovalResponse:
        operation = await request_approval(
            self._node,
            caller,
            op,
            message,
            ttl_s=ttl_s,
            summary=summary,
            set_grant_id=set_grant_id,
        )
        return access_pb2.ApprovalResponse(operation=operation)

    @rpc
    async def PutPolicy(
        self, request: access_pb2.PutPolicyRequest, context: grpc.aio.ServicerContext
    ) -> access_pb2.ApprovalResponse:
        caller = self._admin(context)
        policy = request.policy
        try:
            check_policy(policy)
        except CommandRefused as refused:
            raise CommandRejected(refused.message) from None
        summary = (
            f"put policy {policy.name!r}: {','.join(policy.operations)} on "
            f"{','.join(policy.key_patterns)} for {','.join([*policy.principals, *policy.roles])}"
        )
        return await self._request(
            caller, "put_policy", store_pb2.PutPolicy(policy=policy), request.ttl_seconds, summary
        )

    @rpc
    async def GetPolicy(
        self, request: access_pb2.GetPolicyRequest, context: grpc.aio.ServicerContext
    ) -> store_pb2.Policy:
        self._admin(context)
        policy = self._node.store.access.policies.get(request.name)
        if policy is None:
            raise NotFound(f"name: no policy {request.name!r}")
        return policy

    @rpc
    async def ListPolicies(
        self, request: access_pb2.ListPoliciesRequest, context: grpc.aio.ServicerContext
    ) -> access_pb2.ListPoliciesResponse:
        self._admin(context)
        policies = self._node.store.access.policies
        return access_pb2.ListPoliciesResponse(policies=[policies[n] for n in sorted(policies)])

    @rpc
    async def DeletePolicy(
        self, request: access_pb2.DeletePolicyRequest, context: grpc.aio.ServicerContext
    ) -> access_pb2.ApprovalResponse:
        caller = self._admin(context)
        if request.name not in self._node.store.access.policies:
            raise NotFound(f"name: no policy {request.name!r}")
        return await self._request(
            caller,
            "delete_policy",
            store_pb2.DeletePolicy(name=request.name),
            request.ttl_seconds,
            f"delete policy {request.name!r}",
        )

    @rpc
    async def SetRoles(
        self, request: access_pb2.SetRolesRequest, context: grpc.aio.ServicerContext
    ) -> access_pb2.ApprovalResponse:
        caller = self._admin(context)
        if not request.principal:
            raise InvalidArgument("principal", "must not be empty")
        binding = store_pb2.RoleBinding(principal=request.principal, roles=request.roles)
        return await self._request(
            caller,
            "set_roles",
            store_pb2.SetRoles(binding=binding),
            request.ttl_seconds,
            f"set roles of {request.principal!r} to {sorted(request.roles)}",
        )

    @rpc
    async def ListRoles(
        self, request: access_pb2.ListRolesRequest, context: grpc.aio.ServicerContext
    ) -> access_pb2.ListRolesResponse:
        self._admin(context)
        roles = self._node.store.access.roles
        return access_pb2.ListRolesResponse(
            bindings=[store_pb2.RoleBinding(principal=p, roles=roles[p]) for p in sorted(roles)]
        )

    @rpc
    async def SetApprovalRule(
        self, request: access_pb2.SetApprovalRuleRequest, context: grpc.aio.ServicerContext
    ) -> access_pb2.ApprovalResponse:
        caller = self._admin(context)
        if request.kind not in KINDS:
            raise InvalidArgument("kind", f"one of {sorted(KINDS)}")
        rule = store_pb2.ApprovalRule(kind=request.kind, required=request.required)
        return await self._request(
            caller,
            "set_approval_rule",
            store_pb2.SetApprovalRule(rule=rule),
            request.ttl_seconds,
            f"require {request.required} approvals for {request.kind}",
        )

    @rpc
    async def DestroyKey(
        self, request: access_pb2.DestroyKeyRequest, context: grpc.aio.ServicerContext
    ) -> access_pb2.ApprovalResponse:
        caller = self._admin(context)
        stored = self._node.find_key("name_or_id", request.name_or_id)
        return await self._request(
            caller,
            "destroy_key",
            store_pb2.DestroyKey(key_id=stored.key.id),
            request.ttl_seconds,
            f"destroy key {stored.key.name!r} ({stored.key.id}) now",
        )

    @rpc
    async def ListApprovals(
        self, request: access_pb2.ListApprovalsRequest, context: grpc.aio.ServicerContext
    ) -> access_pb2.ListApprovalsResponse:
        self._admin(context)
        access = self._node.store.access
        operations = [
            op
            for op in access.operations.values()
            if request.include_decided or op.state == store_pb2.OPERATION_STATE_PENDING
        ]
        rules = [store_pb2.ApprovalRule(kind=k, required=access.required(k)) for k in sorted(KINDS)]
        return access_pb2.ListApprovalsResponse(operations=operations, rules=rules)

    async def _decide(
        self, context: grpc.aio.ServicerContext, operation_id: str, approve: bool
    ) -> access_pb2.ApprovalResponse:
        caller = self._admin(context)
        pending = await self._node.find_after_commit(
            lambda: self._node.store.access.operations.get(operation_id)
        )
        if pending is None:
            raise NotFound(f"operation_id: no operation {operation_id!r}")
        command = store_pb2.Command(
            request_id=f"decide-{operation_id}-{uuid.uuid4().hex[:8]}",
            principal=caller.principal,
            decide_approval=store_pb2.DecideApproval(operation_id=operation_id, approve=approve),
        )
        result = await self._node.proposer.submit(command)
        return access_pb2.ApprovalResponse(operation=result.operation)

    @rpc
    async def Approve(
        self, request: access_pb2.DecideRequest, context: grpc.aio.ServicerContext
    ) -> access_pb2.ApprovalResponse:
        return await self._decide(context, request.operation_id, True)

    @rpc
    async def Reject(
        self, request: access_pb2.DecideRequest, context: grpc.aio.ServicerContext
    ) -> access_pb2.ApprovalResponse:
        return await self._decide(context, request.operation_id, False)

    @rpc
    async def RequestExport(
        self, request: access_pb2.RequestExportRequest, context: grpc.aio.ServicerContext
    ) -> access_pb2.ApprovalResponse:
        caller = self._admin(context)
        stored = self._node.find_key("name_or_id", request.name_or_id)
        check_exportable(stored.key)
        version = request.version or stored.key.current_version
        self._node.materials.require_unexpired(stored, version)
        if version not in stored.wrapped_material:
            raise NotFound(f"version: key {stored.key.name!r} has no version {version}")
        ttl_s = request.ttl_seconds or DEFAULT_TTL_S
        expiry_ms(ttl_s)  # InvalidArgument past MAX_TTL_S, before the grant's uint64 overflows
        grant = store_pb2.ExportGrant(
            key_id=stored.key.id,
            version=version,
            grantee=caller.principal,
            expires_at_ms=now_ms() + 2 * ttl_s * 1000,
        )
        return await self._request(
            caller,
            "grant_export",
            store_pb2.GrantExport(grant=grant),
            ttl_s,
            f"export key {stored.key.name!r} version {version} to {caller.principal}",
            set_grant_id=True,
        )

    @rpc
    async def ExportKey(
        self, request: access_pb2.ExportKeyRequest, context: grpc.aio.ServicerContext
    ) -> access_pb2.ExportKeyResponse:
        caller = self._admin(context)
        public_key = wrapping_key(request.wrapping_public_key)
        plan = key_export.plan_for(request, public_key)
        grant = await self._node.find_after_commit(
            lambda: self._node.store.access.grants.get(request.grant_id)
        )
        if grant is None or grant.grantee != caller.principal:
            raise NotFound("grant_id: no export grant with this id for this principal")
        self._node.check_serving()
        stored = self._node.find_key("grant_id", grant.key_id)
        note_key(stored.key.id, grant.version)
        check_exportable(stored.key)
        usage = key_export.usage_for(request.usage, plan.destination, stored.key.purpose)
        self._node.materials.require_unexpired(stored, grant.version)  # before the grant
        if not stored.wrapped_material.get(grant.version):
            raise FailedPrecondition(f"key version {grant.version} no longer exists")
        await self._node.proposer.submit(  # exactly once, cluster-wide, before any bytes leave
            store_pb2.Command(
                request_id=f"export-{grant.id}-{uuid.uuid4().hex[:8]}",
                principal=caller.principal,
                use_export_grant=store_pb2.UseExportGrant(
                    grant_id=grant.id,
                    bundle=key_export.bundle_for(plan, request.destination_name, usage),
                ),
            )
        )
        approval = self._node.store.access.operations.get(grant.id)
        approvers = list(approval.approvals) if approval else []
        note_detail(key_export.audit_line(plan, request.destination_name, approvers, usage))
        payload = self._node.materials.with_plaintext(
            stored, grant.version, lambda material: wrap(plan, bytes(material))
        )
        return access_pb2.ExportKeyResponse(
            key_id=stored.key.id,
            version=grant.version,
            wrapped_key=payload,
            algorithm=plan.algorithm,
            destination=request.destination,
            import_token=request.import_token,
            bundle_id=grant.id,
        )

    @rpc
    async def ListExportBundles(
        self, request: access_pb2.ListExportBundlesRequest, context: grpc.aio.ServicerContext
    ) -> access_pb2.ListExportBundlesResponse:
        self._admin(context)
        stored = self._node.find_key("name_or_id", request.name_or_id)
        note_key(stored.key.id)
        return access_pb2.ListExportBundlesResponse(
            bundles=self._node.store.access.bundles_of(stored.key.id)
        )

    @rpc
    async def WhoAmI(
        self, request: access_pb2.WhoAmIRequest, context: grpc.aio.ServicerContext
    ) -> access_pb2.WhoAmIResponse:
        caller = caller_of(context)
        self._node.check_fresh()
        return access_pb2.WhoAmIResponse(
            principal=caller.principal, roles=self._node.store.access.roles_of(caller.principal)
        )
