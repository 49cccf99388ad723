"""FaultProxy: bytes pass, a partition drops and refuses, a blackhole holds, a heal
restores, delay delays; only loopback listeners."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from keymgr.ops.faultproxy import FaultProxy
from keymgr.ops.ports import free_port


@pytest.fixture
def echo() -> Iterator[str]:
    """An echo server on loopback; yields its address."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.1)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                conn.sendall(data)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(2)
    server.close()


@pytest.fixture
def proxy(echo: str) -> Iterator[FaultProxy]:
    with FaultProxy(f"127.0.0.1:{free_port()}", echo, name="test") as p:
        yield p


def _dial(proxy: FaultProxy) -> socket.socket:
    host, port = proxy.listen.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=2.0)


def _roundtrip(sock: socket.socket, payload: bytes = b"ping") -> bytes:
    sock.sendall(payload)
    return sock.recv(4096)


def _closed(sock: socket.socket, timeout: float = 2.0) -> bool:
    """True if the peer closed or reset the connection within `timeout`."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_pass_forwards_both_ways(proxy: FaultProxy) -> None:
    with _dial(proxy) as sock:
        assert _roundtrip(sock, b"hello") == b"hello"
    assert proxy.accepted == 1


def test_partition_drops_open_connections_and_refuses_new_ones(proxy: FaultProxy) -> None:
    sock = _dial(proxy)
    assert _roundtrip(sock) == b"ping"
    proxy.set_mode("partition")
    assert _closed(sock)
    sock.close()
    try:
        again = _dial(proxy)
    except ConnectionResetError:
        pass  # reset while connecting: refused, as wanted
    else:
        with again:  # accepted by the kernel, then reset by the proxy
            assert _closed(again)
    assert proxy.open_connections() == 0


def test_blackhole_holds_new_connections_silently(proxy: FaultProxy) -> None:
    proxy.set_mode("blackhole")
    with _dial(proxy) as sock:
        sock.sendall(b"anyone?")
        assert not _closed(sock, timeout=0.3)  # no answer, no close: a DROP rule
        proxy.set_mode("pass")  # the heal drops the held connection
        assert _closed(sock)


def test_heal_lets_new_connections_through(proxy: FaultProxy) -> None:
    proxy.set_mode("partition")
    proxy.set_mode("pass")
    with _dial(proxy) as sock:
        assert _roundtrip(sock) == b"ping"


def test_delay_holds_each_chunk_back(proxy: FaultProxy) -> None:
    proxy.set_mode("delay", delay_s=0.2)
    with _dial(proxy) as sock:
        began = time.monotonic()
        assert _roundtrip(sock) == b"ping"
        assert time.monotonic() - began >= 0.35  # both directions delayed


def test_close_drops_everything_and_stops_listening(echo: str) -> None:
    proxy = FaultProxy(f"127.0.0.1:{free_port()}", echo)
    proxy.start()
    sock = _dial(proxy)
    assert _roundtrip(sock) == b"ping"
    proxy.close()
    assert _closed(sock)
    sock.close()
    with pytest.raises(OSError):
        _dial(proxy).close()


def test_loopback_only_and_known_modes(echo: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy("10.1.2.3:7000", echo)
    proxy = FaultProxy(f"127.0.0.1:{free_port()}", echo)
    with pytest.raises(ValueError, match="mode"):
        proxy.set_mode("drop")  # type: ignore[arg-type]
