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
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if maker.search(path.read_text())
    )
    assert makers == ["tls13.py"], makers
