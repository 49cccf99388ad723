"""The dev PKI: chains verify, names and usages are as specified, keys stay private."""

from __future__ import annotations

import base64
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from keymgr import pki


@pytest.fixture
def ca(tmp_path: Path) -> pki.CertificateAuthority:
    pki.create_ca(tmp_path / "certs")
    return pki.load_ca(tmp_path / "certs")


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _verify_signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> None:
    public = issuer.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert cert.signature_hash_algorithm is not None
    public.verify(cert.signature, cert.tbs_certificate_bytes,
                  ec.ECDSA(cert.signature_hash_algorithm))
    assert cert.issuer == issuer.subject
    cert.verify_directly_issued_by(issuer)


def _eku(cert: x509.Certificate) -> set[x509.ObjectIdentifier]:
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def _cn(cert: x509.Certificate) -> str:
    value = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert isinstance(value, str)
    return value


def test_ca_is_self_signed_p256_ca(tmp_path: Path) -> None:
    files = pki.create_ca(tmp_path, common_name="test CA", days=10)
    assert files == pki.CaFiles(cert=tmp_path / "ca.pem", key=tmp_path / "ca-key.pem")
    cert = _cert(files.cert)
    _verify_signed_by(cert, cert)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.curve.name == "secp256r1"
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    assert _cn(cert) == "test CA"
    assert _mode(files.key) == 0o600


def test_create_ca_refuses_to_overwrite(tmp_path: Path) -> None:
    first = pki.create_ca(tmp_path)
    before = first.key.read_bytes()
    with pytest.raises(FileExistsError, match="ca"):
        pki.create_ca(tmp_path)
    assert first.key.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left
    pki.create_ca(tmp_path, force=True)
    assert first.key.read_bytes() != before
    assert _mode(first.key) == 0o600


def test_load_ca_rejects_mismatched_key(tmp_path: Path) -> None:
    pki.create_ca(tmp_path / "a")
    pki.create_ca(tmp_path / "b")
    (tmp_path / "a" / "ca-key.pem").write_bytes((tmp_path / "b" / "ca-key.pem").read_bytes())
    with pytest.raises(ValueError, match="does not match"):
        pki.load_ca(tmp_path / "a")


def test_node_certificate(ca: pki.CertificateAuthority) -> None:
    files = pki.issue_node_cert(ca, "node1")
    assert files.cert == ca.directory / "node1.pem"
    assert files.key == ca.directory / "node1-key.pem"
    cert = _cert(files.cert)
    _verify_signed_by(cert, ca.certificate)
    assert _cn(cert) == "node1"
    assert _eku(cert) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    san = _san(cert)
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"),
    }
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://keymgr/node/node1"
    ]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert _mode(files.key) == 0o600
    key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
    assert key.public_key() == cert.public_key()


def test_node_certificate_custom_hosts(ca: pki.CertificateAuthority, tmp_path: Path) -> None:
    files = pki.issue_node_cert(ca, "node-2", hosts=["10.0.0.7", "kms.example.com"],
                                out_dir=tmp_path / "elsewhere")
    assert files.cert.parent == tmp_path / "elsewhere"
    san = _san(_cert(files.cert))
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.7")]
    assert san.get_values_for_type(x509.DNSName) == ["kms.example.com"]


@pytest.mark.parametrize(
    ("node_id", "hosts"),
    [("Node1", ("127.0.0.1",)), ("../x", ("127.0.0.1",)), ("", ("127.0.0.1",)),
     ("node1", ()), ("node1", ("bad host!",))],
)
def test_node_certificate_bad_input(
    ca: pki.CertificateAuthority, node_id: str, hosts: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError):
        pki.issue_node_cert(ca, node_id, hosts=hosts)


@pytest.mark.parametrize("kind", sorted(pki.CLIENT_KINDS))
def test_client_certificate(ca: pki.CertificateAuthority, kind: str) -> None:
    files = pki.issue_client_cert(ca, "alice", kind=kind)
    assert files == pki.CertFiles(cert=ca.directory / "alice.pem",
                                  key=ca.directory / "alice-key.pem")
    cert = _cert(files.cert)
    _verify_signed_by(cert, ca.certificate)
    assert _cn(cert) == "alice"
    assert _eku(cert) == {ExtendedKeyUsageOID.CLIENT_AUTH}
    assert _san(cert).get_values_for_type(x509.UniformResourceIdentifier) == [
        f"spiffe://keymgr/{kind}/alice"
    ]
    assert _mode(files.key) == 0o600


@pytest.mark.parametrize(("name", "kind"), [("alice", "root"), ("a/b", "admin"), (".x", "admin")])
def test_client_certificate_bad_input(
    ca: pki.CertificateAuthority, name: str, kind: str
) -> None:
    with pytest.raises(ValueError):
        pki.issue_client_cert(ca, name, kind=kind)


def test_leaf_never_outlives_ca(tmp_path: Path) -> None:
    pki.create_ca(tmp_path, days=30)
    ca = pki.load_ca(tmp_path)
    cert = _cert(pki.issue_node_cert(ca, "node1", days=825).cert)
    assert cert.not_valid_after_utc <= ca.certificate.not_valid_after_utc


def test_principal_from_uri_san(ca: pki.CertificateAuthority) -> None:
    pem = pki.issue_client_cert(ca, "bob", kind="operator").cert.read_bytes()
    assert pki.principal_from_certificate(pem) == pki.Principal(
        name="bob", kind="operator", uri="spiffe://keymgr/operator/bob"
    )
    assert pki.principal_from_certificate(pem.decode()) == pki.principal_from_certificate(pem)
    node_pem = pki.issue_node_cert(ca, "node3").cert.read_bytes()
    assert pki.principal_from_certificate(node_pem).kind == "node"


def _cn_only_cert(ca: pki.CertificateAuthority, cn: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = ca.certificate
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(ca_cert.not_valid_before_utc)
        .not_valid_after(ca_cert.not_valid_after_utc)
        .add_extension(
            x509.SubjectAlternativeName([
                x509.DNSName("example.com"),
                x509.UniformResourceIdentifier("https://example.com/not-spiffe"),
            ]),
            critical=False,
        )
    )
    cert = builder.sign(ca.private_key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM)


def test_principal_falls_back_to_common_name(ca: pki.CertificateAuthority) -> None:
    principal = pki.principal_from_certificate(_cn_only_cert(ca, "legacy-app"))
    assert principal == pki.Principal(name="legacy-app", kind=None, uri=None)


def test_principal_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="PEM"):
        pki.principal_from_certificate(b"-----BEGIN CERTIFICATE-----\nxx\n")


def test_principal_lookup_is_cached(ca: pki.CertificateAuthority) -> None:
    pem = pki.issue_client_cert(ca, "carol", kind="agent").cert.read_bytes()
    first = pki.principal_from_certificate(pem)
    assert pki.principal_from_certificate(bytes(bytearray(pem))) is first


def test_cluster_secret(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "cluster-secret"
    pki.create_cluster_secret(path)
    text = path.read_text()
    assert text.endswith("\n")
    assert len(base64.urlsafe_b64decode(text.strip())) == 32
    assert len(text.strip()) >= 16
    assert _mode(path) == 0o600
    pki.create_cluster_secret(tmp_path / "other")
    assert (tmp_path / "other").read_text() != text
    with pytest.raises(FileExistsError):
        pki.create_cluster_secret(path)
    assert path.read_text() == text


def test_ca_repr_hides_key(ca: pki.CertificateAuthority) -> None:
    assert "PrivateKey" not in repr(ca)
