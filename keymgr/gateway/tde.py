"""MariaDB TDE: the Vault KV-v2 subset that `hashicorp_key_management` calls.

MariaDB runs unmodified with its HashiCorp plugin pointed at the gateway. It asks:

  GET /v1/sys/mounts/<mount>/tune         -> {"options": {"version": "2"}}
  GET /v1/<mount>/data/<key id>[?version=N]
      -> {"data": {"data": {"data": "<64 hex>"}, "metadata": {"version": N}}}

with its token in `X-Vault-Token`. A token maps to a database identity (the config
holds only SHA-256 hashes of tokens); a numeric MariaDB key id maps to a managed TDE
key (`mariadb-<id>` unless the config maps it); a version is a key version. Each fetch
is GetMasterKey on the cluster, made as the gateway's own principal with the database
identity in the request, so policies can restrict each database (required_context on
db_id) and every fetch is in the cluster's audit log. The client fails over across
nodes; a fetch keeps trying for `failover_deadline_s` while nodes are unavailable.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from keymgr.client import (
    Client,
    FailedPrecondition,
    KeymgrError,
    MasterKey,
    NotFound,
    PermissionDenied,
)
from keymgr.gateway.cluster import ClusterUnavailable, with_failover
from keymgr.gateway.config import GatewayConfig, hash_token

log = logging.getLogger(__name__)


class MasterKeySource(Protocol):
    def get_master_key(self, db_id: str, key_id: str, *, version: int = 0) -> MasterKey: ...


class TdeGateway:
    """The request logic, separate from HTTP so it can be read (and tested) alone."""

    def __init__(self, config: GatewayConfig, client: MasterKeySource | None = None) -> None:
        self.config = config
        self.client: MasterKeySource = client or Client(
            config.addresses, credentials=config.credentials, timeout=config.timeout_s
        )

    def database_for(self, token: str | None) -> str | None:
        if not token:
            return None
        digest = hash_token(token)
        for known, db_id in self.config.tokens.items():
            if hmac.compare_digest(known, digest):
                return db_id
        return None

    def serves(self, path: str) -> bool:
        """Whether a request path is this part's (MariaDB's mount or its tune probe)."""
        mount = self.config.mount
        return path.startswith(f"/v1/{mount}/") or path == f"/v1/sys/mounts/{mount}/tune"

    def handle(self, method: str, target: str, token: str | None) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for one request."""
        if method != "GET":
            return 405, {"errors": ["only GET is served"]}
        db_id = self.database_for(token)
        if db_id is None:
            return 403, {"errors": ["permission denied"]}
        url = urlsplit(target)
        mount = self.config.mount
        if url.path == f"/v1/sys/mounts/{mount}/tune":
            return 200, {"options": {"version": "2"}, "type": "kv"}
        prefix = f"/v1/{mount}/data/"
        if not url.path.startswith(prefix) or not url.path[len(prefix) :].isdigit():
            return 404, {"errors": []}
        key_id = int(url.path[len(prefix) :])
        query = parse_qs(url.query)
        version_text = (query.get("version") or ["0"])[0]
        if not version_text.isdigit():
            return 400, {"errors": ["version: expected a number"]}
        return self._fetch(db_id, key_id, int(version_text))

    def _fetch(self, db_id: str, key_id: int, version: int) -> tuple[int, dict[str, Any]]:
        name = self.config.key_name(key_id)
        try:
            master = with_failover(
                lambda: self.client.get_master_key(db_id, name, version=version),
                self.config.failover_deadline_s,
                f"key {key_id} for {db_id}",
            )
        except ClusterUnavailable:
            return 503, {"errors": ["key manager unavailable"]}
        except NotFound:
            return 404, {"errors": []}
        except PermissionDenied:
            log.warning("key %d for %s: denied by the cluster", key_id, db_id)
            return 403, {"errors": ["permission denied"]}
        except FailedPrecondition as exc:
            log.warning("key %d for %s: %s", key_id, db_id, exc)
            return 404, {"errors": []}
        except KeymgrError as exc:
            log.warning("key %d for %s: %s", key_id, db_id, exc)
            return 500, {"errors": ["key manager error"]}
        log.info("served key %d version %d to %s", key_id, master.version, db_id)
        return 200, {
            "data": {
                "data": {"data": master.master_key.hex()},
                "metadata": {"version": master.version},
            }
        }
