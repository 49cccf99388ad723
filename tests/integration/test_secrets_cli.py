"""`keymgr secrets` as a user runs it (real subprocesses against the shared cluster):
bao-kv-style names and flags, key=value / key=@file / stdin JSON, one-line errors."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from keymgr.ops.devcluster import LocalCluster
from tests.integration.test_cli import cluster_env, keymgr, one_line_error


def test_secrets_cli_round_trip(cluster: LocalCluster, tmp_path: Path) -> None:
    env = cluster_env(cluster)
    mount = f"cli{uuid.uuid4().hex[:6]}"
    enabled = keymgr("secrets", "enable", mount, "--max-versions", "5", env=env)
    assert enabled.returncode == 0, enabled.stderr
    assert mount in keymgr("secrets", "mounts", env=env).stdout.decode()

    cert = tmp_path / "cert.txt"
    cert.write_text("-----BEGIN X-----\nabc\n")
    put = keymgr(
        "secrets",
        "put",
        f"{mount}/apps/web",
        "user=web",
        f"cert=@{cert}",
        "--format",
        "json",
        env=env,
    )
    assert put.returncode == 0, put.stderr
    assert json.loads(put.stdout)["version"] == 1
    again = keymgr(
        "secrets",
        "put",
        f"-mount={mount}",
        "-cas=1",
        "apps/web",
        "-",
        env=env,
        stdin=b'{"user": "web2", "n": 2}',
    )
    assert again.returncode == 0, again.stderr
    field = keymgr("secrets", "get", "-field=user", f"{mount}/apps/web", env=env)
    assert field.stdout.decode().strip() == "web2"
    old = keymgr(
        "secrets", "get", f"-mount={mount}", "-version=1", "--format", "json", "apps/web", env=env
    )
    assert json.loads(old.stdout)["data"] == {"user": "web", "cert": "-----BEGIN X-----\nabc\n"}
    patched = keymgr("secrets", "patch", f"{mount}/apps/web", "extra=1", env=env)
    assert patched.returncode == 0, patched.stderr
    shown = keymgr("secrets", "get", f"{mount}/apps/web", env=env).stdout.decode()
    assert "extra" in shown and "web2" in shown and "Metadata" in shown

    conflict = keymgr("secrets", "put", "--cas", "1", f"{mount}/apps/web", "a=b", env=env)
    assert "cas:" in one_line_error(conflict)
    listing = keymgr("secrets", "list", f"{mount}/apps", "--format", "json", env=env)
    assert json.loads(listing.stdout) == ["web"]

    assert keymgr("secrets", "delete", f"{mount}/apps/web", env=env).returncode == 0
    deleted = keymgr("secrets", "get", f"{mount}/apps/web", env=env)
    assert deleted.returncode != 0 and "deleted" in deleted.stdout.decode()
    assert (
        keymgr("secrets", "undelete", "-versions=3", f"{mount}/apps/web", env=env).returncode == 0
    )
    assert keymgr("secrets", "destroy", "-versions=1", f"{mount}/apps/web", env=env).returncode == 0
    meta = keymgr("secrets", "metadata", "get", "--format", "json", f"{mount}/apps/web", env=env)
    versions = json.loads(meta.stdout)["versions"]
    assert versions["1"]["destroyed"] and not versions["3"]["destroyed"]
    put_meta = keymgr(
        "secrets",
        "metadata",
        "put",
        "-custom-metadata=owner=ops",
        "-max-versions=2",
        f"{mount}/apps/web",
        env=env,
    )
    assert put_meta.returncode == 0, put_meta.stderr
    meta = json.loads(
        keymgr(
            "secrets", "metadata", "get", "--format", "json", f"{mount}/apps/web", env=env
        ).stdout
    )
    assert meta["custom_metadata"] == {"owner": "ops"} and sorted(meta["versions"]) == ["2", "3"]
    config = keymgr(
        "secrets", "config", "put", mount, "--cas-required", "true", "--format", "json", env=env
    )
    assert json.loads(config.stdout)["cas_required"] is True
    assert keymgr("secrets", "metadata", "delete", f"{mount}/apps/web", env=env).returncode == 0
    gone = keymgr("secrets", "get", f"{mount}/apps/web", env=env)
    assert "NotFound" in one_line_error(gone)


def test_secrets_cli_tokens(cluster: LocalCluster) -> None:
    env = cluster_env(cluster)
    created = keymgr(
        "secrets",
        "token",
        "create",
        "--principal",
        "spiffe://keymgr/service/cli-app",
        "--ttl",
        "1h",
        "--display-name",
        "ci",
        "--format",
        "json",
        env=env,
    )
    assert created.returncode == 0, created.stderr
    issued = json.loads(created.stdout)
    assert issued["token"].startswith("kmt_")
    looked = keymgr(
        "secrets",
        "token",
        "lookup",
        "--format",
        "json",
        env={**env, "KEYMGR_TOKEN": issued["token"]},
    )
    assert json.loads(looked.stdout)["accessor"] == issued["accessor"]
    listed = keymgr("secrets", "token", "list", env=env).stdout.decode()
    assert issued["accessor"] in listed and issued["token"] not in listed
    assert keymgr("secrets", "token", "revoke", issued["accessor"], env=env).returncode == 0
    refused = keymgr("secrets", "token", "lookup", "--token", issued["token"], env=env)
    assert "token not valid" in one_line_error(refused)


def test_secrets_cli_bad_input_is_one_line(cluster: LocalCluster) -> None:
    env = cluster_env(cluster)
    cases = [
        (("secrets", "put", "secret"), "path"),
        (("secrets", "put", "nosuch/a", "novalue"), "not key=value"),
        (("secrets", "put", "nosuch/a", "x=@/no/such/file"), "cannot read"),
        (("secrets", "put", "nosuch/../a", "x=1"), "path:"),
        (("secrets", "get", "-version=abc", "nosuch/a"), "whole number"),
        (("secrets", "destroy", "nosuch/a"), "-versions"),
        (("secrets", "undelete", "-versions=0", "nosuch/a"), "versions"),
        (("secrets", "token", "create", "--principal", "x", "--ttl", "soon"), "duration"),
        (("secrets", "token", "create", "--principal", "alice", "--ttl", "1h"), "principal"),
        (("secrets", "get", "nosuchmount/a"), "mount"),
    ]
    for args, expected in cases:
        result = keymgr(*args, env=env)
        assert expected in one_line_error(result), (args, result.stderr)
    stdin = keymgr("secrets", "put", "nosuch/a", "-", env=env, stdin=b"[1, 2]")
    assert "JSON object" in one_line_error(stdin)
    policy = keymgr("policy", "put", "p", "--principal", "x", "--op", "secret-read", env=env)
    assert "--path-pattern" in one_line_error(policy)
