"""systemd crypttab's AF_UNIX key-file protocol, answered by the volume agent.

With `/etc/crypttab` naming a socket as the key file, systemd-cryptsetup connects to
it from an abstract socket bound to "\\0<random>/cryptsetup/<volume name>" (crypttab(5),
"AF_UNIX KEY FILES": <random> is alphanumeric), reads the key until EOF and uses it. We
map the volume name to a device, unwrap its key through the cluster and write it back:
the key only ever crosses this connection (no file, no argv, no environment).

The peer address is chosen by the client, so it only ever *selects* one of the volumes
this agent was started with (`--volume NAME=DEVICE`): an address not of exactly that
form (a filesystem path, no address, `/cryptsetup-pkcs11/`, a name with a slash or
`..`), or a name not configured, gets nothing: the connection is closed at once, and
refusals are logged at most once per 10 s. Who may ask at all is decided by the socket
file's owner-only mode and, again on every connection, by the peer's uid (SO_PEERCRED):
root (systemd-cryptsetup) or the agent's own user.

The accept loop never waits on a peer (credentials and address come from the kernel):
it refuses, or queues the request for one of `VOLUME_SOCKET_WORKERS` workers (unwrap
through the cluster, cryptsetup check; argon2 keyslots are memory-hard, so few at once);
at most `VOLUME_SOCKET_PENDING` requests wait, more are closed at once; the key is
written within `VOLUME_SOCKET_SEND_TIMEOUT_S` (`keymgr/listen_limits.py`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import struct
import threading
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from keymgr.agents.cryptsetup import CryptsetupError
from keymgr.agents.volume import VolumeAgent, VolumeError
from keymgr.client import KeymgrError
from keymgr.listen_limits import (
    VOLUME_SOCKET_PENDING,
    VOLUME_SOCKET_SEND_TIMEOUT_S,
    VOLUME_SOCKET_WORKERS,
    RefusalLog,
)

log = logging.getLogger(__name__)

VOLUME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+@:-]{0,126}")
"""A crypttab volume name (a device-mapper name: no slash, at most 127 characters)."""
_PEER = re.compile(rb"\0[A-Za-z0-9]{1,128}/cryptsetup/([^\0/]{1,127})")
_CREDS = struct.Struct("3i")  # struct ucred: pid, uid, gid


def check_volume_name(name: str) -> str:
    if not VOLUME_NAME.fullmatch(name):
        raise ValueError(
            f"volume name {name!r}: expected letters, digits and . _ + @ : - "
            "(at most 127, starting with a letter or digit)"
        )
    return name


def volume_name(peer: str | bytes) -> str:
    """The volume name in systemd's peer address "\\0<random>/cryptsetup/<name>", or ""
    if the address is not of exactly that form (Python gives an abstract address as
    bytes, a filesystem path as str) or the name is not a well-formed volume name."""
    if not isinstance(peer, bytes):
        return ""
    match = _PEER.fullmatch(peer)
    if match is None:
        return ""
    name = match.group(1).decode("ascii", errors="replace")
    return name if VOLUME_NAME.fullmatch(name) else ""


def peer_uid(conn: socket.socket) -> int | None:
    try:
        _pid, uid, _gid = _CREDS.unpack(
            conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CREDS.size)
        )
    except (OSError, struct.error):
        return None
    return int(uid)


def _show(peer: object) -> str:
    text = repr(peer)
    return text if len(text) <= 100 else text[:97] + "..."


class KeySocketServer:
    def __init__(
        self,
        agent: VolumeAgent,
        path: Path,
        devices: Mapping[str, Path],
        *,
        allowed_uids: Collection[int] | None = None,
        max_pending: int = VOLUME_SOCKET_PENDING,
        workers: int = VOLUME_SOCKET_WORKERS,
    ) -> None:
        if not devices:
            raise ValueError("devices: name at least one volume")
        for name in devices:
            check_volume_name(name)
        self._agent = agent
        self._path = path
        self._devices = dict(devices)
        self._allowed = frozenset(allowed_uids if allowed_uids is not None else {0, os.geteuid()})
        self._max_pending = max_pending
        self._pending = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="volume-key")
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self.refusals = RefusalLog("volume key socket")

    def bind(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket hands out keys: owner only
        try:
            sock.bind(str(self._path))
        finally:
            os.umask(old)
        sock.listen(64)
        self._sock = sock

    def serve_forever(self) -> None:
        if self._sock is None:
            self.bind()
        assert self._sock is not None
        self._sock.settimeout(0.5)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            self._dispatch(conn)

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()
        self._pool.shutdown(wait=False)

    def _refuse(self, conn: socket.socket, reason: str) -> None:
        self.refusals.refused(reason)
        conn.close()

    def _dispatch(self, conn: socket.socket) -> None:
        """On the accept loop: decides from what the kernel says, never waits on the peer."""
        uid = peer_uid(conn)
        if uid is None or uid not in self._allowed:
            self._refuse(conn, f"peer uid {uid} may not ask for keys")
            return
        try:
            peer = conn.getpeername()
        except OSError:
            peer = ""
        name = volume_name(peer)
        if not name:
            self._refuse(conn, f"peer address {_show(peer)} is not \\0<random>/cryptsetup/<name>")
            return
        if name not in self._devices:
            self._refuse(conn, f"volume {name!r} is not served here")
            return
        with self._lock:
            if self._pending >= self._max_pending:
                full = True
            else:
                full = False
                self._pending += 1
        if full:
            self._refuse(conn, f"{self._max_pending} requests already waiting")
            return
        try:
            self._pool.submit(self._answer, conn, name)
        except RuntimeError:  # stopping
            self._done()
            conn.close()

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1

    def _answer(self, conn: socket.socket, name: str) -> None:
        device = self._devices[name]
        try:
            with conn:
                try:
                    key = self._agent.key_for(device)
                except (VolumeError, CryptsetupError, KeymgrError) as exc:
                    log.warning("key request for volume %r failed: %s", name, exc)
                    return
                conn.settimeout(VOLUME_SOCKET_SEND_TIMEOUT_S)
                try:
                    conn.sendall(key)
                except OSError as exc:
                    log.warning("key of volume %r not delivered: %s", name, exc)
                    return
                log.info("served the key of volume %r (%s)", name, device)
        finally:
            self._done()
