"""The KV v2 endpoints of one request, made on the cluster as the caller.

    GET    <mount>/data/<path>[?version=N]   read (404 with data+metadata if deleted)
    POST|PUT <mount>/data/<path>             write {"data": {...}, "options": {"cas": N}}
    PATCH  <mount>/data/<path>               merge patch (application/merge-patch+json)
    DELETE <mount>/data/<path>               soft-delete the current version
    POST|PUT <mount>/delete|undelete|destroy/<path>   {"versions": [...]}
    GET    <mount>/metadata/<path>           metadata; LIST, or GET ?list=true: children
    POST|PUT|PATCH <mount>/metadata/<path>   max_versions, cas_required,
                                             delete_version_after, custom_metadata
    DELETE <mount>/metadata/<path>           the path and all its versions
    GET    <mount>/subkeys/<path>            the keys of a version, values as null
    GET|POST|PUT <mount>/config              the mount's defaults

Cluster errors become KV v2 ones: NotFound 404 (`{"errors": []}`), PermissionDenied
and Unauthenticated 403 "permission denied", a check-and-set mismatch 400 with Vault's
message, InvalidArgument 400 naming the field, no node within the failover deadline 503.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from keymgr.client import (
    FailedPrecondition,
    InvalidArgument,
    KeymgrError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from keymgr.client._secrets import Secret, SecretMetadata, SecretsClient, SecretVersion
from keymgr.gateway import bodies, replies
from keymgr.gateway.bodies import BadBody
from keymgr.gateway.cluster import ClusterUnavailable, with_failover
from keymgr.gateway.paths import Target
from keymgr.gateway.replies import Reply
from keymgr.store.secrets_validation import path_problem, prefix_problem

log = logging.getLogger(__name__)

T = TypeVar("T")
MERGE_PATCH = "application/merge-patch+json"
PATH_OPERATIONS = frozenset({"data", "metadata", "delete", "undelete", "destroy", "subkeys"})


def version_fields(version: SecretVersion) -> dict[str, Any]:
    return {
        "created_time": replies.rfc3339(version.created_time),
        "deletion_time": replies.rfc3339(version.deletion_time),
        "destroyed": version.destroyed,
    }


def written(version: SecretVersion) -> dict[str, Any]:
    return {**version_fields(version), "custom_metadata": None, "version": version.version}


def read_body(secret: Secret) -> dict[str, Any]:
    metadata = {
        **version_fields(secret.version),
        "custom_metadata": secret.custom_metadata or None,
        "version": secret.version.version,
    }
    return {"data": secret.data, "metadata": metadata}


def metadata_body(meta: SecretMetadata) -> dict[str, Any]:
    return {
        "cas_required": meta.cas_required,
        "created_time": replies.rfc3339(meta.created_time),
        "current_version": meta.current_version,
        "custom_metadata": meta.custom_metadata or None,
        "delete_version_after": replies.go_duration(meta.delete_version_after_s),
        "max_versions": meta.max_versions,
        "oldest_version": meta.oldest_version,
        "updated_time": replies.rfc3339(meta.updated_time),
        "versions": {str(n): version_fields(v) for n, v in sorted(meta.versions.items())},
    }


def subkeys(value: Any, depth: int, level: int = 1) -> Any:
    """The structure of `value` with every leaf as None (KV v2 `subkeys`)."""
    if not isinstance(value, dict) or (depth and level > depth):
        return None
    return {k: subkeys(v, depth, level + 1) for k, v in value.items()}


def error_reply(exc: Exception) -> Reply:
    """A cluster error as KV v2 says it; never a value, only the cluster's field message."""
    if isinstance(exc, NotFound):
        return replies.error(404)
    if isinstance(exc, PermissionDenied | Unauthenticated):
        return replies.denied()
    if isinstance(exc, FailedPrecondition) and str(exc).startswith("cas:"):
        required = str(exc).startswith("cas: required")  # else "cas: mismatch: ..."
        return replies.error(400, replies.CAS_REQUIRED if required else replies.CAS_MISMATCH)
    if isinstance(exc, InvalidArgument | FailedPrecondition):
        return replies.error(400, str(exc))
    if isinstance(exc, ClusterUnavailable):
        return replies.error(503, "key manager unavailable")
    if isinstance(exc, BadBody):
        return replies.error(exc.status, str(exc))
    log.warning("secrets call failed: %s", type(exc).__name__)
    return replies.error(500, "key manager error")


class KvHandlers:
    """One mount's endpoints; `secrets` is already the caller's (with_token/forwarded)."""

    def __init__(self, failover_deadline_s: float) -> None:
        self.failover_deadline_s = failover_deadline_s

    def _run(self, call: Callable[[], T], what: str) -> T:
        return with_failover(call, self.failover_deadline_s, what)

    def _write(self, call: Callable[[str], T], what: str) -> T:
        """One HTTP write is one request id, however often the failover sends it: the
        cluster applies it at most once."""
        request_id = uuid.uuid4().hex
        return with_failover(lambda: call(request_id), self.failover_deadline_s, what)

    def handle(
        self,
        secrets: SecretsClient,
        method: str,
        target: Target,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Reply:
        mount = target.segments[0]
        operation = target.segments[1] if len(target.segments) > 1 else ""
        try:
            if operation == "config" and len(target.segments) == 2 and not target.folder:
                return self._config(secrets, method, mount, body)
            if operation not in PATH_OPERATIONS:
                return replies.error(404, "no handler for route")
            path = target.rest(2)
            listing = method == "LIST" or (
                method == "GET" and target.query.get("list", "").lower() == "true"
            )
            if operation == "metadata" and listing:
                prefix = f"{path}/" if path else ""
                if problem := prefix_problem(prefix):
                    return replies.error(400, f"path: {problem}")
                keys = self._run(lambda: secrets.list(mount, prefix), f"list {mount}")
                return replies.ok({"keys": keys})
            if not path or target.folder:
                return replies.error(400, "path: a secret path is required (no trailing /)")
            if problem := path_problem(path):  # the cluster checks again; this saves a trip
                return replies.error(400, f"path: {problem}")
            return self._path(secrets, method, operation, mount, path, target, headers, body)
        except (KeymgrError, ClusterUnavailable, BadBody) as exc:
            return error_reply(exc)

    def _path(
        self,
        secrets: SecretsClient,
        method: str,
        operation: str,
        mount: str,
        path: str,
        target: Target,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Reply:
        what = f"{operation} {mount}"
        writing = method in ("POST", "PUT")
        if operation == "data":
            if method == "GET":
                version = bodies.whole_number(target.query.get("version", "0"), "version")
                secret = self._run(lambda: secrets.get(mount, path, version=version), what)
                found = read_body(secret)
                return replies.ok(found, 200 if secret.data is not None else 404)
            if writing or method == "PATCH":
                if method == "PATCH" and not _is_merge_patch(headers):
                    return _needs_merge_patch(headers)
                request = bodies.json_object(body)
                data, cas = bodies.secret_data(request), bodies.cas_option(request)
                write = secrets.patch if method == "PATCH" else secrets.put
                version_info = self._write(
                    lambda rid: write(mount, path, data, cas=cas, request_id=rid), what
                )
                return replies.ok(written(version_info))
            if method == "DELETE":
                self._write(lambda rid: secrets.delete(mount, path, request_id=rid), what)
                return replies.no_content()
        elif operation in ("delete", "undelete", "destroy") and writing:
            numbers = bodies.versions(bodies.json_object(body))
            action = {
                "delete": secrets.delete,
                "undelete": secrets.undelete,
                "destroy": secrets.destroy,
            }[operation]
            self._write(lambda rid: action(mount, path, numbers, request_id=rid), what)
            return replies.no_content()
        elif operation == "metadata":
            if method == "GET":
                meta = self._run(lambda: secrets.read_metadata(mount, path), what)
                return replies.ok(metadata_body(meta))
            if writing or method == "PATCH":
                return self._write_metadata(secrets, method, mount, path, headers, body)
            if method == "DELETE":
                self._write(lambda rid: secrets.delete_metadata(mount, path, request_id=rid), what)
                return replies.no_content()
        elif operation == "subkeys" and method == "GET":
            version = bodies.whole_number(target.query.get("version", "0"), "version")
            depth = bodies.whole_number(target.query.get("depth", "0"), "depth", high=64)
            secret = self._run(lambda: secrets.get(mount, path, version=version), what)
            if secret.data is None:
                return replies.ok(read_body(secret) | {"data": None}, 404)
            return replies.ok(
                {"subkeys": subkeys(secret.data, depth), "metadata": read_body(secret)["metadata"]}
            )
        return replies.error(405, "unsupported operation")

    def _write_metadata(
        self,
        secrets: SecretsClient,
        method: str,
        mount: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Reply:
        if method == "PATCH" and not _is_merge_patch(headers):
            return _needs_merge_patch(headers)
        request = bodies.json_object(body, required=False)
        custom: dict[str, str] | None = None
        if request.get("custom_metadata") is not None:
            if method == "PATCH":  # merge: a null value removes the key
                patch = request["custom_metadata"]
                if not isinstance(patch, dict):
                    raise BadBody(400, "custom_metadata: expected a JSON object")
                current = self._run(lambda: secrets.read_metadata(mount, path), "metadata")
                merged = dict(current.custom_metadata)
                for key, value in patch.items():
                    if value is None:
                        merged.pop(key, None)
                    else:
                        merged[key] = value
                custom = bodies.custom_metadata(merged)
            else:
                custom = bodies.custom_metadata(request["custom_metadata"])
        arguments: dict[str, Any] = {**_defaults(request), "custom_metadata": custom}
        self._write(
            lambda rid: secrets.write_metadata(mount, path, **arguments, request_id=rid), "metadata"
        )
        return replies.no_content()

    def _config(self, secrets: SecretsClient, method: str, mount: str, body: bytes) -> Reply:
        if method == "GET":
            config = self._run(lambda: secrets.read_config(mount), f"config {mount}")
        elif method in ("POST", "PUT"):
            arguments = _defaults(bodies.json_object(body, required=False))
            self._write(
                lambda rid: secrets.write_config(mount, **arguments, request_id=rid),
                f"config {mount}",
            )
            return replies.no_content()
        else:
            return replies.error(405, "unsupported operation")
        return replies.ok(
            {
                "cas_required": config.cas_required,
                "delete_version_after": replies.go_duration(config.delete_version_after_s),
                "max_versions": config.max_versions,
            }
        )


def _is_merge_patch(headers: Mapping[str, str]) -> bool:
    return headers.get("content-type", "").split(";")[0].strip().lower() == MERGE_PATCH


def _needs_merge_patch(headers: Mapping[str, str]) -> Reply:
    given = headers.get("content-type", "")[:64] or "none"
    return replies.error(415, f"PATCH requires Content-Type of {MERGE_PATCH}, provided {given}")


def _defaults(request: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a mount's config and a path's metadata share (None: unchanged)."""
    return {
        "max_versions": bodies.number_field(request, "max_versions"),
        "cas_required": bodies.optional_bool(request, "cas_required"),
        "delete_version_after_s": bodies.duration_field(request, "delete_version_after"),
    }
