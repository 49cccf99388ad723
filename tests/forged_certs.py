"""Certificates `keymgr pki` would never issue, signed by a real cluster CA.

Anyone holding the CA key (another tool, a careless script) can sign these; the
identity checks must refuse them. Every field defaults to what `keymgr pki` writes for a
node, so a test states only what it breaks.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from ipaddress import ip_address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from keymgr import pki

CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH


def _key_usage(digital_signature: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not digital_signature,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def forge(
    ca: pki.CertificateAuthority,
    *,
    cn: str = "forged",
    uris: Sequence[str] = (),
    ips: Sequence[str] = ("127.0.0.1",),
    ekus: Sequence[x509.ObjectIdentifier] | None = (CLIENT_AUTH, SERVER_AUTH),
    digital_signature: bool | None = True,
    is_ca: bool = False,
    not_after: datetime.datetime | None = None,
) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM). `ekus=None` / `digital_signature=None` leave the
    extension out; no `uris` and no `ips` leave the SAN out."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    end = not_after or now + datetime.timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(end - datetime.timedelta(days=2))
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if digital_signature is not None:
        builder = builder.add_extension(_key_usage(digital_signature), critical=True)
    if ekus is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(ekus)), critical=False)
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in uris]
    names += [x509.IPAddress(ip_address(ip)) for ip in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca.private_key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def forge_files(
    ca: pki.CertificateAuthority, out: Path, name: str, **fields: object
) -> tuple[Path, Path]:
    """`forge`, written to out/<name>.pem and out/<name>-key.pem."""
    cert, key = forge(ca, **fields)  # type: ignore[arg-type]
    out.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = out / f"{name}.pem", out / f"{name}-key.pem"
    cert_path.write_bytes(cert)
    key_path.write_bytes(key)
    key_path.chmod(0o600)
    return cert_path, key_path


def fingerprint(cert_pem: bytes) -> str:
    """The short fingerprint keymgr puts in a refusal: first 16 hex digits of SHA-256."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    return cert.fingerprint(hashes.SHA256()).hex()[:16]
