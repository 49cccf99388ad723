"""One request, start to end: target check, routing to the TDE, sys/auth or KV v2
handlers, the caller's cluster view, and the bounded HTTPS listener they run behind.

The listener is `keymgr.bounded_http` with `listen_limits.GATEWAY`: each TLS 1.3
handshake on its own within 5 s, a head within 10 s, a body (at most 1 MiB, with a
Content-Length) within 10 s more, at most 512 connections (the oldest idle one makes
room). Requests are answered on a pool of worker threads sharing one cluster `Client`
(no lock: it is thread-safe), so a slow request does not hold up the others. Both the
HTTPS certificate and the gateway's own certificate for the cluster are followed: a
reissued one is used from the next connection / call on, without a restart.
"""

from __future__ import annotations

import json
import logging

from keymgr.bounded_http import BoundedHttpServer, Handler, Request, Response
from keymgr.client import Client
from keymgr.client._secrets import SecretsClient
from keymgr.gateway import replies
from keymgr.gateway.callers import Caller, caller_of
from keymgr.gateway.cluster import ClusterClient
from keymgr.gateway.config import GatewayConfig
from keymgr.gateway.kv2 import KvHandlers
from keymgr.gateway.paths import BadTarget, parse_target
from keymgr.gateway.replies import Reply
from keymgr.gateway.sysapi import SysHandlers
from keymgr.gateway.tde import TdeGateway
from keymgr.gateway.tls import ReloadingContext
from keymgr.listen_limits import GATEWAY, TDE_GATEWAY, HttpLimits

log = logging.getLogger(__name__)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "LIST"})


class Gateway:
    """Routes a request to its part; `secrets` defaults to the cluster client's."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        secrets: SecretsClient | None = None,
        tde: TdeGateway | None = None,
    ) -> None:
        self.config = config
        needs_cluster = (secrets is None and config.kv is not None) or (
            tde is None and config.tde_enabled
        )
        credentials = config.credentials
        self.cluster = (
            ClusterClient(
                lambda: Client(
                    config.addresses,
                    credentials=credentials,
                    timeout=config.timeout_s,
                    connections_per_node=config.connections_per_node,
                ),
                (credentials.ca, credentials.cert, credentials.key),
            )
            if needs_cluster
            else None
        )
        if tde is None and config.tde_enabled:
            assert self.cluster is not None
            tde = TdeGateway(config, client=self.cluster)
        self.tde = tde
        self._secrets = secrets
        self.kv = KvHandlers(config.failover_deadline_s)
        self.sys = SysHandlers(config.kv, config.failover_deadline_s)

    @property
    def secrets(self) -> SecretsClient | None:
        """The secrets calls (on the cluster client of the moment); None without kv."""
        if self._secrets is not None:
            return self._secrets
        if self.cluster is None or self.config.kv is None:
            return None
        return self.cluster.current().secrets

    def secrets_for(self, caller: Caller) -> SecretsClient:
        """The cluster as `caller` sees it: every call carries the caller's credential,
        which the cluster judges each time (a revoked token is refused at once)."""
        secrets = self.secrets
        assert secrets is not None
        if caller.token:
            return secrets.with_token(caller.token)
        assert caller.certificate_pem is not None
        return secrets.with_forwarded_certificate(caller.certificate_pem)

    def answer(self, request: Request) -> Reply:
        if request.method not in METHODS:
            return replies.error(405, "unsupported operation")
        path = request.target.partition("?")[0]
        if self.tde is not None and self.tde.serves(path):
            status, body = self.tde.handle(
                request.method, request.target, request.headers.get("x-vault-token")
            )
            return Reply(status, body)
        try:
            target = parse_target(request.target)
        except BadTarget as bad:
            return replies.error(400, str(bad))
        namespace = request.headers.get("x-vault-namespace", "").strip("/ ")
        if namespace and namespace != "root":
            return replies.error(400, "namespaces are not supported")
        caller = caller_of(request.headers, request.peer_certificate)
        if target.segments[0] in ("sys", "auth"):
            return self.sys.handle(request.method, target, caller, self.secrets_for)
        if self.secrets is None or self.config.kv is None:
            return replies.error(404, "no handler for route")
        if not self.config.kv.serves(target.segments[0]):
            return replies.error(404, "no handler for route")
        if caller is None:
            return replies.denied()
        return self.kv.handle(
            self.secrets_for(caller), request.method, target, request.headers, request.body
        )


def http_handler(gateway: Gateway) -> Handler:
    def answer(request: Request) -> Response:
        reply = gateway.answer(request)
        log.debug(
            "%s %s %s -> %d",
            request.peer,
            request.method,
            request.target.partition("?")[0][:200],
            reply.status,
        )
        body = b"" if reply.body is None else json.dumps(reply.body).encode() + b"\n"
        return Response(reply.status, body)

    return answer


def limits_for(config: GatewayConfig) -> HttpLimits:
    return GATEWAY if config.kv is not None else TDE_GATEWAY


def build_server(gateway: Gateway) -> BoundedHttpServer:
    """The HTTPS listener (TLS 1.3, its certificate reloaded when its files change)."""
    config = gateway.config
    tls = ReloadingContext(config.tls_cert, config.tls_key, config.client_ca)
    return BoundedHttpServer(
        (config.listen_host, config.listen_port),
        http_handler(gateway),
        limits_for(config),
        ssl_context=tls,
        name="gateway",
        server_header="keymgr-gateway",
    )
