"""mTLS credentials for the node's gRPC server and its calls to peers (TLS 1.3 only)."""

from __future__ import annotations

from pathlib import Path

import grpc

from keymgr.tls13 import require_tls13


def _read(path: Path) -> bytes:
    return path.read_bytes()


def server_credentials(cert: Path, key: Path, ca: Path) -> grpc.ServerCredentials:
    """Server credentials that require a client certificate from the cluster CA."""
    require_tls13()
    return grpc.ssl_server_credentials(
        [(_read(key), _read(cert))], root_certificates=_read(ca), require_client_auth=True
    )


def channel_credentials(cert: Path, key: Path, ca: Path) -> grpc.ChannelCredentials:
    """Client credentials presenting `cert` and trusting only the cluster CA."""
    require_tls13()
    return grpc.ssl_channel_credentials(
        root_certificates=_read(ca), private_key=_read(key), certificate_chain=_read(cert)
    )
