"""The listener's TLS 1.3 context, following its certificate files.

`ReloadingContext()` is asked once per connection (`bounded_http` takes a callable): at
most once per `CHECK_INTERVAL_S` it compares the certificate and key files' mtime, size
and inode with what it loaded, and on a change builds a new context, so a reissued
certificate is served from the next handshake on, without a restart. A half-written
pair (cert and key not matching yet) keeps the old context and is tried again later.

With `client_ca`, a client certificate is asked for (not required: token callers send
none) and verified against that CA; the gateway forwards it to the cluster, which
checks it again and names its principal.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from pathlib import Path

from keymgr.tls13 import ssl_context

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 1.0


def file_stamp(paths: tuple[Path, ...]) -> tuple[tuple[int, int, int], ...]:
    """What tells a replaced file apart (mtime, size, inode); OSError if one is gone."""
    stamps = []
    for path in paths:
        info = os.stat(path)
        stamps.append((info.st_mtime_ns, info.st_size, info.st_ino))
    return tuple(stamps)


class ReloadingContext:
    def __init__(self, cert: Path, key: Path, client_ca: Path | None = None) -> None:
        self._files = (cert, key) + ((client_ca,) if client_ca else ())
        self._cert, self._key, self._client_ca = cert, key, client_ca
        self._lock = threading.Lock()
        self._stamp = file_stamp(self._files)
        self._context = self._build()  # raises at start: a bad pair is a config error
        self._checked = time.monotonic()
        self.reloads = 0

    def _build(self) -> ssl.SSLContext:
        context = ssl_context("server")  # TLS 1.3 only
        context.load_cert_chain(self._cert, self._key)
        if self._client_ca is not None:
            context.verify_mode = ssl.CERT_OPTIONAL
            context.load_verify_locations(cafile=str(self._client_ca))
        return context

    def __call__(self) -> ssl.SSLContext:
        now = time.monotonic()
        if now - self._checked < CHECK_INTERVAL_S:
            return self._context
        with self._lock:
            self._checked = now
            try:
                stamp = file_stamp(self._files)
                if stamp != self._stamp:
                    self._context = self._build()
                    self._stamp = stamp
                    self.reloads += 1
                    log.info("gateway TLS certificate reloaded from %s", self._cert)
            except (OSError, ssl.SSLError) as exc:
                log.warning("gateway TLS certificate not reloaded (kept the old one): %s", exc)
            return self._context
