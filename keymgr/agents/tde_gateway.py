"""MariaDB TDE gateway: the Vault KV-v2 subset that `hashicorp_key_management` calls.

MariaDB runs unmodified with its HashiCorp plugin pointed here. It asks:

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

The listener is `keymgr.bounded_http`: each TLS handshake runs on its own within 5 s,
a request head must arrive within 10 s, at most 256 connections (the oldest idle one
makes room for a new one), no request bodies. Idle or slow clients cannot hold up the
fetches of the others (`docs/threat-model.md` (g)).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from keymgr.bounded_http import BoundedHttpServer, Handler, Request, Response
from keymgr.client import (
    Client,
    Credentials,
    FailedPrecondition,
    KeymgrError,
    NotFound,
    PermissionDenied,
    RetryableError,
)
from keymgr.listen_limits import TDE_GATEWAY
from keymgr.tls13 import ssl_context

log = logging.getLogger(__name__)

_HEX64 = re.compile(r"[0-9a-f]{64}")
_MOUNT = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class GatewayConfigError(Exception):
    """One line naming the config file and field."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class GatewayConfig:
    listen_host: str
    listen_port: int
    tls_cert: Path
    tls_key: Path
    mount: str
    addresses: list[str]
    credentials: Credentials
    tokens: dict[str, str]  # sha256 hex of token -> database identity
    keys: dict[int, str] = field(default_factory=dict)  # MariaDB key id -> key name
    timeout_s: float = 5.0
    failover_deadline_s: float = 20.0

    def key_name(self, key_id: int) -> str:
        return self.keys.get(key_id, f"mariadb-{key_id}")


def load_config(path: Path) -> GatewayConfig:
    """YAML -> GatewayConfig; relative paths are relative to the file."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise GatewayConfigError(f"{path}: cannot read: {exc}".splitlines()[0]) from None
    if not isinstance(raw, dict):
        raise GatewayConfigError(f"{path}: expected a mapping")
    base = path.parent

    def need(section: dict[str, Any], name: str, where: str) -> Any:
        if name not in section or section[name] in (None, ""):
            raise GatewayConfigError(f"{path}: {where}{name}: required")
        return section[name]

    def file(section: dict[str, Any], name: str, where: str) -> Path:
        value = Path(str(need(section, name, where)))
        value = value if value.is_absolute() else base / value
        if not value.is_file():
            raise GatewayConfigError(f"{path}: {where}{name}: file not found: {value}")
        return value

    host, _, port = str(need(raw, "listen", "")).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise GatewayConfigError(f"{path}: listen: expected host:port")
    tls = raw.get("tls") or {}
    cluster = raw.get("cluster") or {}
    if not isinstance(tls, dict) or not isinstance(cluster, dict):
        raise GatewayConfigError(f"{path}: tls and cluster must be mappings")
    addresses = need(cluster, "addresses", "cluster.")
    if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
        raise GatewayConfigError(f"{path}: cluster.addresses: expected a list of host:port")
    mount = str(raw.get("mount", "keymgr"))
    if not _MOUNT.fullmatch(mount):
        raise GatewayConfigError(f"{path}: mount: letters, digits, _ . - only")
    tokens: dict[str, str] = {}
    for i, entry in enumerate(raw.get("tokens") or []):
        digest = str(entry.get("sha256", "")).lower() if isinstance(entry, dict) else ""
        db_id = str(entry.get("db_id", "")) if isinstance(entry, dict) else ""
        if not _HEX64.fullmatch(digest) or not db_id:
            raise GatewayConfigError(
                f"{path}: tokens[{i}]: expected sha256 (64 hex digits) and db_id"
            )
        tokens[digest] = db_id
    if not tokens:
        raise GatewayConfigError(f"{path}: tokens: at least one token is required")
    keys: dict[int, str] = {}
    for key_id, name in (raw.get("keys") or {}).items():
        if not str(key_id).isdigit() or not isinstance(name, str) or not name:
            raise GatewayConfigError(f"{path}: keys: expected <numeric id>: <key name>")
        keys[int(key_id)] = name
    return GatewayConfig(
        listen_host=host,
        listen_port=int(port),
        tls_cert=file(tls, "cert", "tls."),
        tls_key=file(tls, "key", "tls."),
        mount=mount,
        addresses=addresses,
        credentials=Credentials(
            ca=file(cluster, "ca", "cluster."),
            cert=file(cluster, "cert", "cluster."),
            key=file(cluster, "key", "cluster."),
        ),
        tokens=tokens,
        keys=keys,
        timeout_s=float(cluster.get("timeout_s", 5.0)),
        failover_deadline_s=float(raw.get("failover_deadline_s", 20.0)),
    )


class TdeGateway:
    """The request logic, separate from HTTP so it can be read (and tested) alone."""

    def __init__(self, config: GatewayConfig, client: Client | None = None) -> None:
        self.config = config
        self.client = client or Client(
            config.addresses, credentials=config.credentials, timeout=config.timeout_s
        )
        self._lock = threading.Lock()  # the client's failover order is not thread-safe

    def database_for(self, token: str | None) -> str | None:
        if not token:
            return None
        digest = hash_token(token)
        for known, db_id in self.config.tokens.items():
            if hmac.compare_digest(known, digest):
                return db_id
        return None

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
        deadline = time.monotonic() + self.config.failover_deadline_s
        while True:
            try:
                with self._lock:
                    master = self.client.get_master_key(db_id, name, version=version)
                break
            except RetryableError as exc:
                if time.monotonic() > deadline:
                    log.warning("key %d for %s: cluster unavailable: %s", key_id, db_id, exc)
                    return 503, {"errors": ["key manager unavailable"]}
                time.sleep(0.2)
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


def _handler(gateway: TdeGateway) -> Handler:
    def answer(request: Request) -> Response:
        status, body = gateway.handle(
            request.method, request.target, request.headers.get("x-vault-token")
        )
        log.debug("%s %s %s -> %d", request.peer, request.method, request.target[:200], status)
        return Response(status, json.dumps(body).encode())

    return answer


def build_server(gateway: TdeGateway) -> BoundedHttpServer:
    """The HTTPS listener: TLS 1.3, handshakes off the accept path, bounded as
    `listen_limits.TDE_GATEWAY` says (see `keymgr/bounded_http.py`)."""
    config = gateway.config
    context = ssl_context("server")  # TLS 1.3 only
    context.load_cert_chain(config.tls_cert, config.tls_key)
    return BoundedHttpServer(
        (config.listen_host, config.listen_port),
        _handler(gateway),
        TDE_GATEWAY,
        ssl_context=context,
        name="tde-gateway",
        server_header="keymgr-tde-gateway",
    )
