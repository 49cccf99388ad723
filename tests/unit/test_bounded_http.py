"""keymgr.bounded_http: the bounds, one by one, on plain HTTP with small numbers (TLS and
the real numbers: tests/unit/test_tde_gateway_listener.py)."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from keymgr.bounded_http import BoundedHttpServer, Request, Response
from keymgr.listen_limits import HttpLimits

LIMITS = HttpLimits(
    max_connections=8,
    workers=2,
    handshake_timeout_s=1.0,
    head_timeout_s=1.5,
    write_timeout_s=1.0,
    max_head_bytes=1024,
    max_headers=8,
)

Serve = Callable[..., BoundedHttpServer]


def ok(request: Request) -> Response:
    if request.target == "/missing":
        return Response(404, b"{}")
    return Response(200, f"{request.method} {request.target}".encode(), content_type="text/plain")


@pytest.fixture
def serve() -> Iterator[Serve]:
    started: list[tuple[BoundedHttpServer, threading.Thread]] = []

    def start(
        handler: Callable[[Request], Response] = ok, limits: HttpLimits = LIMITS
    ) -> BoundedHttpServer:
        server = BoundedHttpServer(("127.0.0.1", 0), handler, limits, name="test")
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        started.append((server, thread))
        return server

    try:
        yield start
    finally:
        for server, thread in started:
            server.shutdown()
            thread.join(10)
            assert not thread.is_alive()


def raw(server: BoundedHttpServer, data: bytes, timeout: float = 5.0) -> bytes:
    """Sends `data`, returns all the server sends until it closes."""
    with socket.create_connection(server.server_address, timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_keep_alive_serves_several_requests_on_one_connection(serve: Serve) -> None:
    server = serve()
    conn = http.client.HTTPConnection(*server.server_address, timeout=5)
    for path in ("/a", "/b", "/c"):
        conn.request("GET", path)
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, f"GET {path}".encode())
    conn.close()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(9)) + b"\r\n", 431),
        (b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 413),
        (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 413),
        (b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX-Vault-Token: a\r\nx-vault-token: b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n", 400),
        (b"GET /  HTTP/1.1\r\n\r\n", 400),
        (b"GET http://elsewhere/ HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET /missing HTTP/1.1\r\n\r\n", 404),
    ],
)
def test_bad_requests_are_answered_and_the_connection_ends(
    serve: Serve, request_bytes: bytes, status: int
) -> None:
    server = serve()
    started = time.monotonic()
    answer = raw(server, request_bytes)  # returns only once the server has closed
    assert status_of(answer) == status
    assert b"Connection: close" in answer
    assert time.monotonic() - started < 1.0  # at once, not at a timeout


def test_a_request_head_has_one_deadline_however_slowly_it_comes(serve: Serve) -> None:
    server = serve()
    started = time.monotonic()
    with socket.create_connection(server.server_address, timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")
        try:
            for _ in range(100):  # a byte every 0.2 s: each read would be quick
                sock.sendall(b"X")
                time.sleep(0.2)
        except OSError:
            pass  # closed by the server
        assert sock.recv(100) == b""
    assert LIMITS.head_timeout_s - 0.2 < time.monotonic() - started < LIMITS.head_timeout_s + 1


def test_an_idle_keep_alive_connection_is_closed_after_the_head_timeout(serve: Serve) -> None:
    server = serve()
    with socket.create_connection(server.server_address, timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        started = time.monotonic()  # the answer comes at once; the idle time starts then
        assert status_of(sock.recv(4096)) == 200
        assert sock.recv(100) == b""
    assert LIMITS.head_timeout_s - 0.2 < time.monotonic() - started < LIMITS.head_timeout_s + 1


def test_at_the_cap_the_oldest_idle_connection_makes_room(serve: Serve) -> None:
    server = serve()
    idle = [socket.create_connection(server.server_address) for _ in range(LIMITS.max_connections)]
    try:
        time.sleep(0.2)
        assert server.connections == LIMITS.max_connections
        conn = http.client.HTTPConnection(*server.server_address, timeout=2)
        conn.request("GET", "/new")
        assert conn.getresponse().status == 200
        conn.close()
        idle[0].settimeout(2)
        assert idle[0].recv(10) == b""  # the oldest one was closed
        assert server.evicted >= 1
    finally:
        for sock in idle:
            sock.close()


def test_when_every_connection_is_busy_a_newcomer_is_refused(serve: Serve) -> None:
    release = threading.Event()

    def slow(request: Request) -> Response:
        release.wait(10)
        return Response(200, b"done")

    limits = HttpLimits(max_connections=2, workers=2, head_timeout_s=5.0, max_headers=8)
    server = serve(slow, limits)
    busy = [socket.create_connection(server.server_address, timeout=5) for _ in range(2)]
    try:
        for sock in busy:
            sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        time.sleep(0.3)
        with contextlib.suppress(ConnectionResetError):  # a reset or EOF: not queued
            assert raw(server, b"GET / HTTP/1.1\r\n\r\n", timeout=2) == b""
        assert server.refusals.total >= 1
        release.set()
        for sock in busy:
            assert status_of(sock.recv(4096)) == 200
    finally:
        release.set()
        for sock in busy:
            sock.close()


def test_a_failing_handler_gives_500_and_the_server_goes_on(serve: Serve) -> None:
    def broken(request: Request) -> Response:
        if request.target == "/boom":
            raise RuntimeError("boom")
        return ok(request)

    server = serve(broken)
    assert status_of(raw(server, b"GET /boom HTTP/1.1\r\n\r\n")) == 500
    assert status_of(raw(server, b"GET /fine HTTP/1.1\r\nConnection: close\r\n\r\n")) == 200


def test_shutdown_ends_held_connections(serve: Serve) -> None:
    server = serve()
    held = [socket.create_connection(server.server_address) for _ in range(5)]
    time.sleep(0.2)
    started = time.monotonic()
    server.shutdown()
    assert time.monotonic() - started < 2
    for sock in held:
        sock.settimeout(2)
        assert sock.recv(10) == b""
        sock.close()
