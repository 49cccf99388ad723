"""Why a TLS handshake with a node failed, in words a user can act on.

gRPC reports a client certificate the node refused as `UNAVAILABLE: Socket closed`
(in TLS 1.3 the node checks it after the client has finished its side, then just
closes), which looks like a node that is down and would be retried for seconds. When a
call fails that way, one probe handshake with the same files tells the two apart: a
node that is up completes the handshake and answers the HTTP/2 preface; a node that
refuses the certificate closes at once. The files themselves then say why (another
CA, expired). Only runs on a failed call, never on the success path.
"""

from __future__ import annotations

import datetime
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID

from keymgr.tls13 import ssl_context

PROBE_TIMEOUT_S = 1.5  # a refusal is quick; bounds the probe of a hung node
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# what gRPC says when a handshake may have been refused (versus a node that is down)
_SUSPECT = ("socket closed", "handshake", "certificate", "ssl")


def may_be_refused_handshake(details: str) -> bool:
    lower = details.lower()
    return any(sign in lower for sign in _SUSPECT)


def explain_handshake_failure(endpoint: str, ca: Path, cert: Path, key: Path) -> str | None:
    """A one-line reason the TLS handshake with `endpoint` fails with these files, or
    None if it does not (the node is down or closed for another reason: retryable)."""
    host, _, port = endpoint.rpartition(":")
    context = ssl_context("client")
    context.check_hostname = False  # names are gRPC's to check; here: who trusts whom
    context.set_alpn_protocols(["h2"])
    try:
        context.load_verify_locations(str(ca))
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError, ValueError) as exc:
        return f"cannot use the TLS files ({ca}, {cert}, {key}): {exc}"
    try:
        with (
            socket.create_connection((host.strip("[]"), int(port)), PROBE_TIMEOUT_S) as raw,
            context.wrap_socket(raw, server_hostname=None) as tls,
        ):
            tls.sendall(_PREFACE)
            if tls.recv(1):
                return None  # the node took our certificate: not a TLS problem
    except ssl.SSLCertVerificationError as exc:
        return (
            f"TLS handshake failed: the node's certificate is not signed by the CA in {ca} "
            f"({exc.verify_message}); use the cluster's CA certificate (dev cluster: "
            "dev-cluster/certs/ca.pem)"
        )
    except ssl.SSLError as exc:
        if "alert" not in str(exc).lower():
            return None
    except (OSError, ValueError):
        return None  # not listening, reset, timed out: the node is down or busy
    return (
        f"TLS handshake failed: the node refused this client's certificate {cert}"
        f"{_why_refused(ca, cert)}"
    )


def _why_refused(ca_path: Path, cert_path: Path) -> str:
    try:
        ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return ""
    now = datetime.datetime.now(datetime.UTC)
    if cert.not_valid_after_utc < now:
        return f": it expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return (
            f": it was issued by '{cert.issuer.rfc4514_string()}', not by the cluster's CA "
            f"in {ca_path} (issue one with `keymgr pki client NAME --dir DIR`, DIR holding "
            "the cluster's CA: dev-cluster/certs for a dev cluster)"
        )
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = None
    if usages is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
        return ": it is not a client certificate (no clientAuth extended key usage)"
    return " (issued by the CA the client trusts, but not one the node accepts)"
