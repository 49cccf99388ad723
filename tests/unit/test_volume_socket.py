"""The volume key socket in process, with a stand-in agent: the client-chosen peer
address only selects a configured volume; refusals are quick, quiet and bounded.
(The real thing, with cryptsetup and a cluster: tests/integration/test_listener_limits.py.)"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from keymgr.agents.volume_socket import KeySocketServer, check_volume_name, volume_name
from keymgr.cli.main import main

KEY = bytes(range(32))


class StandInAgent:
    def __init__(self, gate: threading.Event | None = None) -> None:
        self.asked: list[Path] = []
        self.gate = gate

    def key_for(self, device: Path) -> bytes:
        self.asked.append(device)
        if self.gate is not None:
            self.gate.wait(10)
        return KEY


Start = Callable[..., tuple[KeySocketServer, Path]]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    servers: list[tuple[KeySocketServer, threading.Thread]] = []

    def run(agent: StandInAgent, **options: object) -> tuple[KeySocketServer, Path]:
        path = tmp_path / f"keys{len(servers)}.sock"
        server = KeySocketServer(
            agent,
            path,
            {"data": Path("/dev/data"), "luks-1a2b": Path("/dev/other")},
            **options,  # type: ignore[arg-type]
        )
        server.bind()
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return server, path

    try:
        yield run
    finally:
        for server, thread in servers:
            server.stop()
            thread.join(5)


def fetch_as(path: Path, peer: bytes | str | None, timeout: float = 5.0) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        if peer is not None:
            sock.bind(peer)
        sock.connect(str(path))
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    return data


def systemd(name: bytes) -> bytes:
    return b"\0" + secrets.token_hex(8).encode() + b"/cryptsetup/" + name


@pytest.mark.parametrize(
    ("peer", "name"),
    [
        (b"\x00d7067f78d9827418/cryptsetup/myvol", "myvol"),
        (b"\x00abc/cryptsetup/luks-1a2b_3.c+d@e:f", "luks-1a2b_3.c+d@e:f"),
        ("/run/peer/cryptsetup/myvol", ""),  # a filesystem address: not systemd's
        ("", ""),  # no address
        (b"\x00abc/cryptsetup-pkcs11/myvol", ""),  # asks for an encrypted key
        (b"\x00/cryptsetup/myvol", ""),  # no random part
        (b"\x00ab-c/cryptsetup/myvol", ""),  # random part not alphanumeric
        (b"\x00abc/cryptsetup/../../etc/shadow", ""),
        (b"\x00abc/cryptsetup/myvol/../myvol", ""),
        (b"\x00abc/cryptsetup/..", ""),
        (b"\x00abc/cryptsetup/.hidden", ""),
        (b"\x00abc/cryptsetup/myvol\x00", ""),
        (b"\x00abc/cryptsetup/my vol", ""),
        (b"\x00abc/cryptsetup/caf\xc3\xa9", ""),
        (b"\x00abc/cryptsetup/" + b"a" * 128, ""),
        (b"x\x00abc/cryptsetup/myvol", ""),
    ],
)
def test_volume_name_accepts_systemds_form_only(peer: bytes | str, name: str) -> None:
    assert volume_name(peer) == name


def test_configured_names_are_checked() -> None:
    assert check_volume_name("luks-3f2a") == "luks-3f2a"
    for bad in ("", "../x", "a/b", ".x", "-x", "x" * 128, "a b"):
        with pytest.raises(ValueError, match="volume name"):
            check_volume_name(bad)
    with pytest.raises(ValueError):
        KeySocketServer(StandInAgent(), Path("/nowhere"), {})  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        KeySocketServer(StandInAgent(), Path("/nowhere"), {"../x": Path("/dev/x")})  # type: ignore[arg-type]


def test_cli_refuses_a_bad_volume_name(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["volume", "serve-socket", "/nowhere.sock", "--volume", "../x=/dev/sdb"])
    assert code != 0 and "volume name" in capsys.readouterr().err


def test_only_a_configured_volume_gets_its_key(start: Start, tmp_path: Path) -> None:
    agent = StandInAgent()
    server, path = start(agent)
    assert fetch_as(path, systemd(b"data")) == KEY
    assert fetch_as(path, systemd(b"luks-1a2b")) == KEY
    assert agent.asked == [Path("/dev/data"), Path("/dev/other")]
    refused = [
        systemd(b"unknown"),
        systemd(b"../data"),
        systemd(b"data/../data"),
        systemd(b"../../etc/shadow"),
        systemd(b"DATA"),
        b"\0abc/cryptsetup-pkcs11/data",
        b"\0a-b/cryptsetup/data",
        None,
    ]
    for peer in refused:
        started = time.monotonic()
        assert fetch_as(path, peer) == b"", peer
        assert time.monotonic() - started < 1.0  # closed at once
    filesystem_peer = tmp_path / "p" / "cryptsetup" / "data"
    filesystem_peer.parent.mkdir(parents=True)
    assert fetch_as(path, str(filesystem_peer)) == b""
    assert len(agent.asked) == 2  # no refused request reached the agent
    assert server.refusals.total == len(refused) + 1


def test_a_peer_uid_that_is_not_allowed_gets_nothing(start: Start) -> None:
    agent = StandInAgent()
    server, path = start(agent, allowed_uids={os.geteuid() + 12345})
    assert fetch_as(path, systemd(b"data")) == b""
    assert agent.asked == [] and server.refusals.total == 1


def test_refusals_are_logged_at_most_once_per_interval(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    server, path = start(StandInAgent())
    with caplog.at_level(logging.WARNING):
        for i in range(300):
            fetch_as(path, systemd(b"probe-%d" % i))
    reports = [r for r in caplog.records if "turned away" in r.getMessage()]
    assert len(reports) == 1 and server.refusals.total == 300
    assert "probe-0" in reports[0].getMessage()


def test_requests_beyond_the_pending_bound_are_closed_at_once(start: Start) -> None:
    gate = threading.Event()
    agent = StandInAgent(gate)
    _, path = start(agent, max_pending=2, workers=1)
    results: list[bytes] = []
    waiting = [
        threading.Thread(target=lambda: results.append(fetch_as(path, systemd(b"data"))))
        for _ in range(2)
    ]
    try:
        for thread in waiting:
            thread.start()
        time.sleep(0.3)
        started = time.monotonic()
        assert fetch_as(path, systemd(b"data")) == b""  # a third one: not queued
        assert time.monotonic() - started < 1.0
    finally:
        gate.set()
        for thread in waiting:
            thread.join(10)
    assert results == [KEY, KEY]
    assert fetch_as(path, systemd(b"data")) == KEY  # and the socket goes on
