"""A fault-injecting TCP proxy on loopback: one per directed Raft link in `drill chaos`.

A node dials a peer's Raft address through the proxy (`raft.dial_overrides`), so the
proxy can cut the link without touching either process:

- ``pass``: bytes flow both ways;
- ``partition``: existing connections are dropped, new ones are accepted and closed at
  once (the dialer sees a reset, as with a firewall REJECT);
- ``blackhole``: existing connections are dropped, new ones are accepted and then never
  answered (as with a firewall DROP: the dialer waits for its own timeout);
- ``delay``: bytes flow, each chunk held back for `delay_s` first.

Every socket and thread is bounded by `close()`; pumps use short timeouts so that a mode
change or close takes effect within about `POLL_S`.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["pass", "partition", "blackhole", "delay"]
MODES: tuple[Mode, ...] = ("pass", "partition", "blackhole", "delay")
POLL_S = 0.05
CONNECT_TIMEOUT_S = 1.0
CHUNK = 65536


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


@dataclass(eq=False)  # hashed by identity: links live in a set
class _Link:
    """One proxied connection: the accepted socket and, unless held, its upstream."""

    client: socket.socket
    upstream: socket.socket | None
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for sock in (self.client, self.upstream):
            if sock is None:
                continue
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class FaultProxy:
    """Listens on `listen` (loopback), forwards to `target`; `set_mode` injects faults."""

    def __init__(self, listen: str, target: str, *, name: str = "") -> None:
        host, _ = _split(listen)
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError(f"listen: loopback addresses only, got {listen!r}")
        self.listen = listen
        self.target = target
        self.name = name or f"{listen}->{target}"
        self.mode: Mode = "pass"
        self.delay_s = 0.0
        self.accepted = 0  # connections accepted, for tests and reports
        self._links: set[_Link] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: socket.socket | None = None

    def start(self) -> None:
        host, port = _split(self.listen)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server = socket.socket(family, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((host, port))
        server.listen(64)
        server.settimeout(POLL_S)
        self._server = server
        self._spawn(self._accept_loop)

    def set_mode(self, mode: Mode, *, delay_s: float = 0.0) -> None:
        """Switch mode; leaving ``pass``/``delay`` for a cut drops every open connection."""
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
        with self._lock:
            self.mode, self.delay_s = mode, delay_s
            cut = mode in ("partition", "blackhole")
            # a cut drops everything; a heal drops the held (blackholed) connections
            doomed = [link for link in self._links if cut or link.upstream is None]
        for link in doomed:
            self._drop(link)

    def open_connections(self) -> int:
        with self._lock:
            return len(self._links)

    def close(self) -> None:
        """Stop accepting, drop every connection, join the threads (bounded)."""
        self._stop.set()
        if self._server is not None:
            self._server.close()
        with self._lock:
            links = list(self._links)
        for link in links:
            self._drop(link)
        deadline = time.monotonic() + 2.0
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals -------------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(
            target=target, args=args, daemon=True, name=f"faultproxy {self.name}"
        )
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    def _drop(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)
        link.close()

    def _accept_loop(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            mode = self.mode
            if mode == "partition":
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                client.close()  # linger 0: a reset, as a REJECT rule gives
                continue
            if mode == "blackhole":
                with self._lock:
                    self._links.add(_Link(client, None))  # held silently until healed
                continue
            self._spawn(self._connect, client)

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(_split(self.target), CONNECT_TIMEOUT_S)
        except OSError:
            client.close()
            return
        link = _Link(client, upstream)
        with self._lock:
            if self.mode in ("partition", "blackhole") or self._stop.is_set():
                link.close()
                return
            self._links.add(link)
        self._spawn(self._pump, link, client, upstream)
        self._pump(link, upstream, client)

    def _pump(self, link: _Link, source: socket.socket, sink: socket.socket) -> None:
        """Copies source to sink until either end closes or the link is dropped."""
        try:
            while not link.closed and not self._stop.is_set():
                ready, _, _ = select.select([source], [], [], POLL_S)
                if not ready:
                    continue
                data = source.recv(CHUNK)
                if not data:
                    break
                if self.mode == "delay" and self.delay_s > 0:
                    time.sleep(self.delay_s)
                if link.closed:
                    break
                sink.sendall(data)
        except (OSError, ValueError):
            pass  # the link was dropped under us, or an end went away
        finally:
            self._drop(link)
