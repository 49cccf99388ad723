"""TLS 1.3 only, for every server and client keymgr builds, whatever the environment says.

gRPC Python has no minimum-TLS-version setting (grpc/grpc#37305). It has
GRPC_SSL_CIPHER_SUITES, the cipher list of TLS 1.2 and older (TLS 1.3 suites are not in
it). A list of one PSK suite makes every TLS 1.2 handshake fail, since keymgr never
configures a PSK, and leaves TLS 1.3 alone.

gRPC core reads its environment once, into its ConfigVars, when `grpc` is imported
(grpcio 1.85: setting the variable after `import grpc` changes nothing; see
src/core/config/config_vars.h), and copies the cipher list once more the first time it
sets up TLS (grpc_get_ssl_cipher_suites). So importing any part of keymgr
(keymgr/__init__.py imports this module first) overwrites the variable, whatever value
was inherited, and imports grpc at once: no moment is left for the list to change.

If grpc was imported before keymgr, the list it read is unknown. `require_tls13`, run
before keymgr builds any gRPC credentials, then tries: a TLS 1.2 handshake with a
throwaway gRPC server on loopback must fail (and a TLS 1.3 one succeed), or it raises
InsecureTlsError saying what to change, rather than let the process speak TLS 1.2. The
same check runs if the variable no longer holds keymgr's list when credentials are made.

Python `ssl` contexts (Raft TLS, the TDE gateway) come from `ssl_context`, which sets
minimum_version to TLS 1.3 after OpenSSL's configuration is applied, so an OPENSSL_CONF
cannot lower it.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
import sys
import threading
from concurrent import futures
from typing import Final, Literal

CIPHER_SUITES_VARIABLE: Final = "GRPC_SSL_CIPHER_SUITES"
TLS13_ONLY_CIPHER_SUITES: Final = "ECDHE-PSK-CHACHA20-POLY1305"

_INHERITED = os.environ.get(CIPHER_SUITES_VARIABLE)
_GRPC_LOADED_FIRST = "grpc" in sys.modules
os.environ[CIPHER_SUITES_VARIABLE] = TLS13_ONLY_CIPHER_SUITES

import grpc  # noqa: E402 - must read the variable set just above

_PROBE_TIMEOUT_S: Final = 5.0
_checked = False
_check_lock = threading.Lock()


class InsecureTlsError(RuntimeError):
    """gRPC in this process would accept TLS 1.2; keymgr refuses to build credentials."""


def require_tls13() -> None:
    """Raises InsecureTlsError unless gRPC in this process speaks TLS 1.3 only.

    Free when keymgr was imported before grpc (every keymgr entry point); otherwise one
    loopback handshake test, once per process.
    """
    global _checked
    if _checked:
        return
    with _check_lock:
        if _checked:
            return
        current = os.environ.get(CIPHER_SUITES_VARIABLE)
        if (_GRPC_LOADED_FIRST or current != TLS13_ONLY_CIPHER_SUITES) and _grpc_accepts_tls12():
            inherited = "unset" if _INHERITED is None else repr(_INHERITED)
            why = (
                f"grpc was imported before keymgr; {CIPHER_SUITES_VARIABLE} was {inherited} "
                "when keymgr was imported"
                if _GRPC_LOADED_FIRST
                else f"{CIPHER_SUITES_VARIABLE} was changed to {current!r} after keymgr "
                "was imported"
            )
            raise InsecureTlsError(
                f"gRPC in this process accepts TLS 1.2 ({why}); keymgr speaks TLS 1.3 only: "
                "import keymgr before grpc, or start the process with "
                f"{CIPHER_SUITES_VARIABLE}={TLS13_ONLY_CIPHER_SUITES}"
            )
        _checked = True


def ssl_context(side: Literal["server", "client"]) -> ssl.SSLContext:
    """A Python `ssl` context that negotiates TLS 1.3 or nothing."""
    protocol = ssl.PROTOCOL_TLS_SERVER if side == "server" else ssl.PROTOCOL_TLS_CLIENT
    context = ssl.SSLContext(protocol)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


# --- the check ----------------------------------------------------------------------


def _grpc_accepts_tls12() -> bool:
    """Asks a throwaway gRPC server on loopback; InsecureTlsError if it cannot tell."""
    key_pem, cert_pem = _throwaway_certificate()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    try:
        port = server.add_secure_port(
            "127.0.0.1:0", grpc.ssl_server_credentials([(key_pem, cert_pem)])
        )
        server.start()
        if not _handshake_completes(port, ssl.TLSVersion.TLSv1_3):
            raise InsecureTlsError(
                "cannot check that gRPC refuses TLS 1.2: a TLS 1.3 handshake with a gRPC "
                "server on 127.0.0.1 failed too"
            )
        return _handshake_completes(port, ssl.TLSVersion.TLSv1_2)
    finally:
        server.stop(None)


def _handshake_completes(port: int, version: ssl.TLSVersion) -> bool:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # our own throwaway server; only the version counts
    context.minimum_version = context.maximum_version = version
    context.set_alpn_protocols(["h2"])
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=_PROBE_TIMEOUT_S) as raw,
            context.wrap_socket(raw),
        ):
            return True
    except (ssl.SSLError, OSError):
        return False


def _throwaway_certificate() -> tuple[bytes, bytes]:
    # imported here: only the rare check needs it, not every `import keymgr`
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keymgr TLS version check")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)
