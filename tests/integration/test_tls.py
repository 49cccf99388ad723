"""Every gRPC port speaks TLS 1.3 only, and only to clients with a certificate."""

from __future__ import annotations

import socket
import ssl

import pytest

from keymgr.ops.devcluster import LocalCluster


def handshake(cluster: LocalCluster, version: ssl.TLSVersion, with_cert: bool) -> str:
    """The negotiated version once the server has answered the HTTP/2 preface.

    In TLS 1.3 the server checks the client certificate after the client finished its
    side of the handshake, so a refusal shows up as an error or a closed connection on
    the first read."""
    creds = cluster.credentials
    context = ssl.create_default_context(cafile=str(creds.ca))
    context.minimum_version = context.maximum_version = version
    context.set_alpn_protocols(["h2"])
    if with_cert:
        context.load_cert_chain(str(creds.cert), str(creds.key))
    host, port = cluster.spec.nodes[0].api.rsplit(":", 1)
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")  # completes TLS 1.3 client auth
        if not tls.recv(1):
            raise ConnectionResetError("server closed the connection")
        return str(tls.version())


def test_tls13_with_client_certificate_is_accepted(cluster: LocalCluster) -> None:
    assert handshake(cluster, ssl.TLSVersion.TLSv1_3, with_cert=True) == "TLSv1.3"


def test_tls12_is_refused(cluster: LocalCluster) -> None:
    with pytest.raises((ssl.SSLError, OSError)):
        handshake(cluster, ssl.TLSVersion.TLSv1_2, with_cert=True)


def test_tls13_without_client_certificate_is_refused(cluster: LocalCluster) -> None:
    with pytest.raises((ssl.SSLError, OSError)):
        handshake(cluster, ssl.TLSVersion.TLSv1_3, with_cert=False)
