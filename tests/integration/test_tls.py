"""Every gRPC port speaks TLS 1.3 only, and only to clients with a certificate.

TLS 1.3 is enforced in code, not left to the environment (issue 12, finding 5): a node
started with an environment that allows TLS 1.2 still refuses it, a process using only
the client SDK never offers a usable TLS 1.2 hello, and a process where grpc was loaded
before keymgr with a TLS 1.2 cipher list refuses to build credentials at all.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from keymgr.ops.devcluster import LocalCluster
from keymgr.tls13 import CIPHER_SUITES_VARIABLE, TLS13_ONLY_CIPHER_SUITES
from tests.integration.conftest import MakeCluster

# What an inherited environment could say to bring TLS 1.2 back.
ALLOW_TLS12 = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-AES128-GCM-SHA256",
    ]
)
OPENSSL_TLS12_CONF = """\
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MinProtocol = TLSv1.2
CipherString = DEFAULT
"""


def handshake(
    cluster: LocalCluster, version: ssl.TLSVersion, with_cert: bool, address: str = ""
) -> str:
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
    host, port = (address or cluster.spec.nodes[0].api).rsplit(":", 1)
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


def _environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_node_started_with_a_tls12_environment_still_refuses_tls12(
    make_cluster: MakeCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "openssl-tls12.cnf"
    conf.write_text(OPENSSL_TLS12_CONF)
    monkeypatch.setenv(CIPHER_SUITES_VARIABLE, ALLOW_TLS12)  # inherited by the node
    monkeypatch.setenv("OPENSSL_CONF", str(conf))
    cluster = make_cluster(seals=("file",))
    cluster.prepare()
    cluster.start("node1")
    cluster.wait_answering("node1")
    environ = _environ_of(cluster.pid("node1"))
    assert environ[CIPHER_SUITES_VARIABLE] == ALLOW_TLS12  # the test sets what it claims

    api, raft = cluster.node("node1").api, cluster.node("node1").raft
    assert handshake(cluster, ssl.TLSVersion.TLSv1_3, True, api) == "TLSv1.3"
    with pytest.raises((ssl.SSLError, OSError)):
        handshake(cluster, ssl.TLSVersion.TLSv1_2, True, api)
    with pytest.raises((ssl.SSLError, OSError)):  # the Raft port: Python ssl, not gRPC
        handshake(cluster, ssl.TLSVersion.TLSv1_2, True, raft)


@contextmanager
def tls12_server(cert: Path, key: Path) -> Iterator[tuple[str, list[str]]]:
    """A TLS 1.2-only server on loopback with a cluster certificate: (address, outcome
    of every handshake: the version negotiated, or "refused: <error>")."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["h2"])
    context.load_cert_chain(str(cert), str(key))
    outcomes: list[str] = []
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            raw.settimeout(5)
            try:
                with context.wrap_socket(raw, server_side=True) as tls:
                    outcomes.append(str(tls.version()))
            except (ssl.SSLError, OSError) as exc:
                outcomes.append(f"refused: {exc}")
                raw.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}", outcomes
    finally:
        stop.set()
        thread.join(5)
        listener.close()


CLIENT_ONLY = textwrap.dedent("""
    import sys
    from pathlib import Path
    from keymgr.client import Client, Credentials, KeymgrError
    assert "keymgr.cli" not in sys.modules, "this process must use the SDK only"
    certs, address = Path(sys.argv[1]), sys.argv[2]
    creds = Credentials(ca=certs / "ca.pem", cert=certs / "admin.pem",
                        key=certs / "admin-key.pem")
    with Client([address], credentials=creds, timeout=3.0, attempts=2) as client:
        try:
            client.whoami()
        except KeymgrError as exc:
            print(type(exc).__name__, exc)
""")


def test_client_sdk_alone_never_negotiates_tls12(
    cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CIPHER_SUITES_VARIABLE, ALLOW_TLS12)
    certs = cluster.certs
    with tls12_server(certs / "node1.pem", certs / "node1-key.pem") as (address, outcomes):
        done = subprocess.run(
            [sys.executable, "-c", CLIENT_ONLY, str(certs), address],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    assert outcomes, "the client never reached the TLS 1.2 server"
    assert all(o.startswith("refused") for o in outcomes), outcomes
    assert "handshake" in done.stdout.lower(), done.stdout  # the call failed, in TLS


GRPC_FIRST = textwrap.dedent("""
    import sys
    from pathlib import Path
    import grpc  # before keymgr: gRPC reads the inherited cipher list now
    from keymgr.client import Client, Credentials, InsecureTlsError
    certs = Path(sys.argv[1])
    creds = Credentials(ca=certs / "ca.pem", cert=certs / "admin.pem",
                        key=certs / "admin-key.pem")
    try:
        Client(["127.0.0.1:1"], credentials=creds)
    except InsecureTlsError as exc:
        print("refused:", exc)
    else:
        print("built")
""")


@pytest.mark.parametrize(
    ("inherited", "expected"),
    [
        (ALLOW_TLS12, "refused: gRPC in this process accepts TLS 1.2"),
        (None, "refused: gRPC"),
        (TLS13_ONLY_CIPHER_SUITES, "built"),
    ],
)
def test_grpc_loaded_before_keymgr_with_tls12_is_refused_loudly(
    cluster: LocalCluster,
    monkeypatch: pytest.MonkeyPatch,
    inherited: str | None,
    expected: str,
) -> None:
    if inherited is None:
        monkeypatch.delenv(CIPHER_SUITES_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(CIPHER_SUITES_VARIABLE, inherited)
    done = subprocess.run(
        [sys.executable, "-c", GRPC_FIRST, str(cluster.certs)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(expected), done.stdout
    if expected != "built":
        assert "import keymgr before grpc" in done.stdout


def _other_ca(tmp_path: Path) -> Path:
    """A CA the cluster does not trust, with an admin certificate of its own."""
    from keymgr import pki

    other = tmp_path / "other-ca"
    pki.create_ca(other)
    pki.issue_client_cert(pki.load_ca(other), "admin", kind="admin")
    return other


def test_a_refused_certificate_is_named_at_once_not_retried(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """gRPC calls a client certificate the node refused `Socket closed` (UNAVAILABLE):
    the SDK and CLI say what failed and why, at once, as a final error."""
    import time

    from keymgr.client import Client, Credentials, TlsHandshakeFailed
    from tests.integration.test_cli import cluster_env, keymgr, one_line_error

    other = _other_ca(tmp_path)
    creds = cluster.credentials
    addresses = [n.api for n in cluster.spec.nodes]
    cases = {
        "client cert from another CA": (
            Credentials(ca=creds.ca, cert=other / "admin.pem", key=other / "admin-key.pem"),
            ["refused this client's certificate", "not by the cluster's CA", str(creds.ca)],
        ),
        "node cert not signed by our CA": (
            Credentials(ca=other / "ca.pem", cert=creds.cert, key=creds.key),
            ["node's certificate is not signed by the CA in", str(other / "ca.pem")],
        ),
    }
    for name, (wrong, words) in cases.items():
        started = time.monotonic()
        with (
            Client(addresses, credentials=wrong) as client,
            pytest.raises(TlsHandshakeFailed) as caught,
        ):
            client.list_keys()
        assert time.monotonic() - started < 1.0, name  # not 6 tries with backoff
        for word in words:
            assert word in str(caught.value), (name, str(caught.value))
        env = {
            **cluster_env(cluster),
            "KEYMGR_CACERT": str(wrong.ca),
            "KEYMGR_CLIENT_CERT": str(wrong.cert),
            "KEYMGR_CLIENT_KEY": str(wrong.key),
        }
        err = one_line_error(keymgr("keys", "list", env=env))
        assert "TLS handshake failed" in err and "Socket closed" not in err, err
    with Client(addresses, credentials=creds) as client:
        client.list_keys()  # the right files still work (no probe on success)
