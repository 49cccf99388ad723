"""The `sys/` and `auth/token/` endpoints hvac and the bao/vault CLI call on their way:

- `GET sys/internal/ui/mounts/<mount>[/<path>]`: `bao kv` asks it before every command
  to learn the mount and that it is KV version 2 (OpenBao 2.7.2, seen on the wire);
- `GET auth/token/lookup-self`: hvac's `is_authenticated`, `bao token lookup`;
- `GET sys/mounts`, `GET sys/mounts/<mount>/tune`: mount listings and tuning probes;
- `GET|HEAD sys/health`, `GET sys/seal-status`: liveness probes (hvac's default health
  check is a HEAD). They describe the gateway, which holds no seal of its own.

Tokens are judged by the cluster (`LookupToken`), never here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from keymgr.client import KeymgrError
from keymgr.client._secrets import SecretsClient
from keymgr.gateway import replies
from keymgr.gateway.callers import Caller
from keymgr.gateway.cluster import ClusterUnavailable, with_failover
from keymgr.gateway.config import KvConfig
from keymgr.gateway.kv2 import error_reply
from keymgr.gateway.paths import Target
from keymgr.gateway.replies import Reply

SERVER_VERSION = "keymgr-gateway"


def mount_entry(mount: str) -> dict[str, Any]:
    """How a KV v2 mount is described in sys/mounts and sys/internal/ui/mounts."""
    return {
        "accessor": f"kv_{mount}",
        "config": {"default_lease_ttl": 0, "force_no_cache": False, "max_lease_ttl": 0},
        "description": "keymgr secrets (values encrypted under the mount's managed key)",
        "external_entropy_access": False,
        "local": False,
        "options": {"version": "2"},
        "seal_wrap": False,
        "type": "kv",
    }


class SysHandlers:
    def __init__(self, kv: KvConfig | None, failover_deadline_s: float) -> None:
        self.kv = kv
        self.failover_deadline_s = failover_deadline_s

    def handle(
        self,
        method: str,
        target: Target,
        caller: Caller | None,
        secrets_for: Callable[[Caller], SecretsClient],
    ) -> Reply:
        path = target.segments
        if path == ("sys", "health") and method in ("GET", "HEAD"):
            return replies.Reply(200, self._health())
        if path == ("sys", "seal-status") and method == "GET":
            return replies.Reply(200, self._seal_status())
        if self.kv is None:  # a TDE-only gateway answers the probes above only
            return replies.error(404, "no handler for route")
        if caller is None:
            return replies.denied()
        secrets = secrets_for(caller)
        try:
            if path == ("auth", "token", "lookup-self") and method in ("GET", "POST"):
                return self._lookup_self(caller, secrets)
            if method != "GET":
                return replies.error(405, "unsupported operation")
            if path[:4] == ("sys", "internal", "ui", "mounts") and len(path) > 4:
                return self._preflight(caller, secrets, path[4])
            if path == ("sys", "mounts"):
                return self._mounts(secrets)
            if len(path) == 4 and path[:2] == ("sys", "mounts") and path[3] == "tune":
                return self._tune(path[2])
        except (KeymgrError, ClusterUnavailable) as exc:
            return error_reply(exc)
        return replies.error(404, "no handler for route")

    def _serves(self, mount: str) -> bool:
        return self.kv is not None and self.kv.serves(mount)

    def _preflight(self, caller: Caller, secrets: SecretsClient, mount: str) -> Reply:
        if caller.token:  # an invalid token is refused here, as OpenBao does
            with_failover(secrets.lookup_token, self.failover_deadline_s, "lookup-self")
        if not self._serves(mount):
            return replies.error(
                403,
                f"preflight capability check returned 403, please ensure client's "
                f'policies grant access to path "{mount}/"',
            )
        return replies.ok({**mount_entry(mount), "path": f"{mount}/"})

    def _lookup_self(self, caller: Caller, secrets: SecretsClient) -> Reply:
        if not caller.token:
            return replies.denied()
        info = with_failover(secrets.lookup_token, self.failover_deadline_s, "lookup-self")
        now = time.time()
        return replies.ok(
            {
                "accessor": info.accessor,
                "creation_time": int(info.created_time),
                "creation_ttl": max(0, int(info.expire_time - info.created_time)),
                "display_name": info.display_name,
                "entity_id": "",
                "expire_time": replies.rfc3339(info.expire_time) or None,
                "explicit_max_ttl": 0,
                "issue_time": replies.rfc3339(info.created_time),
                "meta": {"principal": info.principal},
                "num_uses": 0,
                "orphan": True,
                "path": "auth/token/create",
                "policies": [],
                "renewable": False,
                "ttl": max(0, int(info.expire_time - now)),
                "type": "service",
            }
        )

    def _mounts(self, secrets: SecretsClient) -> Reply:
        if self.kv is None:
            return replies.ok({})
        mounts = with_failover(secrets.list_mounts, self.failover_deadline_s, "sys/mounts")
        entries = {f"{m.mount}/": mount_entry(m.mount) for m in mounts if self._serves(m.mount)}
        return replies.Reply(200, {**entries, **replies.envelope(entries)})

    def _tune(self, mount: str) -> Reply:
        if not self._serves(mount):
            return replies.error(400, "cannot fetch sysview for path")
        tune = {
            "default_lease_ttl": 0,
            "max_lease_ttl": 0,
            "force_no_cache": False,
            "description": mount_entry(mount)["description"],
            "options": {"version": "2"},
        }
        return replies.Reply(200, {**tune, **replies.envelope(tune)})

    @staticmethod
    def _health() -> dict[str, Any]:
        return {
            "initialized": True,
            "sealed": False,
            "standby": False,
            "performance_standby": False,
            "replication_performance_mode": "disabled",
            "replication_dr_mode": "disabled",
            "server_time_utc": int(time.time()),
            "version": SERVER_VERSION,
        }

    @staticmethod
    def _seal_status() -> dict[str, Any]:
        return {
            "type": "shamir",
            "initialized": True,
            "sealed": False,
            "t": 1,
            "n": 1,
            "progress": 0,
            "nonce": "",
            "version": SERVER_VERSION,
            "migration": False,
            "recovery_seal": False,
            "storage_type": "raft",
        }
