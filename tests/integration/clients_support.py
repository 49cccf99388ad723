"""Support for the real-client tests (cryptsetup, MariaDB, KMS v2): system packages,
agent processes stopped by PID, and a /proc sampler that records what the processes
this test started expose in argv and environment, to prove no key is ever there."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from keymgr import pki
from keymgr.ops.devcluster import LocalCluster

APT_PACKAGES = {
    "cryptsetup": "cryptsetup-bin",
    "mariadbd": "mariadb-server",
}
PLUGIN = Path("/usr/lib/mysql/plugin/hashicorp_key_management.so")


def require_tools() -> None:
    """Installs the real clients when missing (Debian, root); fails the test otherwise.

    scripts/test installs them before the suite; this covers a direct pytest run.
    """
    missing = [pkg for tool, pkg in APT_PACKAGES.items() if shutil.which(tool) is None]
    if not PLUGIN.exists():
        missing.append("mariadb-plugin-hashicorp-key-management")
    if not missing:
        return
    script = Path(__file__).resolve().parents[2] / "scripts" / "install-client-packages"
    subprocess.run([str(script)], check=True, timeout=900)


def agent_cert(cluster: LocalCluster, name: str, kind: str = "agent") -> tuple[Path, Path]:
    if not (cluster.certs / f"{name}.pem").exists():
        pki.issue_client_cert(pki.load_ca(cluster.certs), name, kind=kind)
    return cluster.certs / f"{name}.pem", cluster.certs / f"{name}-key.pem"


def connection_args(
    cluster: LocalCluster,
    name: str,
    node_ids: Sequence[str] | None = None,
    *,
    kind: str = "agent",
    key_flag: str = "--key",
) -> list[str]:
    cert, key = agent_cert(cluster, name, kind)
    ids = node_ids or [n.id for n in cluster.spec.nodes]
    return [
        "--address",
        ",".join(cluster.node(i).api for i in ids),
        "--ca",
        str(cluster.credentials.ca),
        "--cert",
        str(cert),
        key_flag,
        str(key),
    ]


def keymgr(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Runs the `keymgr` CLI as its own process (bounded)."""
    return subprocess.run(
        [sys.executable, "-m", "keymgr", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


class Processes:
    """Long-running processes started by a test, stopped by PID in `close`."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            process = subprocess.Popen(
                list(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.started.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)

    def close(self) -> None:
        for process in reversed(self.started):
            self.stop(process)


def wait_for(check: object, *, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout}s (last error: {last})")


def _children_of(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
    found = {root}
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                changed = True
    found.discard(root)
    return found


class ProcSampler:
    """Samples /proc/<pid>/cmdline and environ of every descendant of this process."""

    def __init__(self, interval: float = 0.003) -> None:
        self.interval = interval
        self.seen: dict[tuple[int, str], bytes] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProcSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            for pid in _children_of(me):
                for what in ("cmdline", "environ"):
                    try:
                        with open(f"/proc/{pid}/{what}", "rb") as f:
                            data = f.read()
                    except OSError:
                        continue
                    self.seen.setdefault((pid, what), data)
                    if self.seen[(pid, what)] != data:
                        self.seen[(pid, what)] += b"\n" + data
            time.sleep(self.interval)

    def saw(self, needle: bytes) -> bool:
        return any(needle in data for (_, what), data in self.seen.items() if what == "cmdline")

    def blobs(self) -> Iterator[bytes]:
        yield from self.seen.values()


def encodings(secret: bytes) -> list[bytes]:
    """How a key could leak: raw, hex (both cases), base64 (standard and urlsafe)."""
    return [
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        base64.b64encode(secret).rstrip(b"="),
        base64.urlsafe_b64encode(secret).rstrip(b"="),
    ]


def assert_nowhere(secrets: Iterable[bytes], blobs: Iterable[bytes], where: str) -> None:
    needles = [n for s in secrets for n in encodings(s)]
    for blob in blobs:
        for needle in needles:
            assert needle not in blob, f"a key appears in {where}"


def files_under(*roots: Path) -> Iterator[tuple[Path, bytes]]:
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                try:
                    yield path, path.read_bytes()
                except OSError:
                    continue


def assert_not_in_files(secrets: Iterable[bytes], *roots: Path) -> int:
    needles = [n for s in secrets for n in encodings(s)]
    count = 0
    for path, data in files_under(*roots):
        count += 1
        for needle in needles:
            assert needle not in data, f"a key appears in file {path}"
    return count
