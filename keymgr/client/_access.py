"""Access calls (Access service): policies, roles, approval rules, split-key approvals,
key export and the caller's identity.

A change that needs approval returns its `PendingOperation`: it runs once enough admins
have approved it (`approve`), never at once.
"""

from __future__ import annotations

from typing import Any, cast

from keymgr.client._transport import Transport
from keymgr.v1 import access_pb2, store_pb2


class AccessCalls(Transport):
    """Client methods for access control, approvals and export."""

    def _access(self, method: str, request: Any, endpoint: str | None = None) -> Any:
        return self._call("access", method, request, endpoint=endpoint)

    def put_policy(
        self, policy: store_pb2.Policy, *, ttl_seconds: int = 0
    ) -> store_pb2.PendingOperation:
        response = self._access(
            "PutPolicy", access_pb2.PutPolicyRequest(policy=policy, ttl_seconds=ttl_seconds)
        )
        return cast("store_pb2.PendingOperation", response.operation)

    def get_policy(self, name: str) -> store_pb2.Policy:
        return cast(
            "store_pb2.Policy", self._access("GetPolicy", access_pb2.GetPolicyRequest(name=name))
        )

    def list_policies(self) -> list[store_pb2.Policy]:
        return list(self._access("ListPolicies", access_pb2.ListPoliciesRequest()).policies)

    def delete_policy(self, name: str, *, ttl_seconds: int = 0) -> store_pb2.PendingOperation:
        response = self._access(
            "DeletePolicy", access_pb2.DeletePolicyRequest(name=name, ttl_seconds=ttl_seconds)
        )
        return cast("store_pb2.PendingOperation", response.operation)

    def set_roles(
        self, principal: str, roles: list[str], *, ttl_seconds: int = 0
    ) -> store_pb2.PendingOperation:
        response = self._access(
            "SetRoles",
            access_pb2.SetRolesRequest(principal=principal, roles=roles, ttl_seconds=ttl_seconds),
        )
        return cast("store_pb2.PendingOperation", response.operation)

    def list_roles(self) -> list[store_pb2.RoleBinding]:
        return list(self._access("ListRoles", access_pb2.ListRolesRequest()).bindings)

    def set_approval_rule(
        self, kind: str, required: int, *, ttl_seconds: int = 0
    ) -> store_pb2.PendingOperation:
        response = self._access(
            "SetApprovalRule",
            access_pb2.SetApprovalRuleRequest(
                kind=kind, required=required, ttl_seconds=ttl_seconds
            ),
        )
        return cast("store_pb2.PendingOperation", response.operation)

    def destroy_key(self, name_or_id: str, *, ttl_seconds: int = 0) -> store_pb2.PendingOperation:
        response = self._access(
            "DestroyKey",
            access_pb2.DestroyKeyRequest(name_or_id=name_or_id, ttl_seconds=ttl_seconds),
        )
        return cast("store_pb2.PendingOperation", response.operation)

    def list_approvals(self, *, include_decided: bool = False) -> access_pb2.ListApprovalsResponse:
        return cast(
            "access_pb2.ListApprovalsResponse",
            self._access(
                "ListApprovals", access_pb2.ListApprovalsRequest(include_decided=include_decided)
            ),
        )

    def approve(self, operation_id: str) -> store_pb2.PendingOperation:
        response = self._access("Approve", access_pb2.DecideRequest(operation_id=operation_id))
        return cast("store_pb2.PendingOperation", response.operation)

    def reject(self, operation_id: str) -> store_pb2.PendingOperation:
        response = self._access("Reject", access_pb2.DecideRequest(operation_id=operation_id))
        return cast("store_pb2.PendingOperation", response.operation)

    def request_export(
        self, name_or_id: str, *, version: int = 0, ttl_seconds: int = 0
    ) -> store_pb2.PendingOperation:
        response = self._access(
            "RequestExport",
            access_pb2.RequestExportRequest(
                name_or_id=name_or_id, version=version, ttl_seconds=ttl_seconds
            ),
        )
        return cast("store_pb2.PendingOperation", response.operation)

    def export_key(
        self,
        grant_id: str,
        wrapping_public_key: bytes,
        *,
        destination: str = "",
        algorithm: str = "",
        kek_id: str = "",
        import_token: bytes = b"",
        destination_name: str = "",
        usage: str = "",
    ) -> access_pb2.ExportKeyResponse:
        """Uses an approved grant once. `destination`: "" (RSA-OAEP escrow), "rsa-aes",
        "aws", "gcp", "azure" or "openbao"; the payload comes back in its import format.
        `destination_name`: which one of that kind (account, project, vault, server).
        `usage`: "encrypt-decrypt" | "wrap-unwrap" | "generate-verify-mac" ("" = from
        the key's purpose), recorded with the export."""
        name = "EXPORT_DESTINATION_" + (destination or "unspecified").upper().replace("-", "_")
        if name not in set(access_pb2.ExportDestination.keys()):
            raise ValueError(f"unknown export destination {destination!r}")
        return cast(
            "access_pb2.ExportKeyResponse",
            self._access(
                "ExportKey",
                access_pb2.ExportKeyRequest(
                    grant_id=grant_id,
                    wrapping_public_key=wrapping_public_key,
                    destination=name,
                    algorithm=algorithm,
                    kek_id=kek_id,
                    import_token=import_token,
                    destination_name=destination_name,
                    usage=usage,
                ),
            ),
        )

    def list_export_bundles(self, name_or_id: str) -> list[store_pb2.ExportBundle]:
        """Every recorded export of a key, oldest first (no material: where, to whom)."""
        response = self._access(
            "ListExportBundles", access_pb2.ListExportBundlesRequest(name_or_id=name_or_id)
        )
        return list(response.bundles)

    def whoami(self) -> access_pb2.WhoAmIResponse:
        return cast("access_pb2.WhoAmIResponse", self._access("WhoAmI", access_pb2.WhoAmIRequest()))
