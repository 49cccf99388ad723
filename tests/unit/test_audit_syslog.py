"""Syslog sink: RFC 5424 messages over UDP and octet-counted TCP, checked by a loopback
collector; a collector that is down fails the request (unless the sink is optional)."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from pathlib import Path

import pytest

from keymgr.audit import AuditEvent, AuditLog, AuditUnavailable, FileSink, SyslogSink
from keymgr.audit.sinks import format_rfc5424
from keymgr.ops.ports import free_port

# RFC 5424 section 6: HEADER SP STRUCTURED-DATA [SP MSG]
RFC5424 = re.compile(
    rb"<(?P<pri>[0-9]{1,3})>1 (?P<time>[!-~]{1,64}) (?P<host>[!-~]{1,255}) "
    rb"(?P<app>[!-~]{1,48}) (?P<procid>[!-~]{1,128}) (?P<msgid>[!-~]{1,32}) "
    rb"(?P<sd>-|(?:\[[^ =\]\"]+(?: [^ =\]\"]+=\"(?:[^\"\\\]]|\\[\"\\\]])*\")*\])+)"
    rb"(?: (?P<msg>.*))?",
    re.DOTALL,
)
TIME = re.compile(rb"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")


def event(result: str = "OK", **overrides: object) -> AuditEvent:
    fields: dict[str, object] = {
        "principal": "spiffe://kms.test/admin/alice",
        "operation": "RotateKey",
        "result": result,
        "latency_ms": 3.5,
        "key_id": "key-1",
        "context": {"app": "billing"},
    }
    fields.update(overrides)
    return AuditEvent(**fields)  # type: ignore[arg-type]


def parse(message: bytes) -> dict[str, bytes]:
    match = RFC5424.fullmatch(message)
    assert match, message
    assert TIME.fullmatch(match["time"])
    return {k: v for k, v in match.groupdict().items() if v is not None}


@pytest.fixture
def udp_collector() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


def test_udp_message_is_rfc5424_and_carries_the_line(
    udp_collector: socket.socket, tmp_path: Path
) -> None:
    address = f"127.0.0.1:{udp_collector.getsockname()[1]}"
    path = tmp_path / "audit.log"
    log = AuditLog(
        [SyslogSink(address, facility="authpriv"), FileSink(path)], "node1", lambda: b"k" * 32
    )
    log.log(event())
    log.log(event("PERMISSION_DENIED"))
    log.log(event("NOT_FOUND"))
    log.close()
    file_lines = path.read_bytes().splitlines()
    for n, severity in enumerate((6, 4, 5)):  # info, warning for a denial, notice
        fields = parse(udp_collector.recv(65535))
        assert int(fields["pri"]) == 10 * 8 + severity
        assert fields["host"] == b"node1" and fields["app"] == b"keymgr"
        assert fields["procid"] == str(os.getpid()).encode() and fields["msgid"] == b"audit"
        record = json.loads(fields["msg"])
        assert fields["msg"] == file_lines[n]  # the SIEM gets the same chained line
        assert fields["time"] == record["time"].encode()
        assert (
            fields["sd"] == (f'[keymgr@32473 seq="{n + 1}" result="{record["result"]}"]').encode()
        )
        assert b"billing" not in fields["msg"]


def test_non_ascii_message_gets_the_bom_and_sd_values_are_escaped() -> None:
    record = {"time": "2025-01-01T00:00:00.000Z", "node": "n1", "seq": 1, "result": 'X"]\\'}
    message = format_rfc5424('{"principal":"jürgen"}', record, facility=4, procid=7)
    fields = parse(message)
    assert fields["sd"] == b'[keymgr@32473 seq="1" result="X\\"\\]\\\\"]'
    assert fields["msg"] == b"\xef\xbb\xbf" + '{"principal":"jürgen"}'.encode()
    assert int(fields["pri"]) == 4 * 8 + 5


class TcpCollector:
    """Accepts connections and records octet-counted frames (RFC 6587)."""

    def __init__(self, port: int = 0) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        self.stream = b""
        self.received = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            while chunk := conn.recv(65536):
                self.stream += chunk
                self.received.set()

    def frames(self, count: int) -> list[bytes]:
        """Splits `LEN SP MSG` frames; fails if the stream is not exactly that."""
        for _ in range(100):
            frames, rest = [], self.stream
            while rest:
                length, sep, rest = rest.partition(b" ")
                assert sep and length.isdigit() and not length.startswith(b"0"), rest[:40]
                if len(rest) < int(length):
                    break
                frames.append(rest[: int(length)])
                rest = rest[int(length) :]
            if len(frames) >= count and not rest:
                return frames
            self.received.wait(0.05)
            self.received.clear()
        raise AssertionError(f"got {self.stream!r}")

    def close(self) -> None:
        self.listener.close()


def test_tcp_frames_are_octet_counted() -> None:
    collector = TcpCollector()
    log = AuditLog(
        [SyslogSink(f"127.0.0.1:{collector.port}", protocol="tcp", facility="local3")],
        "node2",
        lambda: None,
    )
    for _ in range(5):
        log.log(event())
    log.close()
    frames = collector.frames(5)
    assert len(frames) == 5
    for seq, frame in enumerate(frames, start=1):
        fields = parse(frame)
        assert int(fields["pri"]) == 19 * 8 + 6 and fields["host"] == b"node2"
        record = json.loads(fields["msg"])
        assert record["seq"] == seq and record["context"] == {"app": "<sealed>"}
    collector.close()


def test_collector_down_fails_closed_then_recovers(tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "audit.log"
    log = AuditLog(
        [FileSink(path), SyslogSink(f"127.0.0.1:{port}", protocol="tcp")], "node1", lambda: None
    )
    with pytest.raises(AuditUnavailable, match="Connection refused"):
        log.log(event())
    assert not log.healthy and log.failures >= 1
    collector = TcpCollector(port)
    log.log(event())
    assert log.healthy
    log.close()
    # the file has both lines, chained: the refused request is on record too
    seqs = [json.loads(line)["seq"] for line in path.read_text().splitlines()]
    assert seqs == [1, 2]
    assert [json.loads(parse(f)["msg"])["seq"] for f in collector.frames(1)] == [2]
    collector.close()


def test_optional_collector_down_does_not_refuse(tmp_path: Path) -> None:
    sink = SyslogSink(f"127.0.0.1:{free_port()}", protocol="tcp", required=False)
    log = AuditLog([FileSink(tmp_path / "audit.log"), sink], "node1", lambda: None)
    log.log(event())
    assert log.healthy and log.failures == 1 and log.last_error is not None
    assert "syslog tcp://127.0.0.1:" in log.last_error


def test_file_failure_sends_nothing_to_syslog(udp_collector: socket.socket) -> None:
    address = f"127.0.0.1:{udp_collector.getsockname()[1]}"
    log = AuditLog([SyslogSink(address), FileSink(Path("/dev/full"))], "node1", lambda: None)
    with pytest.raises(AuditUnavailable):
        log.log(event())
    udp_collector.settimeout(0.2)
    with pytest.raises(TimeoutError):
        udp_collector.recv(65535)  # the SIEM never sees a line the file does not hold


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"address": "nohost"}, "expected host:port"),
        ({"address": "h:99999"}, "expected host:port"),
        ({"address": "h:514", "facility": "nope"}, "unknown syslog facility"),
        ({"address": "h:514", "protocol": "tls"}, "protocol must be udp or tcp"),
    ],
)
def test_bad_sink_arguments(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SyslogSink(**kwargs)  # type: ignore[arg-type]
