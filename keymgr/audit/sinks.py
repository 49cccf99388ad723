"""Audit sinks: an append-only file with chain-preserving rotation, and RFC 5424 syslog."""

from __future__ import annotations

import errno
import logging
import os
import socket
import stat
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

from keymgr.audit.errors import AuditCorrupt, SinkError
from keymgr.audit.files import count_lines, last_lines, rotated
from keymgr.audit.record import ChainPoint, line_hash, parse_line
from keymgr.durable_files import fsync_dir, write_all

log = logging.getLogger(__name__)

__all__ = ["FACILITIES", "FileSink", "SyslogSink", "format_rfc5424"]

DEFAULT_MAX_BYTES: Final = 100 * 1024 * 1024
DEFAULT_KEEP: Final = 10

FACILITIES: Final[dict[str, int]] = {
    "kern": 0,
    "user": 1,
    "mail": 2,
    "daemon": 3,
    "auth": 4,
    "syslog": 5,
    "lpr": 6,
    "news": 7,
    "uucp": 8,
    "cron": 9,
    "authpriv": 10,
    "ftp": 11,
    "ntp": 12,
    "security": 13,
    "console": 14,
    "solaris-cron": 15,
    **{f"local{i}": 16 + i for i in range(8)},
}
# RFC 5612's documentation enterprise number until keymgr has its own.
SD_ID: Final = "keymgr@32473"
_SEVERITY_INFO, _SEVERITY_NOTICE, _SEVERITY_WARNING = 6, 5, 4


class FileSink:
    """Append-only audit file (0600) rotated by size into `<name>.1` .. `<name>.<keep>`.

    The chain is held by the log, so a new file simply starts with `prev` = the last
    hash of the file rotated away and the seq continues. A failed write is cut back
    off the file (when the file allows it), so the next line follows a whole one.
    With `fsync`, every line is on disk before `write` returns.
    """

    name: str
    required = True
    chained = True

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        keep: int = DEFAULT_KEEP,
        fsync: bool = False,
    ) -> None:
        if max_bytes < 1 or keep < 1:
            raise ValueError("max_bytes and keep must be >= 1")
        self.path = Path(path)
        self.name = f"file {self.path}"
        self.max_bytes = max_bytes
        self.keep = keep
        self.fsync = fsync
        self._fd: int | None = None
        self._size = 0
        self._regular = True

    def resume(self) -> ChainPoint | None:
        """Where the chain stands: the last line of the file (or of `.1` if it is empty).

        Raises AuditCorrupt, naming file and line, if that line is damaged: continuing
        after it would hide the damage.
        """
        for path in (self.path, rotated(self.path, 1)):
            try:
                if path.exists() and not stat.S_ISREG(path.stat().st_mode):
                    return None  # a device such as /dev/null keeps no chain
                lines, newline = last_lines(path, 1)
            except OSError as exc:
                raise AuditCorrupt(f"{path}: cannot read: {exc.strerror or exc}") from None
            if not lines:
                continue
            where = f"{path}: line {count_lines(path)}"
            if not newline and path == self.path:
                _set_aside_torn_tail(path)  # a crash cut the line's write: see there
                return self.resume()
            if not newline:
                raise AuditCorrupt(
                    f"{where}: last line is incomplete (no newline); "
                    f"check with `keymgr audit verify`, then move the file aside"
                )
            try:
                record = parse_line(lines[-1])
            except ValueError as exc:
                raise AuditCorrupt(
                    f"{where}: last line is corrupt ({exc}); check with "
                    f"`keymgr audit verify`, then move the file aside"
                ) from None
            if line_hash(record) != record["hash"]:
                raise AuditCorrupt(
                    f"{where}: last line does not match its hash; check with "
                    f"`keymgr audit verify`, then move the file aside"
                )
            seq, digest = record["seq"], record["hash"]
            assert isinstance(seq, int) and isinstance(digest, str)  # checked by parse_line
            return ChainPoint(seq=seq, hash=digest)
        return None

    def write(self, line: str, record: Mapping[str, object]) -> None:
        data = line.encode("utf-8") + b"\n"
        try:
            if self._fd is None:
                self._open()
            if self._regular and self._size and self._size + len(data) > self.max_bytes:
                self._rotate()
            assert self._fd is not None
            self._append(self._fd, data)
        except OSError as exc:
            raise SinkError(f"{self.path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def _open(self) -> None:
        if not self.path.parent.exists():
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        info = os.fstat(fd)
        self._regular = stat.S_ISREG(info.st_mode)
        if self._regular and info.st_mode & 0o077:
            os.fchmod(fd, 0o600)  # an audit trail is not for other local users
        self._fd, self._size = fd, info.st_size

    def _append(self, fd: int, data: bytes) -> None:
        try:
            write_all(fd, data)
            if self.fsync and self._regular:
                os.fdatasync(fd)
        except OSError:
            if self._regular:
                try:  # leave whole lines only; the same seq is written again next time
                    os.ftruncate(fd, self._size)
                except OSError:
                    self.close()  # reopened (and re-checked) on the next write
            raise
        self._size += len(data)

    def _rotate(self) -> None:
        """`.keep` is dropped, `.n` becomes `.n+1`, the current file becomes `.1`."""
        assert self._fd is not None
        if self.fsync:
            os.fsync(self._fd)
        rotated(self.path, self.keep).unlink(missing_ok=True)
        for index in range(self.keep - 1, 0, -1):
            source = rotated(self.path, index)
            if source.exists():
                os.replace(source, rotated(self.path, index + 1))
        self.close()
        os.replace(self.path, rotated(self.path, 1))
        self._open()
        if self.fsync:
            fsync_dir(self.path.parent)


def _split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port, got {address!r}")
    return host.strip("[]"), int(port)


def _sd_value(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _header_token(value: object, limit: int) -> str:
    """RFC 5424 header fields are printable US-ASCII without spaces, or "-"."""
    text = "".join(c for c in str(value) if "!" <= c <= "~")[:limit]
    return text or "-"


def format_rfc5424(
    line: str,
    record: Mapping[str, object],
    *,
    facility: int,
    app_name: str = "keymgr",
    procid: int | None = None,
) -> bytes:
    """`<PRI>1 TIME HOST APP PROCID audit [keymgr@32473 seq=.. result=..] <json line>`.

    Severity: info for OK, warning for denials, notice for other failures. The message is
    the audit line itself (UTF-8, with the BOM RFC 5424 asks for when it is not ASCII).
    """
    result = str(record.get("result", ""))
    if result == "OK":
        severity = _SEVERITY_INFO
    elif result in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
        severity = _SEVERITY_WARNING
    else:
        severity = _SEVERITY_NOTICE
    header = " ".join(
        (
            f"<{facility * 8 + severity}>1",
            _header_token(record.get("time"), 64),
            _header_token(record.get("node"), 255),
            _header_token(app_name, 48),
            _header_token(os.getpid() if procid is None else procid, 128),
            "audit",
            f'[{SD_ID} seq="{_sd_value(record.get("seq"))}" result="{_sd_value(result)}"]',
        )
    )
    message = line.encode("utf-8")
    if not line.isascii():
        message = b"\xef\xbb\xbf" + message
    return header.encode("ascii") + b" " + message


class SyslogSink:
    """Sends every line as an RFC 5424 message to a syslog collector (SIEM).

    UDP (RFC 5426): one datagram per line, fire and forget. TCP (RFC 6587): octet-counted
    frames (`<length> <message>`) on one connection, reconnected once on failure.
    """

    chained = False

    def __init__(
        self,
        address: str,
        *,
        protocol: Literal["udp", "tcp"] = "udp",
        facility: str = "authpriv",
        required: bool = True,
        timeout_s: float = 2.0,
    ) -> None:
        if facility not in FACILITIES:
            raise ValueError(f"unknown syslog facility {facility!r}")
        if protocol not in ("udp", "tcp"):
            raise ValueError(f"protocol must be udp or tcp, got {protocol!r}")
        self.address = address
        self.host, self.port = _split_address(address)
        self.protocol = protocol
        self.facility = FACILITIES[facility]
        self.required = required
        self.timeout_s = timeout_s
        self.name = f"syslog {protocol}://{address}"
        self._sock: socket.socket | None = None
        self._target: Any = None  # a socket address, as getaddrinfo gave it
        self._lock = threading.Lock()

    def resume(self) -> ChainPoint | None:
        return None

    def write(self, line: str, record: Mapping[str, object]) -> None:
        message = format_rfc5424(line, record, facility=self.facility)
        with self._lock:
            try:
                if self.protocol == "udp":
                    self._send_udp(message)
                else:
                    frame = str(len(message)).encode("ascii") + b" " + message
                    try:
                        self._send_tcp(frame)
                    except OSError:
                        self._drop()
                        self._send_tcp(frame)  # one fresh connection: the collector restarted
            except OSError as exc:
                self._drop()
                raise SinkError(f"{self.address}: {exc.strerror or exc}") from None

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _connect(self, kind: socket.SocketKind) -> socket.socket:
        infos = socket.getaddrinfo(self.host, self.port, type=kind)
        if not infos:
            raise OSError(errno.EHOSTUNREACH, "no address")
        family, socktype, proto, _, target = infos[0]
        sock = socket.socket(family, socktype, proto)
        sock.settimeout(self.timeout_s)
        if kind == socket.SOCK_STREAM:
            try:
                sock.connect(target)
            except OSError:
                sock.close()
                raise
        self._target = target
        return sock

    def _send_udp(self, message: bytes) -> None:
        if self._sock is None:
            self._sock = self._connect(socket.SOCK_DGRAM)
        self._sock.sendto(message, self._target)

    def _send_tcp(self, frame: bytes) -> None:
        if self._sock is None:
            self._sock = self._connect(socket.SOCK_STREAM)
        self._sock.sendall(frame)

    def _drop(self) -> None:
        if self._sock is not None:
            sock, self._sock = self._sock, None
            sock.close()


def _set_aside_torn_tail(path: Path) -> None:
    """Moves the bytes after the last newline of `path` to `<path>.torn` and cuts them off.

    Only a crash (kill -9, power loss) in the middle of a line's one write leaves a line
    without its newline: a line is written before the reply it audits leaves, so the
    call it was for was never answered, and continuing the chain from the last whole
    line hides nothing that was acknowledged. The torn bytes are kept, not deleted, for
    the auditor; a whole last line that is corrupt or edited still stops the node.
    """
    data = path.read_bytes()
    cut = data.rfind(b"\n") + 1
    torn = path.with_name(path.name + ".torn")
    fd = os.open(torn, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        write_all(fd, data[cut:] + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.ftruncate(fd, cut)
        os.fsync(fd)
    finally:
        os.close(fd)
    log.warning(
        "audit: %s ended in a line torn by a crash (%d bytes, never answered); moved to %s",
        path,
        len(data) - cut,
        torn,
    )
