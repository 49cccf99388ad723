"""TLS settings for every server and client keymgr builds: the one place that chooses
protocol version, cipher list, ALPN, credentials, client channel options and keepalive.

The node (`keymgr.server`: its API port, its calls to peers), the SDK
(`keymgr.client.Credentials`), the Raft port, the TDE gateway and the tools all get
their TLS from here, so client and server cannot drift apart:

    gRPC server        server_credentials(cert, key, ca)  mTLS, client cert required
    gRPC client        channel_credentials(cert, key, ca) + client_channel_options()
    Python ssl         ssl_context("server" | "client")   (Raft, TDE gateway, tools)
    version            TLS 1.3 only (below)
    ALPN               GRPC_ALPN: gRPC core negotiates "h2" itself on both sides
    keepalive          the server pings a silent client (KEEPALIVE_S, used by
                       keymgr.listen_limits); clients send no pings of their own: a
                       client pinging more often than the server allows would be sent
                       GOAWAY ("too_many_pings")

TLS 1.3 only, whatever the environment says.

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
from pathlib import Path
from typing import Final, Literal

CIPHER_SUITES_VARIABLE: Final = "GRPC_SSL_CIPHER_SUITES"
TLS13_ONLY_CIPHER_SUITES: Final = "ECDHE-PSK-CHACHA20-POLY1305"

_INHERITED = os.environ.get(CIPHER_SUITES_VARIABLE)
_GRPC_LOADED_FIRST = "grpc" in sys.modules
os.environ[CIPHER_SUITES_VARIABLE] = TLS13_ONLY_CIPHER_SUITES

import grpc  # noqa: E402 - must read the variable set just above

GRPC_ALPN: Final = ("h2",)  # HTTP/2: what gRPC core offers and accepts
KEEPALIVE_S: Final = 60.0  # a node's API pings a peer silent this long...
KEEPALIVE_TIMEOUT_S: Final = 20.0  # ...and drops it if no answer comes in this long

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


# --- gRPC credentials and channel options ---------------------------------------------


def server_credentials(cert: Path, key: Path, ca: Path) -> grpc.ServerCredentials:
    """A node's API: TLS 1.3, and a client certificate from the cluster CA required."""
    require_tls13()
    return grpc.ssl_server_credentials(
        [(key.read_bytes(), cert.read_bytes())],
        root_certificates=ca.read_bytes(),
        require_client_auth=True,
    )


def channel_credentials(cert: Path, key: Path, ca: Path) -> grpc.ChannelCredentials:
    """A client's side (SDK, CLI, agents, a node calling a peer): TLS 1.3, presenting
    `cert`, trusting only the cluster CA (InsecureTlsError if gRPC here could
    negotiate TLS 1.2)."""
    require_tls13()
    return grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes(),
        private_key=key.read_bytes(),
        certificate_chain=cert.read_bytes(),
    )


def client_channel_options(*, own_connection: bool = False) -> list[tuple[str, int]]:
    """Channel arguments of a client channel to a node. `own_connection`: this channel
    opens its own connection rather than share gRPC's process-wide one to the same
    address (several connections to one node reach several of its serving processes)."""
    return [("grpc.use_local_subchannel_pool", 1)] if own_connection else []


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
    context.set_alpn_protocols(list(GRPC_ALPN))
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
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)
