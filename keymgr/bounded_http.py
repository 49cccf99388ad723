"""A small HTTP/1.1 server (optional TLS) that slow and idle clients cannot stop.

Used by the gateway (KV v2 and MariaDB TDE) and the metrics endpoint, in place of `http.server`,
whose TLS handshake ran inside the single accept loop with no timeout (one idle socket
stopped every key fetch) and whose threads waited on a peer for ever.

Here one asyncio loop owns every connection, so an idle one costs a few kilobytes and
no thread; a handler (blocking code) runs on a small worker pool. Bounds, all from
`HttpLimits` (numbers in `keymgr/listen_limits.py`):

- the TLS handshake runs per connection, off the accept path, within
  `handshake_timeout_s` from the start of the handshake;
- a whole request head must arrive within `head_timeout_s` of the handshake or of the
  previous answer (one deadline, not one per read: a byte now and then does not extend
  it); this is also the keep-alive idle time;
- the head is at most `max_head_bytes` in at most `max_headers` lines;
- a body is read only where `max_body_bytes` allows one (0: any body is refused with
  413, as the GET-only listeners do), only with a Content-Length (Transfer-Encoding:
  411), at most `max_body_bytes` (larger: 413 before a byte of it is read), and whole
  within `body_timeout_s` of the end of the head (one deadline, like the head's);
- an answer must be taken by the peer within `write_timeout_s`;
- at most `max_connections`: at the cap the oldest connection that is not being answered
  (handshaking, sending its head, or idle between requests) is closed to make room, and
  only when every connection is being answered is the newcomer refused;
- an error answer (status >= 400) ends the connection.

The surface is socketserver's (`serve_forever`, `shutdown`, `server_close`,
`server_address`), so callers run it like `http.server`.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from keymgr.listen_limits import HttpLimits, RefusalLog

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    version: str
    headers: Mapping[str, str]  # names in lower case; each at most once
    peer: str
    body: bytes = b""
    peer_certificate: bytes | None = None  # DER of a verified TLS client certificate


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    close: bool = False  # end the connection after this answer


Handler = Callable[[Request], Response]
"""Runs on a worker thread; may block (e.g. on a cluster call)."""


@dataclass(eq=False)
class _Connection:
    writer: asyncio.StreamWriter
    since: float = field(default_factory=time.monotonic)  # connected, or last answered
    busy: bool = False  # a request is being answered: never evicted

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.transport.abort()


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _peer_certificate(writer: asyncio.StreamWriter) -> bytes | None:
    """DER of the client certificate the handshake verified (None if none was sent)."""
    ssl_object = writer.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der: bytes | None = ssl_object.getpeercert(binary_form=True)
    return der


def _listening_socket(address: tuple[str, int]) -> socket.socket:
    host, port = address
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    return socket.create_server((host, port), family=family, backlog=128)


class BoundedHttpServer:
    """Binds at construction (like socketserver); `serve_forever` runs the loop."""

    def __init__(
        self,
        address: tuple[str, int],
        handler: Handler,
        limits: HttpLimits,
        *,
        ssl_context: ssl.SSLContext | Callable[[], ssl.SSLContext] | None = None,
        name: str = "http",
        server_header: str = "keymgr",
    ) -> None:
        self._handler = handler
        self._limits = limits
        # a callable is asked once per connection, so a reissued certificate is served
        # from the next handshake on (`keymgr.gateway.tls.ReloadingContext`)
        self._ssl = ssl_context
        self._name = name
        self._server_header = server_header
        self._sock = _listening_socket(address)
        self.server_address: tuple[str, int] = self._sock.getsockname()[:2]
        self._pool = ThreadPoolExecutor(limits.workers, thread_name_prefix=name)
        self._conns: set[_Connection] = set()
        self._state = threading.Lock()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Future[None] | None = None
        self._done = threading.Event()
        self.refusals = RefusalLog(f"{name} listener")
        self.evicted = 0

    # -- lifecycle (any thread) ---------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serves until `shutdown` (`poll_interval` is accepted for compatibility)."""
        del poll_interval
        loop = asyncio.new_event_loop()
        try:
            with self._state:
                if self._stopping:
                    return
                self._loop, self._stop = loop, loop.create_future()
            loop.run_until_complete(self._run())
        finally:
            with self._state:
                self._loop = None
            loop.close()
            self._done.set()

    def shutdown(self) -> None:
        """Stops `serve_forever` (from another thread), waits for it, frees the port."""
        with self._state:
            self._stopping = True
            loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:

            def wake() -> None:
                if not stop.done():
                    stop.set_result(None)

            with contextlib.suppress(RuntimeError):  # the loop has just closed
                loop.call_soon_threadsafe(wake)
            self._done.wait()
        self.server_close()

    def server_close(self) -> None:
        self._sock.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def connections(self) -> int:
        return len(self._conns)

    # -- on the loop --------------------------------------------------------------------

    async def _run(self) -> None:
        server = await asyncio.start_server(
            self._serve, sock=self._sock, limit=self._limits.max_head_bytes
        )
        assert self._stop is not None
        try:
            await self._stop
        finally:
            server.close()
            for conn in list(self._conns):
                conn.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _admit(self, conn: _Connection) -> bool:
        if len(self._conns) >= self._limits.max_connections:
            idle = [c for c in self._conns if not c.busy]
            if not idle:
                self.refusals.refused("at the connection cap and every connection is busy")
                return False
            oldest = min(idle, key=lambda c: c.since)
            self._conns.discard(oldest)
            oldest.abort()
            self.evicted += 1
            self.refusals.refused("at the connection cap: closed the oldest idle connection")
        self._conns.add(conn)
        return True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(writer)
        if not self._admit(conn):
            conn.abort()
            return
        peer = writer.get_extra_info("peername")
        peer_text = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        graceful = False
        try:
            certificate: bytes | None = None
            if self._ssl is not None:
                context = self._ssl if isinstance(self._ssl, ssl.SSLContext) else self._ssl()
                # nothing may be awaited before this: the ClientHello must reach TLS
                await writer.start_tls(
                    context, ssl_handshake_timeout=self._limits.handshake_timeout_s
                )
                certificate = _peer_certificate(writer)
            graceful = True  # from here on, end with a FIN (and TLS close_notify)
            while True:
                conn.since = time.monotonic()
                try:
                    request = await self._read_request(reader, writer, peer_text, certificate)
                except _BadRequest as bad:
                    body = json.dumps({"errors": [str(bad)]}).encode()
                    await self._write(writer, Response(bad.status, body), close=True)
                    return
                if request is None:
                    return  # closed by the peer, or no complete head in time
                conn.busy = True
                response = await self._answer(request)
                close = (
                    response.close
                    or response.status >= 400
                    or request.version == "HTTP/1.0"
                    or "close" in request.headers.get("connection", "").lower()
                )
                await self._write(writer, response, close=close, head_only=request.method == "HEAD")
                conn.busy = False
                if close:
                    return
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError, EOFError) as exc:
            graceful = False
            log.debug("%s: connection from %s ended: %r", self._name, peer_text, exc)
        except asyncio.CancelledError:
            # shutdown: end quietly (asyncio logs a traceback for a cancelled task it
            # started for a connection)
            graceful = False
        finally:
            self._conns.discard(conn)
            if graceful:
                writer.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer.wait_closed(), 1.0)
            conn.abort()

    async def _read_request(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
        certificate: bytes | None,
    ) -> Request | None:
        try:
            head = await asyncio.wait_for(
                reader.readuntil(b"\r\n\r\n"), self._limits.head_timeout_s
            )
        except (TimeoutError, asyncio.IncompleteReadError):
            return None
        except asyncio.LimitOverrunError:
            raise _BadRequest(431, "request head too large") from None
        lines = head[:-4].split(b"\r\n")
        if len(lines) - 1 > self._limits.max_headers:
            raise _BadRequest(431, "too many headers")
        parts = lines[0].decode("latin-1").split(" ")
        if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1].startswith("/"):
            raise _BadRequest(400, "malformed request line")
        method, target, version = parts
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            raise _BadRequest(505, "HTTP/1.1 only")
        headers: dict[str, str] = {}
        for raw in lines[1:]:
            name, sep, value = raw.decode("latin-1").partition(":")
            if not sep or not _TOKEN.fullmatch(name):  # also a folded line (leading space)
                raise _BadRequest(400, "malformed header line")
            key = name.lower()
            if key in headers:
                raise _BadRequest(400, f"header {key} repeated")
            headers[key] = value.strip(" \t")
        body = await self._read_body(reader, writer, headers)
        return Request(
            method=method,
            target=target,
            version=version,
            headers=headers,
            peer=peer,
            body=body,
            peer_certificate=certificate,
        )

    async def _read_body(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        headers: Mapping[str, str],
    ) -> bytes:
        length_text = headers.get("content-length", "0")
        if not length_text.isdigit() or len(length_text) > 12:
            raise _BadRequest(400, "malformed content-length")
        length = int(length_text)
        limit = self._limits.max_body_bytes
        if limit == 0 and (length > 0 or "transfer-encoding" in headers):
            raise _BadRequest(413, "request bodies are not accepted")
        if "transfer-encoding" in headers:
            raise _BadRequest(411, "a body needs a content-length")
        if length > limit:
            raise _BadRequest(413, f"request body larger than {limit} bytes")
        if length == 0:
            return b""
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            return await asyncio.wait_for(reader.readexactly(length), self._limits.body_timeout_s)
        except TimeoutError:
            raise _BadRequest(408, "request body not received in time") from None

    async def _answer(self, request: Request) -> Response:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, self._handler, request)
        except Exception:
            log.exception(
                "%s: handler failed for %s %s", self._name, request.method, request.target[:200]
            )
            return Response(500, b'{"errors":["internal error"]}', close=True)

    async def _write(
        self,
        writer: asyncio.StreamWriter,
        response: Response,
        *,
        close: bool,
        head_only: bool = False,
    ) -> None:
        try:
            reason = http.HTTPStatus(response.status).phrase
        except ValueError:
            reason = "Status"
        lines = [f"HTTP/1.1 {response.status} {reason}", f"Server: {self._server_header}"]
        if response.status != 204:  # a 204 has no body, so no length or type (RFC 9110)
            lines.append(f"Content-Type: {response.content_type}")
            lines.append(f"Content-Length: {len(response.body)}")
        lines.append("Cache-Control: no-store")
        if close:
            lines.append("Connection: close")
        body = b"" if response.status == 204 or head_only else response.body
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await asyncio.wait_for(writer.drain(), self._limits.write_timeout_s)
