"""`keymgr tde-gateway`: the MariaDB TDE part of the gateway, under its old name.

The gateway is now `keymgr.gateway` (KV v2 secrets mounts and MariaDB on one listener);
this module keeps the names `keymgr tde-gateway`, its tests and its configuration use.
"""

from __future__ import annotations

from keymgr.bounded_http import BoundedHttpServer
from keymgr.gateway.config import GatewayConfig, GatewayConfigError, hash_token, load_config
from keymgr.gateway.server import Gateway
from keymgr.gateway.server import build_server as build_gateway_server
from keymgr.gateway.tde import TdeGateway

__all__ = [
    "GatewayConfig",
    "GatewayConfigError",
    "TdeGateway",
    "build_server",
    "hash_token",
    "load_config",
]


def build_server(gateway: TdeGateway) -> BoundedHttpServer:
    """The HTTPS listener serving `gateway` (and the KV v2 part if its config has one)."""
    return build_gateway_server(Gateway(gateway.config, tde=gateway))
