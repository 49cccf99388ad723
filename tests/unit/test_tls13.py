"""Python `ssl` contexts in keymgr negotiate TLS 1.3 or nothing (issue 12, finding 5)."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

import pytest

import keymgr
from keymgr import pki
from keymgr.tls13 import ssl_context


def _handshake(client: ssl.SSLContext, server: ssl.SSLContext) -> str:
    """Runs a TLS handshake in memory; the version agreed, or raises ssl.SSLError."""
    bios = [ssl.MemoryBIO() for _ in range(4)]
    c = client.wrap_bio(bios[0], bios[1], server_side=False)
    s = server.wrap_bio(bios[2], bios[3], server_side=True)
    done = {"c": False, "s": False}
    for _ in range(20):
        for name, side in (("c", c), ("s", s)):
            if done[name]:
                continue
            try:
                side.do_handshake()
                done[name] = True
            except ssl.SSLWantReadError:
                pass
        if bios[1].pending:
            bios[2].write(bios[1].read())
        if bios[3].pending:
            bios[0].write(bios[3].read())
        if all(done.values()):
            return str(c.version())
    raise AssertionError("handshake did not finish")


@pytest.fixture
def node_cert(tmp_path: Path) -> pki.CertFiles:
    pki.create_ca(tmp_path)
    return pki.issue_node_cert(pki.load_ca(tmp_path), "node1")


def _plain(side: int, version: ssl.TLSVersion) -> ssl.SSLContext:
    context = ssl.SSLContext(side)
    context.minimum_version = context.maximum_version = version
    return context


def test_server_context_refuses_a_tls12_client(node_cert: pki.CertFiles) -> None:
    server = ssl_context("server")
    server.load_cert_chain(node_cert.cert, node_cert.key)
    client = _plain(ssl.PROTOCOL_TLS_CLIENT, ssl.TLSVersion.TLSv1_2)
    client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
    with pytest.raises(ssl.SSLError):
        _handshake(client, server)
    client.maximum_version = ssl.TLSVersion.TLSv1_3
    assert _handshake(client, server) == "TLSv1.3"  # control


def test_client_context_refuses_a_tls12_server(node_cert: pki.CertFiles) -> None:
    server = _plain(ssl.PROTOCOL_TLS_SERVER, ssl.TLSVersion.TLSv1_2)
    server.load_cert_chain(node_cert.cert, node_cert.key)
    client = ssl_context("client")
    client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
    with pytest.raises(ssl.SSLError):
        _handshake(client, server)


def test_every_ssl_context_in_keymgr_comes_from_ssl_context() -> None:
    """A context made anywhere else could forget the minimum version."""
    root = Path(keymgr.__file__).parent
    maker = re.compile(r"\bSSLContext\(|create_default_context\(|_create_\w*context\(")
    makers = sorted(
        str(path.relative_to(root)) for path in root.rglob("*.py") if maker.search(path.read_text())
    )
    assert makers == ["tls13.py"], makers


def test_every_grpc_credential_and_client_option_in_keymgr_comes_from_tls13() -> None:
    """Client and server take their TLS settings from one module, so they cannot drift."""
    root = Path(keymgr.__file__).parent
    chooser = re.compile(
        r"ssl_(channel|server)_credentials\(|use_local_subchannel_pool|keepalive_time_ms\""
    )
    owners = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if chooser.search(path.read_text())
    )
    assert owners == ["listen_limits.py", "tls13.py"], owners  # listen_limits: option names


def test_server_keepalive_is_the_one_tls13_chooses() -> None:
    from keymgr import listen_limits, tls13

    for limits in (listen_limits.NODE_API, listen_limits.KMS_PLUGIN):
        options = dict(limits.options())
        assert options["grpc.keepalive_time_ms"] == int(tls13.KEEPALIVE_S * 1000)
        assert options["grpc.keepalive_timeout_ms"] == int(tls13.KEEPALIVE_TIMEOUT_S * 1000)
    assert tls13.client_channel_options() == []  # clients never ping (too_many_pings)
    assert tls13.client_channel_options(own_connection=True) == [
        ("grpc.use_local_subchannel_pool", 1)
    ]


def test_sdk_and_node_credentials_from_tls13_talk_to_each_other(tmp_path: Path) -> None:
    """A server built with `server_credentials` answers the SDK's credentials and a
    peer node's, and refuses a client that presents no certificate."""
    from concurrent import futures

    import grpc

    from keymgr.client import Credentials
    from keymgr.tls13 import channel_credentials, client_channel_options, server_credentials

    ca_files = pki.create_ca(tmp_path)
    ca = pki.load_ca(tmp_path)
    node = pki.issue_node_cert(ca, "node1")
    admin = pki.issue_client_cert(ca, "admin")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    echo = grpc.unary_unary_rpc_method_handler(lambda request, context: request)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("t.Echo", {"Say": echo}),)
    )
    port = server.add_secure_port(
        "127.0.0.1:0", server_credentials(node.cert, node.key, ca_files.cert)
    )
    server.start()
    sdk = Credentials(ca=ca_files.cert, cert=admin.cert, key=admin.key).channel_credentials()
    peer = channel_credentials(node.cert, node.key, ca_files.cert)
    anonymous = grpc.ssl_channel_credentials(root_certificates=ca_files.cert.read_bytes())
    try:
        for creds, own in ((sdk, True), (peer, False)):
            options = client_channel_options(own_connection=own)
            with grpc.secure_channel(f"127.0.0.1:{port}", creds, options) as channel:
                assert channel.unary_unary("/t.Echo/Say")(b"hi", timeout=5) == b"hi"
        with (
            grpc.secure_channel(f"127.0.0.1:{port}", anonymous) as channel,
            pytest.raises(grpc.RpcError) as refused,
        ):
            channel.unary_unary("/t.Echo/Say")(b"hi", timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop(None)
