"""How long, how many and how big: the bounds of every listener keymgr runs.

A listener that waits on a peer without a deadline, or holds whatever it is sent, is
stopped by one client that connects and says nothing. Every listener therefore has:

- a **deadline per phase**, counted from the start of the phase, not per read, so a
  client sending a byte just before each read times out cannot stretch it (slow loris):
  the TLS handshake (`HANDSHAKE_TIMEOUT_S`), a whole HTTP request head, from connect,
  handshake or the previous answer (`HEAD_TIMEOUT_S`, also the keep-alive idle time),
  writing an answer (`WRITE_TIMEOUT_S`);
- a **cap on connections** held at once; at the cap an HTTP listener closes its oldest
  connection that is not being answered (idle, handshaking or still sending its head),
  so a flood of idle connections cannot lock the legitimate client out; gRPC refuses the
  newcomer (its handshakes end after `HANDSHAKE_TIMEOUT_S`, so a slot frees quickly);
- a **cap on sizes**: request head, header count, gRPC message and metadata; request
  bodies only on the gateway's KV v2 listener (at most 1 MiB, with a Content-Length,
  whole within `BODY_TIMEOUT_S`), none on the GET-only listeners;
- a **cap on work in flight**, answered at once (RESOURCE_EXHAUSTED, or a closed
  connection) rather than queued without bound.

The numbers live here so `docs/threat-model.md` (g) can name them in one place; the
Raft port has its own (`keymgr/raft/tls.py`).
"""

from __future__ import annotations

import logging
import resource
import threading
import time
from dataclasses import dataclass

from keymgr.tls13 import KEEPALIVE_S, KEEPALIVE_TIMEOUT_S

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT_S = 5.0  # TLS 1.3 needs one round trip; 5 s is ample across zones
HEAD_TIMEOUT_S = 10.0
WRITE_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 10.0  # 1 MiB in 10 s is 100 KiB/s: any live client manages it


@dataclass(frozen=True, kw_only=True)
class GrpcLimits:
    """Channel arguments of a gRPC server (names from grpc's channel_arg_names.h)."""

    max_connections: int  # grpc.max_allowed_incoming_connections: the newcomer is refused
    max_concurrent_rpcs: int  # server-wide; more get RESOURCE_EXHAUSTED at once
    max_concurrent_streams: int  # per connection (HTTP/2 SETTINGS)
    max_receive_bytes: int  # one request message
    max_metadata_bytes: int = 8 << 10  # soft limit; the hard limit is 2x
    handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S  # also covers a missing HTTP/2 preface
    max_idle_s: float = 300.0  # no RPC for this long: GOAWAY (clients reconnect on use)
    max_age_s: float = 3600.0  # then GOAWAY: certificates are checked again on reconnect
    age_grace_s: float = 60.0  # for the RPCs still running at max_age
    keepalive_s: float = KEEPALIVE_S  # the server pings a silent peer, so half-open ones go
    keepalive_timeout_s: float = KEEPALIVE_TIMEOUT_S

    def options(self) -> list[tuple[str, int]]:
        def ms(seconds: float) -> int:
            return int(seconds * 1000)

        return [
            ("grpc.max_allowed_incoming_connections", self.max_connections),
            ("grpc.max_concurrent_streams", self.max_concurrent_streams),
            ("grpc.max_receive_message_length", self.max_receive_bytes),
            ("grpc.max_metadata_size", self.max_metadata_bytes),
            ("grpc.absolute_max_metadata_size", 2 * self.max_metadata_bytes),
            ("grpc.server_handshake_timeout_ms", ms(self.handshake_timeout_s)),
            ("grpc.max_connection_idle_ms", ms(self.max_idle_s)),
            ("grpc.max_connection_age_ms", ms(self.max_age_s)),
            ("grpc.max_connection_age_grace_ms", ms(self.age_grace_s)),
            ("grpc.keepalive_time_ms", ms(self.keepalive_s)),
            ("grpc.keepalive_timeout_ms", ms(self.keepalive_timeout_s)),
        ]


@dataclass(frozen=True, kw_only=True)
class HttpLimits:
    """Bounds of one `keymgr.bounded_http` listener."""

    max_connections: int
    workers: int  # answers computed at once (each connection has at most one in flight)
    handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S
    head_timeout_s: float = HEAD_TIMEOUT_S
    write_timeout_s: float = WRITE_TIMEOUT_S
    max_head_bytes: int = 16 << 10  # request line and headers together
    max_headers: int = 64
    max_body_bytes: int = 0  # 0: no request bodies (GET-only listeners)
    body_timeout_s: float = BODY_TIMEOUT_S  # the whole body, from the end of the head


# The node's mTLS API. Clients are agents, gateways, plugins, the CLI and peer nodes:
# a few per host at most. 1024 connections stay far below the unit's LimitNOFILE.
NODE_API = GrpcLimits(
    max_connections=1024,
    max_concurrent_rpcs=1024,
    max_concurrent_streams=128,
    max_receive_bytes=1 << 20,
)

# The Kubernetes KMS v2 plugin's unix socket (owner-only): one API server, a few
# connections; the cap keeps a runaway local client from using up the descriptors.
# Requests carry a DEK (plaintext) or a ciphertext of at most 1 KiB plus annotations.
KMS_PLUGIN = GrpcLimits(
    max_connections=256,
    max_concurrent_rpcs=64,
    max_concurrent_streams=64,
    max_receive_bytes=64 << 10,
)

# The MariaDB TDE gateway (HTTPS, token-authenticated): database servers, each with a
# handful of connections. GET only.
TDE_GATEWAY = HttpLimits(max_connections=256, workers=8)

# The gateway with KV v2 mounts (`keymgr gateway`): automation, CLIs and the databases.
# Bodies (a secret version is at most 512 KiB of JSON) up to 1 MiB; more workers, since
# each answer waits on a cluster round trip (a Raft commit for writes), not on CPU.
GATEWAY = HttpLimits(max_connections=512, workers=32, max_body_bytes=1 << 20)

# Prometheus /metrics (plain HTTP, private address): one or two scrapers.
METRICS = HttpLimits(max_connections=64, workers=2, max_head_bytes=8 << 10, max_headers=32)

# systemd's key socket (`keymgr volume serve-socket`): a handful of volumes at boot.
VOLUME_SOCKET_PENDING = 16  # accepted, valid requests not yet answered; more are closed
VOLUME_SOCKET_WORKERS = 2  # unwraps + cryptsetup checks at once (argon2 is memory-hard)
VOLUME_SOCKET_SEND_TIMEOUT_S = 5.0

REFUSAL_LOG_INTERVAL_S = 10.0
WANT_OPEN_FILES = 65536  # the systemd unit's LimitNOFILE


class RefusalLog:
    """Connections refused, or closed early to make room: the first is logged at once,
    then at most one summary per interval, so a flood of bad connections cannot flood
    the log (thread-safe)."""

    def __init__(self, what: str, interval_s: float = REFUSAL_LOG_INTERVAL_S) -> None:
        self._what = what
        self._interval = interval_s
        self._lock = threading.Lock()
        self._last = -interval_s * 2
        self._since_last = 0
        self.total = 0

    def refused(self, reason: str) -> None:
        with self._lock:
            self.total += 1
            self._since_last += 1
            now = time.monotonic()
            if now - self._last < self._interval:
                return
            count, self._since_last, self._last = self._since_last, 0, now
        log.warning(
            "%s: turned away %d connection(s) since the last report (%d in all); latest: %s",
            self._what,
            count,
            self.total,
            reason,
        )


def raise_open_file_limit(connections: int, want: int = WANT_OPEN_FILES) -> int:
    """Raises the soft RLIMIT_NOFILE towards `want` (never above the hard limit), so a
    listener's cap of `connections` runs out before the process's descriptors do (a
    process out of descriptors cannot write its journal or audit log); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d: %s", soft, exc)
    if soft != resource.RLIM_INFINITY and soft < 4 * connections:
        log.warning(
            "open-file limit %d is low for %d connections: raise LimitNOFILE",
            soft,
            connections,
        )
    return soft
