"""The volume agent with real cryptsetup on LUKS2 image files, against a real cluster.

Format through one node, kill it, unlock through the others; rotate (also interrupted
after every step) and unlock again; an agent whose policy names another volume is
denied; systemd's key socket serves the key; and the volume keys never show up in any
started process's argv or environment, nor in any file."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from keymgr.agents.cryptsetup import Cryptsetup
from keymgr.agents.volume import read_tokens
from keymgr.client import FailedPrecondition, InvalidArgument, PermissionDenied
from keymgr.ops.devcluster import LocalCluster
from keymgr.v1 import keys_pb2, store_pb2
from tests.integration.clients_support import (
    Processes,
    ProcSampler,
    assert_not_in_files,
    assert_nowhere,
    connection_args,
    keymgr,
    require_tools,
    wait_for,
)
from tests.integration.conftest import MakeCluster
from tests.integration.helpers import client_for

CS = Cryptsetup(fast_kdf=True)
HOST = "host-1"


def principal(name: str) -> str:
    return f"spiffe://keymgr/agent/{name}"


def image(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.img"
    with open(path, "wb") as f:
        f.truncate(20 * 1024 * 1024)
    return path


def volume(cluster: LocalCluster, agent: str, *args: str, nodes: list[str] | None = None) -> dict:
    """Runs `keymgr volume ...` as the agent; returns its JSON report (asserts success)."""
    result = keymgr(
        "volume",
        *args,
        "--fast-kdf",
        "--host-id",
        HOST,
        "--json",
        *connection_args(cluster, agent, nodes, key_flag="--client-key"),
    )
    assert result.returncode == 0, result.stderr
    report: dict = json.loads(result.stdout)
    return report


def volume_fails(cluster: LocalCluster, agent: str, *args: str) -> subprocess.CompletedProcess[str]:
    result = keymgr(
        "volume",
        *args,
        "--fast-kdf",
        "--host-id",
        HOST,
        *connection_args(cluster, agent, key_flag="--client-key"),
    )
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result


def volume_keys(cluster: LocalCluster, device: Path, seen: dict[bytes, bytes]) -> None:
    """Records every wrapped key in the header and (as admin) the key it wraps."""
    tokens, _ = read_tokens(CS, device)
    with cluster.client() as admin:
        for token in tokens:
            if token.wrapped_key not in seen:
                seen[token.wrapped_key] = admin.unwrap_volume_key(
                    token.volume_id, token.wrapped_key, host_id=token.host_id
                ).volume_key


def test_volume_lifecycle_failover_denial_and_no_leaks(
    make_cluster: MakeCluster, tmp_path: Path, processes: Processes
) -> None:
    require_tools()
    cluster = make_cluster()
    cluster.bring_up()
    with cluster.client() as admin:
        admin.create_key("volumes", purpose=keys_pb2.KEY_PURPOSE_VOLUME)
        operation = admin.put_policy(
            store_pb2.Policy(
                name="agents-own-volume",
                principals=[principal("vol-a"), principal("vol-b")],
                operations=["volume"],
                key_patterns=["volumes"],
                required_context={"volume_id": "${principal.name}", "host_id": HOST},
            )
        )
        assert operation.state == store_pb2.OPERATION_STATE_EXECUTED
        for node in cluster.spec.nodes:  # read barrier: every node has applied the policy
            admin.generate_data_key("volumes", consistent=True, endpoint=node.api)
    disk = image(tmp_path, "vol-a")
    seen: dict[bytes, bytes] = {}
    with ProcSampler() as sampler:
        # format through node1 only: node1 makes the volume key
        made = volume(cluster, "vol-a", "format", str(disk), "--key", "volumes", nodes=["node1"])
        assert made["volume_id"] == "vol-a" and made["key_version"] == 1
        volume_keys(cluster, disk, seen)
        tokens, slots = read_tokens(CS, disk)
        assert len(tokens) == 1 and slots == {0}

        # kill node1: unlock goes to another node (the agent fails over)
        cluster.stop("node1", kill=True)
        unlocked = volume(cluster, "vol-a", "unlock", str(disk), "--test-passphrase")
        assert unlocked["key_id"] == made["key_id"]

        # the other volume's agent is denied (its policy names vol-b), one-line error
        denied = volume_fails(cluster, "vol-b", "unlock", str(disk), "--test-passphrase")
        assert "PermissionDenied" in denied.stderr and "volume" in denied.stderr

        # rotate, then unlock again with the new key only
        rotated = volume(cluster, "vol-a", "rotate", str(disk))
        volume_keys(cluster, disk, seen)
        tokens, slots = read_tokens(CS, disk)
        assert len(tokens) == 1 and len(slots) == 1 and slots != {0}
        assert (
            volume(cluster, "vol-a", "unlock", str(disk), "--test-passphrase")["token_id"]
            == rotated["token_id"]
        )
        first_key = next(iter(seen.values()))
        assert not CS.test_key(disk, first_key)  # the old keyslot is gone

        # an interruption after any step of a rotation leaves a volume that opens
        for step in ("token-added", "keyslot-added", "slots-killed"):
            result = keymgr(
                "volume",
                "rotate",
                str(disk),
                "--fast-kdf",
                "--host-id",
                HOST,
                "--crash-after",
                step,
                *connection_args(cluster, "vol-a", key_flag="--client-key"),
            )
            assert result.returncode == 75, (step, result.stderr)
            volume_keys(cluster, disk, seen)
            volume(cluster, "vol-a", "unlock", str(disk), "--test-passphrase")
        volume(cluster, "vol-a", "rotate", str(disk))  # finishes and cleans up
        volume_keys(cluster, disk, seen)
        tokens, slots = read_tokens(CS, disk)
        assert len(tokens) == 1 and len(slots) == 1
        volume(cluster, "vol-a", "unlock", str(disk), "--test-passphrase")

        # the managed key rotates: rewrap moves the token to version 2, still opens
        with cluster.client(["node2", "node3"]) as admin:
            admin.rotate_key("volumes")
        rewrapped = volume(cluster, "vol-a", "rewrap", str(disk))
        assert rewrapped["key_version"] == 2
        volume_keys(cluster, disk, seen)
        volume(cluster, "vol-a", "unlock", str(disk), "--test-passphrase")

        # systemd's AF_UNIX key-file protocol
        sock_path = tmp_path / "keys.sock"
        server = processes.start(
            [
                sys.executable,
                "-m",
                "keymgr",
                "volume",
                "serve-socket",
                str(sock_path),
                "--volume",
                f"data={disk}",
                "--host-id",
                HOST,
                *connection_args(cluster, "vol-a", key_flag="--client-key"),
            ],
            tmp_path / "serve-socket.log",
        )
        wait_for(sock_path.exists, timeout=15, what="key socket")
        key = systemd_fetch(sock_path, "data")
        assert len(key) == 32 and CS.test_key(disk, key)
        assert systemd_fetch(sock_path, "other-volume") == b""  # unknown name: nothing
        assert server.poll() is None
        processes.stop(server)

    assert sampler.saw(b"cryptsetup"), "the sampler never saw cryptsetup run"
    keys = list(seen.values())
    assert len(keys) >= 5
    assert_nowhere(keys, sampler.blobs(), "a process's argv or environment")
    scanned = assert_not_in_files(keys, tmp_path, cluster.root)
    assert scanned > 10


def systemd_fetch(path: Path, volume_name: str) -> bytes:
    """What systemd-cryptsetup does: bind "\\0<random>/cryptsetup/<name>", connect, read."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(20)
        sock.bind(f"\0{secrets.token_hex(8)}/cryptsetup/{volume_name}")
        sock.connect(str(path))
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


def test_volume_service_checks_context_and_purpose(cluster: LocalCluster) -> None:
    """The gRPC API directly: context binding, field errors, wrong purpose."""
    with cluster.client() as admin:
        admin.create_key("vol-api", purpose=keys_pb2.KEY_PURPOSE_VOLUME)
        admin.create_key("tde-not-volume", purpose=keys_pb2.KEY_PURPOSE_TDE)
        made = admin.create_volume_key("v1", "vol-api", host_id="h1")
        assert len(made.volume_key) == 32 and "volume_key" not in repr(made)
        assert admin.unwrap_volume_key("v1", made.wrapped_key, host_id="h1").volume_key == (
            made.volume_key
        )
        with pytest.raises(InvalidArgument, match="wrapped_key: decryption failed"):
            admin.unwrap_volume_key("v2", made.wrapped_key, host_id="h1")
        with pytest.raises(InvalidArgument, match="wrapped_key: decryption failed"):
            admin.unwrap_volume_key("v1", made.wrapped_key, host_id="h2")
        with pytest.raises(InvalidArgument, match="volume_id"):
            admin.create_volume_key("", "vol-api")
        with pytest.raises(InvalidArgument, match="wrapped_key"):
            admin.unwrap_volume_key("v1", b"", host_id="h1")
        with pytest.raises(FailedPrecondition, match="not VOLUME"):
            admin.create_volume_key("v1", "tde-not-volume")
        admin.rotate_key("vol-api")
        again = admin.rewrap_volume_key("v1", made.wrapped_key, host_id="h1")
        assert again.key_version == 2
        assert admin.unwrap_volume_key("v1", again.wrapped_key, host_id="h1").volume_key == (
            made.volume_key
        )
    audited = [
        json.loads(line)
        for node in cluster.spec.nodes
        for line in (cluster.data_dir(node.id) / "audit" / "audit.log").read_text().splitlines()
    ]
    volume_lines = [r for r in audited if r["operation"].endswith("VolumeKey")]
    assert {"CreateVolumeKey", "UnwrapVolumeKey", "RewrapVolumeKey"} <= {
        r["operation"] for r in volume_lines
    }
    for record in volume_lines:
        if record["result"] == "OK":
            assert {"volume_id", "host_id"} <= set(record["context"]) and record["key_id"]
            assert "v1" not in record["context"].values()  # values are HMAC'd
    with client_for(cluster, "vol-stranger", "agent") as stranger, pytest.raises(PermissionDenied):
        stranger.unwrap_volume_key("v1", made.wrapped_key, host_id="h1")
