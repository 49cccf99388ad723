"""The dev PKI: chains verify, names and usages are as specified, keys stay private."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import re
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from keymgr import pki
from tests.forged_certs import CLIENT_AUTH, SERVER_AUTH, fingerprint, forge


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
    public.verify(
        cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm)
    )
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
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["spiffe://keymgr/node/node1"]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert _mode(files.key) == 0o600
    key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
    assert key.public_key() == cert.public_key()


def test_node_certificate_custom_hosts(ca: pki.CertificateAuthority, tmp_path: Path) -> None:
    files = pki.issue_node_cert(
        ca, "node-2", hosts=["10.0.0.7", "kms.example.com"], out_dir=tmp_path / "elsewhere"
    )
    assert files.cert.parent == tmp_path / "elsewhere"
    san = _san(_cert(files.cert))
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.7")]
    assert san.get_values_for_type(x509.DNSName) == ["kms.example.com"]


@pytest.mark.parametrize(
    ("node_id", "hosts"),
    [
        ("Node1", ("127.0.0.1",)),
        ("../x", ("127.0.0.1",)),
        ("", ("127.0.0.1",)),
        ("node1", ()),
        ("node1", ("bad host!",)),
    ],
)
def test_node_certificate_bad_input(
    ca: pki.CertificateAuthority, node_id: str, hosts: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError):
        pki.issue_node_cert(ca, node_id, hosts=hosts)


@pytest.mark.parametrize("kind", sorted(pki.CLIENT_KINDS))
def test_client_certificate(ca: pki.CertificateAuthority, kind: str) -> None:
    files = pki.issue_client_cert(ca, "alice", kind=kind)
    assert files == pki.CertFiles(
        cert=ca.directory / "alice.pem", key=ca.directory / "alice-key.pem"
    )
    cert = _cert(files.cert)
    _verify_signed_by(cert, ca.certificate)
    assert _cn(cert) == "alice"
    assert _eku(cert) == {ExtendedKeyUsageOID.CLIENT_AUTH}
    assert _san(cert).get_values_for_type(x509.UniformResourceIdentifier) == [
        f"spiffe://keymgr/{kind}/alice"
    ]
    assert _mode(files.key) == 0o600


@pytest.mark.parametrize(("name", "kind"), [("alice", "root"), ("a/b", "admin"), (".x", "admin")])
def test_client_certificate_bad_input(ca: pki.CertificateAuthority, name: str, kind: str) -> None:
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


ADMIN = "spiffe://keymgr/admin/admin"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        # the reviewer's reproduction: a CN that looks like the admin's id, no SAN
        ({"cn": ADMIN, "ips": ()}, "no subject alternative name"),
        ({"cn": ADMIN}, "0 URI SANs"),
        ({"cn": ADMIN, "uris": ["https://example.com/not-spiffe"]}, "is not spiffe://"),
        ({"cn": ADMIN, "uris": [ADMIN + "/x"]}, "is not spiffe://"),
        ({"uris": ["spiffe://keymgr/admin/"]}, "is not spiffe://"),
        ({"uris": ["spiffe://keymgr//admin"]}, "is not spiffe://"),
        ({"uris": ["spiffe://keymgr/admin/adm%69n"]}, "not a valid admin name"),
        ({"uris": [ADMIN + "?x=1"]}, "not a valid admin name"),
        ({"uris": [ADMIN + "#x"]}, "not a valid admin name"),
        ({"uris": ["SPIFFE://keymgr/admin/admin"]}, "is not spiffe://"),
        ({"uris": ["spiffe://keymgr:443/admin/admin"]}, "is not spiffe://"),
        ({"uris": ["spiffe://u@keymgr/admin/admin"]}, "is not spiffe://"),
        ({"uris": ["spiffe://elsewhere/node/node2"]}, "is not spiffe://"),
        ({"uris": ["spiffe://keymgr/root/admin"]}, "unknown kind"),
        ({"uris": ["spiffe://keymgr/node/Node2"]}, "not a valid node name"),
        ({"uris": ["spiffe://keymgr/admin/.hidden"]}, "not a valid admin name"),
        # a glob as name would match every value of `${principal.name}` in a policy
        ({"uris": ["spiffe://keymgr/agent/*"]}, "not a valid agent name"),
        ({"uris": ["spiffe://keymgr/agent/vol-[a-z]"]}, "not a valid agent name"),
        ({"uris": [ADMIN, ADMIN]}, "2 URI SANs"),
        ({"uris": ["spiffe://keymgr/service/x", ADMIN]}, "2 URI SANs"),
        ({"uris": ["https://example.com/", ADMIN]}, "2 URI SANs"),
        ({"uris": [ADMIN], "ekus": None}, "no extended key usage"),
        ({"uris": [ADMIN], "ekus": [SERVER_AUTH]}, "lacks clientAuth"),
        ({"uris": [ADMIN], "ekus": [ExtendedKeyUsageOID.CODE_SIGNING]}, "lacks clientAuth"),
        ({"uris": [ADMIN], "digital_signature": False}, "lacks digitalSignature"),
        ({"uris": [ADMIN], "is_ca": True}, "a CA certificate"),
    ],
)
def test_only_a_keymgr_uri_san_on_a_client_certificate_names_anyone(
    ca: pki.CertificateAuthority, fields: dict[str, object], reason: str
) -> None:
    pem, _ = forge(ca, **fields)  # type: ignore[arg-type]
    with pytest.raises(pki.IdentityRefused, match=re.escape(reason)) as refused:
        pki.principal_from_certificate(pem)
    assert f"sha256:{fingerprint(pem)}" in str(refused.value)


def test_the_same_fields_as_pki_issues_them_are_accepted(ca: pki.CertificateAuthority) -> None:
    pem, _ = forge(ca, cn="ignored", uris=[ADMIN], ekus=[CLIENT_AUTH], digital_signature=None)
    assert pki.principal_from_certificate(pem) == pki.Principal(
        name="admin", kind="admin", uri=ADMIN
    )


def test_peer_role_picks_the_extended_key_usage(ca: pki.CertificateAuthority) -> None:
    client_pem = pki.issue_client_cert(ca, "alice", kind="service").cert.read_bytes()
    node_pem = pki.issue_node_cert(ca, "node2").cert.read_bytes()
    with pytest.raises(pki.IdentityRefused, match="lacks serverAuth"):
        pki.principal_from_certificate(client_pem, role="server")
    for role in ("client", "server"):  # nodes dial each other and answer each other
        assert pki.principal_from_certificate(node_pem, role=role).name == "node2"  # type: ignore[arg-type]
    server_only, _ = forge(ca, uris=["spiffe://keymgr/node/node2"], ekus=[SERVER_AUTH])
    assert pki.principal_from_certificate(server_only, role="server").kind == "node"
    with pytest.raises(pki.IdentityRefused, match="lacks clientAuth"):
        pki.principal_from_certificate(server_only, role="client")


def test_refusal_is_one_short_line_whatever_the_certificate_says(
    ca: pki.CertificateAuthority,
) -> None:
    long_uri = "spiffe://keymgr/admin/" + "a\n\r\x00" * 5000
    pem, _ = forge(ca, uris=[long_uri])
    with pytest.raises(pki.IdentityRefused) as refused:
        pki.principal_from_certificate(pem)
    message = str(refused.value)
    assert len(message) < 200 and message.isprintable(), message


def test_refusals_are_cached_too(ca: pki.CertificateAuthority) -> None:
    pem, _ = forge(ca, uris=[ADMIN, ADMIN])
    messages = set()
    for _ in range(3):
        with pytest.raises(pki.IdentityRefused) as refused:
            pki.principal_from_certificate(pem)
        messages.add(str(refused.value))
    before = pki._identity.cache_info().hits
    with pytest.raises(pki.IdentityRefused):
        pki.principal_from_certificate(pem)
    assert pki._identity.cache_info().hits == before + 1 and len(messages) == 1


def test_principal_rejects_garbage() -> None:
    with pytest.raises(pki.IdentityRefused, match="PEM"):
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


def test_forwarded_certificate_is_verified_against_the_ca(
    ca: pki.CertificateAuthority, tmp_path: Path
) -> None:
    ca_pem = ca.certificate.public_bytes(serialization.Encoding.PEM)
    files = pki.issue_client_cert(ca, "fwd", kind="service")
    pem = files.cert.read_bytes()
    assert pki.verified_client_certificate(pem, ca_pem) == _cert(files.cert).public_bytes(
        serialization.Encoding.PEM
    )
    der = _cert(files.cert).public_bytes(serialization.Encoding.DER)
    assert pki.verified_client_certificate(der, ca_pem) == pem.replace(b"\r\n", b"\n")
    pki.create_ca(tmp_path / "other")
    foreign = pki.issue_client_cert(pki.load_ca(tmp_path / "other"), "fwd", kind="service")
    expired, _ = forge(
        ca,
        uris=["spiffe://keymgr/service/old"],
        ekus=(CLIENT_AUTH,),
        not_after=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1),
    )
    for bad, problem in (
        (foreign.cert.read_bytes(), "not issued by the cluster CA"),
        (expired, "expired"),
        (b"not a certificate", "not a well-formed"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a well-formed"),
    ):
        with pytest.raises(pki.IdentityRefused, match=problem):
            pki.verified_client_certificate(bad, ca_pem)


def test_parse_principal() -> None:
    assert pki.parse_principal("spiffe://keymgr/service/app").kind == "service"
    for bad in ("alice", "spiffe://keymgr/nokind/x", "spiffe://other/service/x"):
        with pytest.raises(pki.IdentityRefused):
            pki.parse_principal(bad)
