"""Idle and slow-loris clients held against a listener, for the listener-bound tests.

`Siege` keeps `count` connections of each kind open from a background thread (opened
in the order the kinds were added, so put those that finish a TLS handshake first, or
a listener that handshakes on its accept loop stalls the test itself): an idle
one sends nothing; a slow one sends its opening bytes and then one byte of its payload
per `interval` (a TLS ClientHello, an HTTP head that never ends, an HTTP/2 preface).
When the server closes one, its lifetime is recorded and, after `reopen_after`, a new
one takes its place, as an attacker would do, so the pressure stays on for the whole
test. Closing is seen with poll(POLLRDHUP), which works for TCP and unix sockets and
under TLS alike.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

Connect = Callable[[], socket.socket]

_CLOSED = select.POLLRDHUP | select.POLLHUP | select.POLLERR | select.POLLNVAL


def client_hello() -> bytes:
    """The bytes of a real TLS ClientHello (to be sent one by one)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
ENDLESS_HEADERS = b"X-Slow: " + b"a" * 20000


def tcp(host: str, port: int) -> Connect:
    return lambda: socket.create_connection((host, port), timeout=5)


def unix(path: Path, bind: Callable[[], str | bytes] | None = None) -> Connect:
    def connect() -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        if bind is not None:
            sock.bind(bind())
        sock.connect(str(path))
        return sock

    return connect


def tls(host: str, port: int, context: ssl.SSLContext) -> Connect:
    """Connects and completes the TLS handshake (then the holder sends its bytes)."""

    def connect() -> socket.socket:
        raw = socket.create_connection((host, port), timeout=5)
        return context.wrap_socket(raw, server_hostname=host)

    return connect


@dataclass(eq=False)
class _Held:
    kind: str
    sock: socket.socket
    payload: bytes
    opened: float = field(default_factory=time.monotonic)
    next_send: float = 0.0


@dataclass
class _Group:
    kind: str
    connect: Connect
    count: int
    first: bytes
    payload: bytes
    reopen_at: list[float] = field(default_factory=list)


class Siege:
    def __init__(self, *, interval: float = 1.0, reopen_after: float = 0.2) -> None:
        self.interval = interval
        self.reopen_after = reopen_after
        self._groups: list[_Group] = []
        self._held: list[_Held] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="siege", daemon=True)
        self.lifetimes: dict[str, list[float]] = {}
        self.connect_failures = 0

    def hold(
        self,
        kind: str,
        connect: Connect,
        count: int,
        *,
        first: bytes = b"",
        trickle: bytes = b"",
    ) -> Siege:
        self._groups.append(_Group(kind, connect, count, first, trickle))
        self.lifetimes[kind] = []
        return self

    def __enter__(self) -> Siege:
        with ThreadPoolExecutor(32) as pool:  # a listener that stalls costs seconds, not minutes
            for group in self._groups:
                list(pool.map(lambda _, g=group: self._open(g), range(group.count)))
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        with self._lock:
            for held in self._held:
                held.sock.close()
            self._held.clear()

    # -- what the test asks -------------------------------------------------------------

    def open_count(self, kind: str | None = None) -> int:
        with self._lock:
            return sum(1 for h in self._held if kind is None or h.kind == kind)

    def closed(self, kind: str) -> list[float]:
        with self._lock:
            return list(self.lifetimes[kind])

    def wait_every_one_closed(self, within: float) -> dict[str, list[float]]:
        """Waits until the server has closed at least `count` connections of every
        kind (each first one, in effect); returns the lifetimes seen by then."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with self._lock:
                if all(len(self.lifetimes[g.kind]) >= g.count for g in self._groups):
                    return {k: list(v) for k, v in self.lifetimes.items()}
            time.sleep(0.1)
        with self._lock:
            seen = {k: len(v) for k, v in self.lifetimes.items()}
        wanted = {g.kind: g.count for g in self._groups}
        raise AssertionError(f"not closed by the server within {within}s: {seen} of {wanted}")

    # -- the thread ---------------------------------------------------------------------

    def _open(self, group: _Group) -> None:
        try:
            sock = group.connect()
            if group.first:
                sock.sendall(group.first)
            sock.setblocking(False)
        except (OSError, ssl.SSLError):
            with self._lock:
                self.connect_failures += 1
                group.reopen_at.append(time.monotonic() + self.reopen_after)
            return
        with self._lock:
            self._held.append(_Held(group.kind, sock, group.payload, next_send=time.monotonic()))

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            self._reap(now)
            self._trickle(now)
            for group in self._groups:
                due = [t for t in group.reopen_at if t <= now]
                group.reopen_at = [t for t in group.reopen_at if t > now]
                for _ in due:
                    if self._stop.is_set():
                        return
                    self._open(group)
            self._stop.wait(0.05)

    def _reap(self, now: float) -> None:
        with self._lock:
            held = list(self._held)
        if not held:
            return
        poller = select.poll()
        by_fd = {}
        for h in held:
            fd = h.sock.fileno()
            if fd >= 0:
                by_fd[fd] = h
                poller.register(fd, select.POLLIN | select.POLLRDHUP)
        gone = []
        for fd, events in poller.poll(0):
            h = by_fd[fd]
            if events & _CLOSED or not self._drain(h.sock):
                gone.append(h)
        if not gone:
            return
        groups = {g.kind: g for g in self._groups}
        with self._lock:
            for h in gone:
                self._held.remove(h)
                self.lifetimes[h.kind].append(now - h.opened)
                groups[h.kind].reopen_at.append(now + self.reopen_after)
        for h in gone:
            h.sock.close()

    @staticmethod
    def _drain(sock: socket.socket) -> bool:
        """Reads what the server sent; False if that shows the connection is closed."""
        try:
            return bool(sock.recv(4096))
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return True
        except (OSError, ssl.SSLError):
            return False

    def _trickle(self, now: float) -> None:
        with self._lock:
            held = [h for h in self._held if h.payload and h.next_send <= now]
        for h in held:
            try:
                sent = h.sock.send(h.payload[:1])
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                continue
            except (OSError, ssl.SSLError):
                continue  # the reaper sees it closed
            h.payload = h.payload[sent:]
            h.next_send = now + self.interval
