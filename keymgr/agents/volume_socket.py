"""systemd crypttab's AF_UNIX key-file protocol, answered by the volume agent.

With `/etc/crypttab` naming a socket as the key file, systemd-cryptsetup connects to
it from an abstract socket bound to "\\0<random>/cryptsetup/<volume name>", reads the
key until EOF and uses it. We learn the volume name from the peer address, map it to a
device, unwrap its key through the cluster and write it back: the key only ever
crosses this connection (no file, no argv, no environment).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Mapping
from pathlib import Path

from keymgr.agents.cryptsetup import CryptsetupError
from keymgr.agents.volume import VolumeAgent, VolumeError
from keymgr.client import KeymgrError

log = logging.getLogger(__name__)


def volume_name(peer: str | bytes) -> str:
    """The crypttab volume name from systemd's peer address, or "" if it has none."""
    raw = peer.encode() if isinstance(peer, str) else peer
    text = raw.lstrip(b"\0").decode(errors="replace")
    _, sep, name = text.partition("/cryptsetup/")
    return name if sep else ""


class KeySocketServer:
    def __init__(
        self,
        agent: VolumeAgent,
        path: Path,
        devices: Mapping[str, Path],
        default_device: Path | None = None,
    ) -> None:
        self._agent = agent
        self._path = path
        self._devices = dict(devices)
        self._default = default_device
        self._stop = threading.Event()
        self._sock: socket.socket | None = None

    def _device_for(self, name: str) -> Path | None:
        return self._devices.get(name, self._default)

    def bind(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket hands out keys: owner only
        try:
            sock.bind(str(self._path))
        finally:
            os.umask(old)
        sock.listen(16)
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
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            name = volume_name(conn.getpeername())
            device = self._device_for(name)
            if device is None:
                log.warning("key request for unknown volume %r refused", name)
                return
            try:
                key = self._agent.key_for(device)
            except (VolumeError, CryptsetupError, KeymgrError) as exc:
                log.warning("key request for volume %r failed: %s", name, exc)
                return
            conn.sendall(key)
            log.info("served the key of volume %r (%s)", name, device)
