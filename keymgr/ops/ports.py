"""Loopback ports for servers a test or `keymgr dev up` starts.

A port is picked now and bound later by another process. If we took it from the
kernel's ephemeral range (what `bind(port 0)` returns), an outgoing connection made in
between could be given the same number as its source port, or a peer dialing a node
that is not up yet could connect to itself, and the node then fails to bind. So we
pick at random below that range, check that the port is free, and never hand out the
same number twice in one process.
"""

from __future__ import annotations

import random
import socket
import subprocess
import threading
import time
from pathlib import Path

PORT_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_PORT = 10000
ATTEMPTS = 200

_handed_out: set[int] = set()
_lock = threading.Lock()


def _ephemeral_low() -> int:
    try:
        return int(PORT_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def bindable(host: str, port: int, *, reuse_address: bool = False) -> bool:
    """Whether a listener could bind host:port now (`reuse_address`: as a server does,
    so connections of a stopped server in TIME_WAIT do not count)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        if reuse_address:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1", *, pair: bool = False) -> int:
    """A port free on `host` now, outside the ephemeral range (with `pair`, port + 1
    is free too)."""
    high = _ephemeral_low() - 2
    if high <= LOWEST_PORT:  # an unusual range: fall back to what the kernel picks
        return _kernel_port(host)
    rng = random.SystemRandom()
    with _lock:
        for _ in range(ATTEMPTS):
            port = rng.randint(LOWEST_PORT, high)
            wanted = (port, port + 1) if pair else (port,)
            if any(p in _handed_out for p in wanted):
                continue
            if all(bindable(host, p) for p in wanted):
                _handed_out.update(wanted)
                return port
    raise RuntimeError(f"no free port on {host} after {ATTEMPTS} tries")


def private_port(host: str = "127.0.0.1") -> int:
    """A port for a listener a process opens for itself at once (pysyncobj behind the
    Raft TLS front): from the kernel's ephemeral range, so it never takes a number
    `free_port` hands out for another node's public port (a node restarting on its port
    found it taken by a peer's private listener)."""
    return _kernel_port(host)


def _kernel_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class NotListening(RuntimeError):
    """A started server did not listen in time, or exited first (the message says)."""


def wait_listening(
    port: int,
    process: subprocess.Popen[bytes],
    *,
    timeout: float = 30.0,
    log: Path | None = None,
    host: str = "127.0.0.1",
) -> None:
    """Returns once `process` accepts connections on `port`; raises NotListening (with
    the tail of `log`) if it exits or `timeout` passes first."""

    def tail() -> str:
        return log.read_text(errors="replace")[-1500:] if log and log.exists() else ""

    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise NotListening(f"exited ({process.returncode}) before listening: {tail()}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        if time.monotonic() > deadline:
            raise NotListening(f"not listening on {host}:{port} after {timeout:.0f} s: {tail()}")
        time.sleep(0.1)
