"""Mutual TLS 1.3 between Raft peers: pysyncobj only ever talks to sockets we own.

pysyncobj's wire is its own framing around pickles, authenticated by one shared secret.
Here the public Raft port is ours: a connection must complete a TLS 1.3 handshake with a
certificate from the cluster CA naming a node (`spiffe://keymgr/node/<id>`) that is a
current member before a byte of it is relayed to pysyncobj, which listens on a private
loopback port. Outgoing, pysyncobj dials a local forwarder per peer that opens the TLS
connection and checks the server is the node that peer address belongs to. The node id
behind every relayed connection is remembered (`identity_of_inner`), so the transport can
bind the address pysyncobj announces on connect to the certificate that carried it.

Bounds before authentication: at most `MAX_PENDING` handshakes at once (others are closed
at once), `HANDSHAKE_TIMEOUT_S` per handshake; garbage fails the handshake and never
reaches Raft. After it: at most `MAX_PER_NODE` relayed connections per member.
Certificates are re-read when their files change, so a replaced node certificate is used
for new connections without a restart (a new CA needs a rolling restart).

Everything runs on one asyncio loop in a daemon thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keymgr.pki import NODE_KIND, IdentityRefused, PeerRole, principal_from_certificate
from keymgr.tls13 import ssl_context

log = logging.getLogger(__name__)

MAX_PENDING = 32
MAX_PER_NODE = 4  # pysyncobj needs one per peer; a few more cover reconnect races
HANDSHAKE_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 3.0
CHUNK = 1 << 16
RELOAD_CHECK_S = 2.0


@dataclass(frozen=True)
class RaftTlsFiles:
    """This node's certificate and key (server and client) and the cluster CA."""

    cert: Path
    key: Path
    ca: Path


IdentityOf = Callable[[str], "str | None"]
"""Raft address -> node id of the current member there, or None."""


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class _Contexts:
    """Server and client SSL contexts, rebuilt when a certificate file changes."""

    def __init__(self, files: RaftTlsFiles) -> None:
        self._files = files
        self._stamp: tuple[float, ...] = ()
        self._checked = 0.0
        self.server: ssl.SSLContext
        self.client: ssl.SSLContext
        self._load()

    def _mtimes(self) -> tuple[float, ...]:
        files = self._files
        return tuple(os.stat(p).st_mtime for p in (files.cert, files.key, files.ca))

    def _load(self) -> None:
        stamp = self._mtimes()
        server, client = ssl_context("server"), ssl_context("client")
        for ctx in (server, client):
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cafile=str(self._files.ca))
            ctx.load_cert_chain(str(self._files.cert), str(self._files.key))
        client.check_hostname = False  # peers are checked by node id, not host name
        self.server, self.client, self._stamp = server, client, stamp

    def current(self) -> _Contexts:
        now = time.monotonic()
        if now - self._checked >= RELOAD_CHECK_S:
            self._checked = now
            try:
                if self._mtimes() != self._stamp:
                    self._load()
                    log.info("Raft TLS: reloaded the node certificate")
            except (OSError, ssl.SSLError) as exc:
                log.error("Raft TLS: cannot reload the node certificate: %s", exc)
        return self


def node_id_of(ssl_object: ssl.SSLObject | ssl.SSLSocket | None, *, role: PeerRole) -> str | None:
    """The node id a verified peer certificate names, or None if it names no node.

    `role` is what the peer is on this connection: a dialling member is a TLS client
    (its certificate needs clientAuth), a member dialled is a server (serverAuth); node
    certificates from `keymgr pki` carry both."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    try:
        principal = principal_from_certificate(ssl.DER_cert_to_PEM_cert(der), role=role)
    except IdentityRefused:
        return None
    return principal.name if principal.kind == NODE_KIND else None


class RaftTls:
    """The TLS front of one Raft node: a public listener and one forwarder per peer."""

    def __init__(
        self,
        *,
        files: RaftTlsFiles,
        public_address: str,
        inner_address: str,
        identity_of: IdentityOf,
        member_addresses: Callable[[], list[str]],
        dial_target: Callable[[str], str],
    ) -> None:
        self._contexts = _Contexts(files)
        self._public = public_address
        self._inner = inner_address
        self._identity_of = identity_of
        self._member_addresses = member_addresses
        self._dial_target = dial_target
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="raft-tls")
        self._lock = threading.Lock()
        self._inner_ids: dict[int, str] = {}  # local port of a relayed inner socket -> node id
        self._forwarders: dict[str, str] = {}  # peer address -> local forwarder address
        self._servers: list[asyncio.AbstractServer] = []
        self._pending = 0
        self._refused = 0
        self._last_refusal_log = -60.0

    # -- lifecycle (any thread) -----------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        host, port = _split(self._public)
        self._call(self._listen(host, port, self._accept_peer))

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._call(self._shutdown(), timeout=5.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)

    def forwarder_for(self, peer: str) -> str:
        """The local address pysyncobj dials to reach `peer` (started on first use)."""
        with self._lock:
            known = self._forwarders.get(peer)
        if known is not None:
            return known
        address = self._call(self._start_forwarder(peer))
        with self._lock:
            return self._forwarders.setdefault(peer, address)

    def identity_of_inner(self, inner_peer_port: int) -> str | None:
        """The node id whose TLS connection feeds pysyncobj's socket from that port."""
        with self._lock:
            return self._inner_ids.get(inner_peer_port)

    def _call(self, coro: Coroutine[Any, Any, str], timeout: float = 10.0) -> str:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # -- on the loop ------------------------------------------------------------------

    async def _listen(
        self, host: str, port: int, handler: Callable[..., object], *, reuse: bool = True
    ) -> str:
        server = await asyncio.start_server(
            handler,  # type: ignore[arg-type]
            host,
            port,
            reuse_address=reuse,
            limit=CHUNK,
        )
        self._servers.append(server)
        sock = server.sockets[0].getsockname()
        return f"{sock[0]}:{sock[1]}"

    async def _shutdown(self) -> str:
        for server in self._servers:
            server.close()
        for task in asyncio.all_tasks(self._loop):
            if task is not asyncio.current_task():
                task.cancel()
        return ""

    def _refuse(self, why: str) -> None:
        self._refused += 1
        now = time.monotonic()
        if now - self._last_refusal_log >= 10.0:
            log.warning(
                "Raft TLS: refused a connection: %s (%d refused so far)", why, self._refused
            )
            self._last_refusal_log = now

    async def _accept_peer(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if self._pending >= MAX_PENDING:
            self._refuse("too many handshakes in progress")
            writer.transport.abort()
            return
        self._pending += 1
        try:
            await writer.start_tls(
                self._contexts.current().server, ssl_handshake_timeout=HANDSHAKE_TIMEOUT_S
            )
            node_id = node_id_of(writer.get_extra_info("ssl_object"), role="client")
        except (TimeoutError, OSError, ssl.SSLError, ConnectionError) as exc:
            self._refuse(f"TLS handshake failed ({type(exc).__name__})")
            writer.transport.abort()
            return
        finally:
            self._pending -= 1
        if node_id is None or not self._is_member_id(node_id):
            self._refuse(f"certificate of {node_id or 'no node'} is not a current member")
            writer.transport.abort()
            return
        with self._lock:
            open_from_node = sum(1 for n in self._inner_ids.values() if n == node_id)
        if open_from_node >= MAX_PER_NODE:
            self._refuse(f"{node_id} already has {open_from_node} Raft connections")
            writer.transport.abort()
            return
        try:
            host, port = _split(self._inner)
            inner_reader, inner_writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, limit=CHUNK), CONNECT_TIMEOUT_S
            )
        except (TimeoutError, OSError):
            writer.transport.abort()
            return
        local_port = inner_writer.get_extra_info("sockname")[1]
        with self._lock:
            self._inner_ids[local_port] = node_id
        try:
            await _relay(reader, writer, inner_reader, inner_writer)
        finally:
            with self._lock:
                self._inner_ids.pop(local_port, None)

    def _is_member_id(self, node_id: str) -> bool:
        return any(self._identity_of(a) == node_id for a in self._member_addresses())

    async def _start_forwarder(self, peer: str) -> str:
        async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._forward(peer, reader, writer)

        return await self._listen("127.0.0.1", 0, forward, reuse=False)

    async def _forward(
        self, peer: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        target = self._dial_target(peer)
        host, port = _split(target)
        try:
            remote_reader, remote_writer = await asyncio.wait_for(
                asyncio.open_connection(
                    host,
                    port,
                    ssl=self._contexts.current().client,
                    ssl_handshake_timeout=HANDSHAKE_TIMEOUT_S,
                    limit=CHUNK,
                ),
                CONNECT_TIMEOUT_S + HANDSHAKE_TIMEOUT_S,
            )
        except (TimeoutError, OSError, ssl.SSLError, ConnectionError):
            writer.transport.abort()
            return
        expected = self._identity_of(peer)
        got = node_id_of(remote_writer.get_extra_info("ssl_object"), role="server")
        if got is None or (expected is not None and got != expected):
            self._refuse(f"{peer} presented {got or 'no node'} certificate, expected {expected}")
            remote_writer.transport.abort()
            writer.transport.abort()
            return
        await _relay(remote_reader, remote_writer, reader, writer)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (OSError, ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
        pass


async def _relay(
    a_reader: asyncio.StreamReader,
    a_writer: asyncio.StreamWriter,
    b_reader: asyncio.StreamReader,
    b_writer: asyncio.StreamWriter,
) -> None:
    """Bytes both ways until either side closes; then both close."""
    tasks = [
        asyncio.ensure_future(_pump(a_reader, b_writer)),
        asyncio.ensure_future(_pump(b_reader, a_writer)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for w in (a_writer, b_writer):
            w.transport.abort()
