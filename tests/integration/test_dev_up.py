"""The README's first command: `scripts/dev-up` brings up an initialised, unsealed
3-node cluster, prints how to reach it, serves, and Ctrl-C stops every node."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from keymgr.client import Client, Credentials
from keymgr.ops.devcluster import LocalCluster, NodeExited, default_spec

ROOT = Path(__file__).resolve().parents[2]


def free_base_port() -> int:
    """A base port with base..base+2 and base+100..base+102 free on 127.0.0.1."""
    for _ in range(200):
        base = random.randrange(20000, 29000)
        try:
            for port in (*range(base, base + 3), *range(base + 100, base + 103)):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port range")


def test_dev_up_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    base = free_base_port()
    directory = tmp_path / "dev"
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "dev-up"), "--dir", str(directory), "--base-port", str(base)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 240  # first run may install the package
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            if "Ctrl-C stops the cluster" in line:
                break
        text = "".join(output)
        assert "cluster is up" in text, text
        assert f"127.0.0.1:{base}" in text and "admin certificate" in text
        creds = Credentials(
            ca=directory / "certs" / "ca.pem",
            cert=directory / "certs" / "admin.pem",
            key=directory / "certs" / "admin-key.pem",
        )
        with Client([f"127.0.0.1:{base + i}" for i in range(3)], credentials=creds) as client:
            key = client.create_key("from-readme")
            data_key = client.generate_data_key(key.name, consistent=True)
            assert client.decrypt(data_key.ciphertext_blob) == data_key.plaintext
            assert len(client.cluster_status().nodes) == 3
            # like `bao server -dev`, a KV mount named secret is there
            assert [m.mount for m in client.secrets.list_mounts()] == ["secret"]
            client.secrets.put("secret", "readme", {"password": "s3cr3t"})
            assert client.secrets.get("secret", "readme").data == {"password": "s3cr3t"}
        _run_printed_hint(text, tmp_path)
        node_pids = [
            int(w)
            for line in output
            if " pid " in line
            for w in [line.split(" pid ")[1].split()[0]]
        ]
        assert len(node_pids) == 3
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        assert process.wait(timeout=60) == 0
        for pid in node_pids:
            assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"node {pid} still runs"
    finally:
        _stop_dev_up(process)


def _stop_dev_up(process: subprocess.Popen[str]) -> None:
    """Ctrl-C first: dev up stops its nodes (they run in their own sessions, so killing
    dev up's group alone would leave them running); SIGKILL only if that hangs."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _run_printed_hint(text: str, tmp_path: Path) -> None:
    """The lines dev-up prints under "Use it from another shell", pasted as they are
    into a new shell in another directory, with a PATH that has no keymgr on it."""
    lines = text.split("Use it from another shell", 1)[1].splitlines()[1:]
    hint = [ln.strip() for ln in lines[: lines.index("")]]
    assert hint, text
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYMGR_")}
    env["PATH"] = "/usr/bin:/bin"
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        ["bash", "-euc", "\n".join(hint)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (hint, result.stdout, result.stderr)
    assert "leader" in result.stdout, result.stdout


def _start_dev_up(directory: Path, base: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(ROOT / "scripts" / "dev-up"), "--dir", str(directory), "--base-port", str(base)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_dev_up_names_a_busy_port_and_a_free_command(tmp_path: Path) -> None:
    base = free_base_port()
    directory = tmp_path / "dev"
    (directory / "logs").mkdir(parents=True)
    (directory / "logs" / "node1.log").write_text("STALE-LINE from an earlier run\n")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", base + 101))  # node2's Raft port
        squatter.listen()
        process = _start_dev_up(directory, base)
        try:
            _, err = process.communicate(timeout=240)
        finally:
            _stop_dev_up(process)
    assert process.returncode != 0
    assert "internal error" not in err and "Traceback" not in err and "STALE" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert f"port {base + 101} (node2 Raft)" in err, err
    suggested = int(err.rsplit("dev-up --base-port ", 1)[1].split()[0])
    for port in (*range(suggested, suggested + 3), *range(suggested + 100, suggested + 103)):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))  # the suggested ports are free


def test_dev_up_says_a_dev_cluster_already_runs_there(tmp_path: Path) -> None:
    base = free_base_port()
    directory = tmp_path / "dev"
    first = _start_dev_up(directory, base)
    try:
        assert first.stdout is not None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = first.stdout.readline()
            if not line or "Ctrl-C stops the cluster" in line:
                break
        second = _start_dev_up(directory, base)
        try:
            _, err = second.communicate(timeout=120)
        finally:
            _stop_dev_up(second)
        assert second.returncode != 0
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert f"a dev cluster from {directory} is already running" in err, err
        assert f"--dir {directory}-" in err, err  # its Raft peers are the old ports
    finally:
        _stop_dev_up(first)


def test_a_node_that_exits_shows_this_runs_output_only(tmp_path: Path) -> None:
    """The race dev-up's check cannot close (a port taken after it looked): the error
    names the node's own reason, not lines an earlier run left in its log."""
    spec = default_spec(1)
    cluster = LocalCluster(tmp_path / "c", spec)
    cluster.prepare()
    cluster.log_path("node1").write_text("STALE-LINE from an earlier run\n")
    host, _, port = spec.nodes[0].api.rpartition(":")
    with socket.socket() as squatter:
        squatter.bind((host, int(port)))
        squatter.listen()
        cluster.start("node1")
        try:
            with pytest.raises(NodeExited) as caught:
                cluster.wait_answering("node1")
        finally:
            cluster.close()
    assert "STALE" not in str(caught.value)
    assert "in use" in str(caught.value).lower() or "bind" in str(caught.value).lower()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True
