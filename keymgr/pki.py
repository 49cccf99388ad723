"""A development PKI: a CA, node and client certificates, the Raft cluster secret.

Every gRPC port requires a client certificate from the cluster CA (mTLS), so even a
laptop cluster needs a CA; `keymgr pki` and the local cluster launcher make one here.
Production deployments may bring their own CA: nothing else in keymgr depends on this
module except `principal_from_certificate`, which names the peer of a connection.

Identities follow SPIFFE's shape: a URI SAN `spiffe://keymgr/<kind>/<name>`, where
kind is `node` for cluster members and one of `CLIENT_KINDS` for clients. A certificate
from another CA-holding tool must follow the same shape to name anyone: exactly one URI
SAN, clientAuth (serverAuth for a server), not a CA; the CN is never read.

Keys are EC P-256, signatures ECDSA with SHA-256. Private keys are written 0600 and
every file atomically (temp file, fsync, rename), so a crash never leaves half a key.
"""

from __future__ import annotations

import base64
import datetime
import functools
import ipaddress
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from keymgr.durable_files import replace_file
from keymgr.naming import DNS_LABEL, NODE_ID

__all__ = [
    "CLIENT_KINDS",
    "DEFAULT_NODE_HOSTS",
    "SPIFFE_DOMAIN",
    "CaFiles",
    "CertFiles",
    "CertificateAuthority",
    "IdentityRefused",
    "Principal",
    "create_ca",
    "create_cluster_secret",
    "issue_client_cert",
    "issue_node_cert",
    "load_ca",
    "parse_principal",
    "principal_from_certificate",
    "verified_client_certificate",
]

SPIFFE_DOMAIN: Final = "keymgr"
NODE_KIND: Final = "node"
CLIENT_KINDS: Final = frozenset({"admin", "operator", "auditor", "agent", "service"})
DEFAULT_NODE_HOSTS: Final = ("127.0.0.1", "localhost", "::1")

CA_CERT_FILE: Final = "ca.pem"
CA_KEY_FILE: Final = "ca-key.pem"

# Client names become file names: no separators, no leading dot.
_CLIENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

_CLOCK_SKEW = datetime.timedelta(minutes=5)
_PRINCIPAL_CACHE_SIZE: Final = 512


@dataclass(frozen=True, kw_only=True, slots=True)
class CaFiles:
    """Where `create_ca` wrote the CA certificate and its private key."""

    cert: Path
    key: Path


@dataclass(frozen=True, kw_only=True, slots=True)
class CertFiles:
    """Where an `issue_*` call wrote a certificate and its private key."""

    cert: Path
    key: Path


@dataclass(frozen=True, kw_only=True, slots=True)
class CertificateAuthority:
    """A loaded CA; issued files go to `directory` (next to ca.pem) unless told otherwise."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey
    directory: Path

    def __repr__(self) -> str:
        # The private key object must never end up in a log line.
        return f"CertificateAuthority(directory={str(self.directory)!r})"


@dataclass(frozen=True, kw_only=True, slots=True)
class Principal:
    """Who a certificate names: its URI SAN `uri` = spiffe://keymgr/<kind>/<name>."""

    name: str
    kind: str
    uri: str


# --- files --------------------------------------------------------------------------


def _write_atomic(path: Path, data: bytes, *, mode: int, replace: bool = True) -> None:
    """Readers see the old file or the new one; `replace=False` never clobbers one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, data, mode=mode, exclusive=not replace, ignore_dir_fsync_errors=True)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _spki(public: CertificatePublicKeyTypes) -> bytes:
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write_pair(
    cert_path: Path,
    key_path: Path,
    cert: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    *,
    replace: bool = True,
) -> None:
    # Key first: a certificate on disk without its key is useless but harmless.
    _write_atomic(key_path, _key_pem(key), mode=0o600, replace=replace)
    _write_atomic(cert_path, _cert_pem(cert), mode=0o644, replace=replace)


# --- certificates -------------------------------------------------------------------


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _check_days(days: int) -> None:
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days: expected a positive integer, got {days!r}")


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _spiffe_uri(kind: str, name: str) -> str:
    return f"spiffe://{SPIFFE_DOMAIN}/{kind}/{name}"


def create_ca(
    out_dir: Path, *, common_name: str = "keymgr dev CA", days: int = 3650, force: bool = False
) -> CaFiles:
    """Makes a self-signed CA in `out_dir` (ca.pem, ca-key.pem 0600).

    Raises FileExistsError if either file exists and not `force`: replacing a CA
    silently would cut every node and client off from the cluster.
    """
    _check_days(days)
    out_dir = Path(out_dir)
    files = CaFiles(cert=out_dir / CA_CERT_FILE, key=out_dir / CA_KEY_FILE)
    if not force:
        for path in (files.cert, files.key):
            if path.exists():
                raise FileExistsError(f"{path}: a CA already exists")
    key = _new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "keymgr"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = _now()
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_pair(files.cert, files.key, cert, key, replace=force)
    return files


def load_ca(out_dir: Path) -> CertificateAuthority:
    """Loads the CA written by `create_ca`; ValueError if the files do not make a CA."""
    directory = Path(out_dir)
    cert_path, key_path = directory / CA_CERT_FILE, directory / CA_KEY_FILE
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError:
        raise ValueError(f"{cert_path}: not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise ValueError(f"{key_path}: not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_path}: expected an EC private key")
    if _spki(key.public_key()) != _spki(cert.public_key()):
        raise ValueError(f"{key_path}: does not match {cert_path}")
    return CertificateAuthority(certificate=cert, private_key=key, directory=directory)


def _general_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
            continue
        except ValueError:
            pass
        labels = host.rstrip(".").split(".")
        if len(host) > 253 or not all(DNS_LABEL.fullmatch(label) for label in labels):
            raise ValueError(f"hosts: {host!r} is neither an IP address nor a DNS name")
        names.append(x509.DNSName(host.lower()))
    return names


def _issue(
    ca: CertificateAuthority,
    *,
    common_name: str,
    sans: list[x509.GeneralName],
    usages: list[x509.ObjectIdentifier],
    days: int,
    cert_path: Path,
    key_path: Path,
) -> CertFiles:
    _check_days(days)
    key = _new_key()
    public = key.public_key()
    now = _now()
    ca_cert = ca.certificate
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        # A leaf never outlives its CA: verifiers would reject it on that day anyway.
        .not_valid_after(min(now + datetime.timedelta(days=days), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca.private_key, hashes.SHA256())
    )
    _write_pair(cert_path, key_path, cert, key)
    return CertFiles(cert=cert_path, key=key_path)


def issue_node_cert(
    ca: CertificateAuthority,
    node_id: str,
    *,
    hosts: Sequence[str] = DEFAULT_NODE_HOSTS,
    days: int = 825,
    out_dir: Path | None = None,
) -> CertFiles:
    """Issues `<node_id>.pem` / `<node_id>-key.pem`, valid as TLS server and client.

    Nodes also call each other (status fan-out) with this certificate, hence clientAuth.
    """
    if not isinstance(node_id, str) or not NODE_ID.fullmatch(node_id):
        raise ValueError(f"node_id: expected [a-z0-9][a-z0-9-]{{0,62}}, got {node_id!r}")
    if isinstance(hosts, str) or not hosts:
        raise ValueError("hosts: expected at least one IP address or DNS name")
    sans = [*_general_names(hosts), x509.UniformResourceIdentifier(_spiffe_uri(NODE_KIND, node_id))]
    directory = Path(out_dir) if out_dir is not None else ca.directory
    return _issue(
        ca,
        common_name=node_id,
        sans=sans,
        usages=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        days=days,
        cert_path=directory / f"{node_id}.pem",
        key_path=directory / f"{node_id}-key.pem",
    )


def issue_client_cert(
    ca: CertificateAuthority,
    name: str,
    *,
    kind: str = "admin",
    days: int = 365,
    out_dir: Path | None = None,
) -> CertFiles:
    """Issues `<name>.pem` / `<name>-key.pem` for a client of `kind` (see CLIENT_KINDS)."""
    if not isinstance(name, str) or not _CLIENT_NAME.fullmatch(name):
        raise ValueError(f"name: expected [A-Za-z0-9][A-Za-z0-9._-]{{0,63}}, got {name!r}")
    if kind not in CLIENT_KINDS:
        raise ValueError(f"kind: expected one of {', '.join(sorted(CLIENT_KINDS))}, got {kind!r}")
    directory = Path(out_dir) if out_dir is not None else ca.directory
    return _issue(
        ca,
        common_name=name,
        sans=[x509.UniformResourceIdentifier(_spiffe_uri(kind, name))],
        usages=[ExtendedKeyUsageOID.CLIENT_AUTH],
        days=days,
        cert_path=directory / f"{name}.pem",
        key_path=directory / f"{name}-key.pem",
    )


def issue_server_cert(
    ca: CertificateAuthority,
    name: str,
    *,
    hosts: Sequence[str] = DEFAULT_NODE_HOSTS,
    days: int = 825,
    out_dir: Path | None = None,
) -> CertFiles:
    """Issues `<name>.pem` / `<name>-key.pem`, a TLS server certificate only (no
    principal URI): for HTTPS endpoints such as the TDE gateway."""
    if not isinstance(name, str) or not _CLIENT_NAME.fullmatch(name):
        raise ValueError(f"name: expected [A-Za-z0-9][A-Za-z0-9._-]{{0,63}}, got {name!r}")
    if isinstance(hosts, str) or not hosts:
        raise ValueError("hosts: expected at least one IP address or DNS name")
    directory = Path(out_dir) if out_dir is not None else ca.directory
    return _issue(
        ca,
        common_name=name,
        sans=_general_names(hosts),
        usages=[ExtendedKeyUsageOID.SERVER_AUTH],
        days=days,
        cert_path=directory / f"{name}.pem",
        key_path=directory / f"{name}-key.pem",
    )


# --- cluster secret -----------------------------------------------------------------


def create_cluster_secret(path: Path) -> None:
    """Writes 32 random bytes, urlsafe base64, to a new 0600 file (the Raft password).

    Raises FileExistsError rather than replace a secret: a node with a new one could no
    longer talk to the rest of its cluster.
    """
    path = Path(path)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32))
    _write_atomic(path, secret + b"\n", mode=0o600, replace=False)


# --- who is calling -----------------------------------------------------------------
#
# Identity comes from one place only: a URI SAN exactly as `issue_node_cert` /
# `issue_client_cert` write it, on a certificate made for the role the peer plays. Any
# other tool holding the CA key can sign anything (a CN that looks like a SPIFFE id, two
# URI SANs, a CA or server-only certificate); such a certificate names nobody here.

_KIND_NAMES: Final = {NODE_KIND: NODE_ID, **{kind: _CLIENT_NAME for kind in CLIENT_KINDS}}
_SPIFFE_ID = re.compile(rf"spiffe://{re.escape(SPIFFE_DOMAIN)}/([a-z]+)/([^/]+)")
_SHOWN_CHARS: Final = 48
PeerRole = Literal["client", "server"]
_ROLE_USAGE: Final = {
    "client": ExtendedKeyUsageOID.CLIENT_AUTH,
    "server": ExtendedKeyUsageOID.SERVER_AUTH,
}


class IdentityRefused(ValueError):
    """The certificate names no keymgr identity; the message says why, in one short line."""


def _shown(value: str) -> str:
    """An attacker-chosen string, quoted, escaped and cut short for a log or audit line."""
    text = ascii(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _spiffe_principal(uri: str) -> Principal | str:
    match = _SPIFFE_ID.fullmatch(uri)
    if match is None:
        return f"URI SAN {_shown(uri)} is not spiffe://{SPIFFE_DOMAIN}/<kind>/<name>"
    kind, name = match.groups()
    pattern = _KIND_NAMES.get(kind)
    if pattern is None:
        return f"URI SAN {_shown(uri)}: unknown kind"
    if not pattern.fullmatch(name):
        return f"URI SAN {_shown(uri)}: not a valid {kind} name"
    return Principal(name=name, kind=kind, uri=uri)


def _usage_problem(cert: x509.Certificate, role: PeerRole) -> str:
    """Why `cert` is not fit for a TLS `role` peer, or "" if it is."""
    extensions = cert.extensions
    try:
        if extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "a CA certificate cannot name a peer"
    except x509.ExtensionNotFound:
        pass
    try:
        if not extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            return "key usage lacks digitalSignature"
    except x509.ExtensionNotFound:
        pass
    try:
        usages = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return f"no extended key usage (needs {role}Auth)"
    if _ROLE_USAGE[role] not in usages:
        return f"extended key usage lacks {role}Auth"
    return ""


def _identity_in(cert: x509.Certificate, role: PeerRole) -> Principal | str:
    problem = _usage_problem(cert, role)
    if problem:
        return problem
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "no subject alternative name (the identity is a spiffe:// URI SAN)"
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if len(uris) != 1:
        return f"{len(uris)} URI SANs (exactly one spiffe:// identity is required)"
    return _spiffe_principal(uris[0])


@functools.lru_cache(maxsize=_PRINCIPAL_CACHE_SIZE)
def _identity(pem: bytes, role: PeerRole) -> Principal | str:
    """The principal `pem` names as a `role` peer, or why it names nobody (cached both
    ways: a refused certificate presented again costs no more than an accepted one)."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
        cert.extensions  # noqa: B018 - parses every extension: a malformed one refuses
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        return "not a well-formed PEM certificate"
    found = _identity_in(cert, role)
    if isinstance(found, str):
        # the fingerprint finds the certificate in an inventory or the CA's issuance log
        return f"certificate sha256:{cert.fingerprint(hashes.SHA256()).hex()[:16]}: {found}"
    return found


def principal_from_certificate(pem: bytes | str, *, role: PeerRole = "client") -> Principal:
    """Names the holder of a chain-verified certificate presented by a TLS `role` peer.

    The identity is the certificate's one URI SAN, `spiffe://keymgr/<kind>/<name>` with a
    kind and name `keymgr pki` would issue; the subject (CN) is never used. The certificate
    must be a leaf (not a CA), have digitalSignature if it has a key usage, and carry the
    `role`Auth extended key usage. Anything else raises IdentityRefused, whose message is
    one bounded line (attacker-chosen text in it is escaped and cut short).

    Runs on every RPC, so results are cached by the PEM bytes (bounded LRU).
    """
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else bytes(pem)
    found = _identity(data, role)
    if isinstance(found, str):
        raise IdentityRefused(found)
    return found


def parse_principal(uri: str) -> Principal:
    """The principal a `spiffe://keymgr/<kind>/<name>` id names (IdentityRefused if it
    is not one `keymgr pki` would issue): for ids that arrive without a certificate."""
    found = _spiffe_principal(uri)
    if isinstance(found, str):
        raise IdentityRefused(found)
    return found


def verified_client_certificate(
    certificate: bytes, ca_pem: bytes, *, now: datetime.datetime | None = None
) -> bytes:
    """The PEM of `certificate` (DER or PEM) if the CA in `ca_pem` issued it and it is
    valid now; else IdentityRefused. For a certificate a gateway forwards, which no TLS
    handshake verified (the cluster CA issues leaves directly)."""
    try:
        if certificate.lstrip().startswith(b"-----BEGIN"):
            cert = x509.load_pem_x509_certificate(certificate)
        else:
            cert = x509.load_der_x509_certificate(certificate)
        ca = x509.load_pem_x509_certificate(ca_pem)
    except ValueError:
        raise IdentityRefused("forwarded certificate is not a well-formed certificate") from None
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise IdentityRefused("forwarded certificate was not issued by the cluster CA") from None
    moment = now or _now()
    if not cert.not_valid_before_utc - _CLOCK_SKEW <= moment <= cert.not_valid_after_utc:
        raise IdentityRefused("forwarded certificate is expired or not yet valid")
    return cert.public_bytes(serialization.Encoding.PEM)
