"""The Raft port as an attacker on loopback sees it (issue 11): mutual TLS, no pickle.

A real 3-node cluster (mTLS gRPC, TLS Raft). Payloads that would create a marker file
are sent to a node's Raft port every way one could try; the marker must never appear,
and the node must stay up, in the cluster and serving. Garbage and idle connections must
neither change the term nor grow the leader's memory.
"""

from __future__ import annotations

import datetime
import os
import pickle
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pysyncobj.encryptor import getEncryptor
from pysyncobj.monotonic import monotonic

from keymgr import pki
from keymgr.ops.devcluster import LocalCluster
from tests.forged_certs import forge_files
from tests.integration.helpers import leader_id, node_status

MakeCluster = Callable[..., LocalCluster]
NODE2, NODE9 = "spiffe://keymgr/node/node2", "spiffe://keymgr/node/node9"


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def frame(payload: bytes, secret: str | None) -> bytes:
    """One pysyncobj frame: int32 length | [Fernet(secret)] zlib(payload)."""
    data = zlib.compress(payload, 3)
    if secret is not None:
        data = getEncryptor(secret).encrypt_at_time(data, int(monotonic()))
    return struct.pack("i", len(data)) + data


def read_frame(sock: socket.socket, secret: str) -> Any:
    head = b""
    while len(head) < 4:
        head += sock.recv(4 - len(head))
    (length,) = struct.unpack("i", head)
    data = b""
    while len(data) < length:
        data += sock.recv(length - len(data))
    return pickle.loads(zlib.decompress(getEncryptor(secret).decrypt(data)))


def issue(
    ca: pki.CertificateAuthority,
    out: Path,
    name: str,
    uri: str,
    *,
    not_after: datetime.datetime | None = None,
) -> tuple[Path, Path]:
    """A certificate from `ca` with the given SPIFFE URI (validity may be in the past)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    end = not_after or now + datetime.timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(end - datetime.timedelta(days=2))
        .not_valid_after(end)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(uri), x509.IPAddress(ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca.private_key, hashes.SHA256())
    )
    cert_path, key_path = out / f"{name}.pem", out / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def tls_connect(address: str, ca: Path, cert: Path, key: Path) -> ssl.SSLSocket:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cafile=str(ca))
    ctx.load_cert_chain(str(cert), str(key))
    host, port = address.rsplit(":", 1)
    raw = socket.create_connection((host, int(port)), timeout=5)
    return ctx.wrap_socket(raw)


def send_and_wait_closed(sock: socket.socket, data: bytes) -> None:
    """Send, then read until the node closes the connection (bounded)."""
    try:
        sock.sendall(data)
        sock.settimeout(5)
        while sock.recv(65536):
            pass
    except (OSError, ssl.SSLError):
        pass
    finally:
        sock.close()


def assert_healthy(cluster: LocalCluster, marker: Path, tag: str) -> None:
    assert not marker.exists(), f"{tag}: the payload ran inside a node"
    with cluster.client() as client:
        client.create_key(f"after-{tag}")
        for node in cluster.spec.nodes:
            status = node_status(client, node.api)
            assert status.serving and not status.error, (tag, node.id, status)


@pytest.fixture
def cluster(make_cluster: MakeCluster) -> LocalCluster:
    local = make_cluster()
    local.bring_up()
    return local


def test_raft_port_speaks_only_mutual_tls_and_runs_nothing(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    evil = pickle.dumps(_Exploit(marker), 2)
    secret = (cluster.root / "secrets" / "cluster-secret").read_text().strip()
    target = cluster.node("node1").raft
    host, port = target.rsplit(":", 1)
    certs = cluster.certs

    # (a) raw TCP, (b) pysyncobj's frame encrypted with the right secret, over raw TCP
    for tag, data in (("raw", frame(evil, None)), ("framed", frame(evil, secret))):
        send_and_wait_closed(socket.create_connection((host, int(port)), timeout=5), data)
        assert_healthy(cluster, marker, tag)

    # (c) TLS with a valid client (admin) certificate: refused after the handshake
    with pytest.raises((OSError, ssl.SSLError)):
        sock = tls_connect(target, certs / "ca.pem", certs / "admin.pem", certs / "admin-key.pem")
        send_and_wait_closed(sock, frame(evil, secret))
        raise OSError("closed")  # reaching here means the node closed it: also a refusal
    assert_healthy(cluster, marker, "client-cert")

    # (d) the node certificate of another member plus the right secret: the frame is
    # decrypted, and its pickle refused before it builds anything
    sock = tls_connect(target, certs / "ca.pem", certs / "node2.pem", certs / "node2-key.pem")
    send_and_wait_closed(sock, frame(evil, secret))
    assert_healthy(cluster, marker, "member-cert")

    # a member's certificate claiming another member's address is refused too: complete
    # pysyncobj's key exchange as node2, then announce node3's address
    sock = tls_connect(target, certs / "ca.pem", certs / "node2.pem", certs / "node2-key.pem")
    ours = os.urandom(32)
    sock.sendall(frame(pickle.dumps(ours, 2), secret))
    echoed, theirs = read_frame(sock, secret)
    assert echoed == ours
    claim = frame(pickle.dumps((theirs, cluster.node("node3").raft), 2), secret)
    send_and_wait_closed(sock, claim)
    log = (cluster.root / "logs" / "node1.log").read_text()
    assert "node2 claimed to be" in log, log[-2000:]
    assert_healthy(cluster, marker, "impersonation")


def test_foreign_expired_and_non_member_certificates_cannot_join(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    marker = tmp_path / "never"
    target = cluster.node("node1").raft
    ca = pki.load_ca(cluster.certs)
    other_dir = tmp_path / "other-ca"
    other_dir.mkdir()
    pki.create_ca(other_dir, common_name="attacker CA")
    other = pki.load_ca(other_dir)
    now = datetime.datetime.now(datetime.UTC)
    trusted = cluster.certs / "ca.pem"
    cases = {
        "other-ca": (
            issue(other, other_dir, "node2", "spiffe://keymgr/node/node2"),
            other_dir / "ca.pem",
        ),
        "expired": (
            issue(ca, tmp_path, "node3x", "spiffe://keymgr/node/node3",
                  not_after=now - datetime.timedelta(hours=1)),
            cluster.certs / "ca.pem",
        ),
        "non-member": (issue(ca, tmp_path, "node9", "spiffe://keymgr/node/node9"), trusted),
    }  # fmt: skip
    for tag, ((cert, key), trust) in cases.items():
        refused = False
        try:
            sock = tls_connect(target, trust, cert, key)
            sock.settimeout(5)
            sock.sendall(frame(pickle.dumps(os.urandom(32), 2), None))
            refused = sock.recv(1) == b""
        except (OSError, ssl.SSLError):
            refused = True
        assert refused, f"{tag}: the Raft port kept the connection"
        assert_healthy(cluster, marker, tag)


def raft_answers(target: str, secret: str, cert: Path, key: Path, ca: Path) -> bool:
    """Whether pysyncobj behind `target` answers a key exchange sent over TLS with this
    certificate (it does only if the TLS front relayed the connection)."""
    try:
        sock = tls_connect(target, ca, cert, key)
    except (OSError, ssl.SSLError):
        return False
    with sock:
        try:
            sock.settimeout(5)
            sock.sendall(frame(pickle.dumps(os.urandom(32), 2), secret))
            return sock.recv(4) != b""  # the first bytes of pysyncobj's reply frame
        except (OSError, ssl.SSLError):
            return False


def test_member_identity_only_from_a_node_certificate_as_pki_issues_it(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """Signed by the cluster CA and naming member node2, but not as `keymgr pki` issues
    node certificates (issue 12): the Raft front finds no member in them."""
    target = cluster.node("node1").raft
    secret = (cluster.root / "secrets" / "cluster-secret").read_text().strip()
    ca_pem, certs = cluster.certs / "ca.pem", cluster.certs
    ca = pki.load_ca(certs)
    assert raft_answers(target, secret, certs / "node2.pem", certs / "node2-key.pem", ca_pem)
    forged = {
        "two-uris": {"uris": [NODE2, NODE9]},
        "no-extended-key-usage": {"uris": [NODE2], "ekus": None},
        "ca-certificate": {"uris": [NODE2], "is_ca": True},
        "cn-only": {"cn": NODE2},
        "other-trust-domain": {"uris": ["spiffe://elsewhere/node/node2"]},
    }
    for tag, fields in forged.items():
        cert, key = forge_files(ca, tmp_path, tag, **fields)
        assert not raft_answers(target, secret, cert, key, ca_pem), f"{tag}: relayed to Raft"


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_garbage_and_idle_connections_change_nothing(cluster: LocalCluster) -> None:
    leader = leader_id(cluster)
    node = cluster.node(leader)
    host, port = node.raft.rsplit(":", 1)
    with cluster.client() as client:
        term = node_status(client, node.api).term
        client.create_key("warm-up")
    rss_before = _rss_kib(cluster.pid(leader))
    idle = [socket.create_connection((host, int(port)), timeout=5) for _ in range(200)]
    written: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        with cluster.client() as client:
            n = 0
            while not stop.is_set() and n < 400:
                client.create_key(f"during-{n}")
                written.append(n)
                n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        chunk = os.urandom(1 << 20)
        for _ in range(4):
            with socket.create_connection((host, int(port)), timeout=5) as sock:
                try:
                    for _ in range(16):  # 16 MiB per connection, 64 MiB in all
                        sock.sendall(chunk)
                except OSError:
                    pass  # closed by the node: that is the point
        time.sleep(1.0)
    finally:
        stop.set()
        thread.join(60)
        for sock in idle:
            sock.close()
    rss_after = _rss_kib(cluster.pid(leader))
    with cluster.client() as client:
        assert node_status(client, node.api).term == term, "garbage forced an election"
    assert written, "client writes stopped"
    assert rss_after - rss_before < 16 * 1024, f"RSS grew {rss_after - rss_before} KiB"
