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

from keymgr.client import Client, Credentials

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
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True
