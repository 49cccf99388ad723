"""The `keymgr` command as a user runs it: real subprocesses, one-line errors."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import yaml

from keymgr.ops.devcluster import LocalCluster


def keymgr(
    *args: str, env: dict[str, str] | None = None, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "keymgr", *args],
        input=stdin,
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def cluster_env(cluster: LocalCluster) -> dict[str, str]:
    creds = cluster.credentials
    return {
        "KEYMGR_ADDR": ",".join(n.api for n in cluster.spec.nodes),
        "KEYMGR_CACERT": str(creds.ca),
        "KEYMGR_CLIENT_CERT": str(creds.cert),
        "KEYMGR_CLIENT_KEY": str(creds.key),
    }


def one_line_error(result: subprocess.CompletedProcess[bytes]) -> str:
    err = result.stderr.decode()
    assert result.returncode != 0
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_keys_and_crypto_round_trip(cluster: LocalCluster) -> None:
    env = cluster_env(cluster)
    name = f"cli-{uuid.uuid4().hex[:6]}"
    created = keymgr("keys", "create", name, "--label", "team=a", "--json", env=env)
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    assert key["name"] == name and key["labels"] == {"team": "a"}

    encrypted = keymgr("encrypt", name, "--context", "x=1", env=env, stdin=b"hello cli")
    assert encrypted.returncode == 0, encrypted.stderr
    blob = encrypted.stdout.decode().strip()
    decrypted = keymgr("decrypt", "--ciphertext", blob, "--context", "x=1", "--raw", env=env)
    assert decrypted.stdout == b"hello cli"

    datakey = json.loads(keymgr("datakey", name, "--json", env=env).stdout)
    assert len(base64.b64decode(datakey["plaintext"])) == 32

    listed = keymgr("keys", "list", "--all", env=env)
    assert name in listed.stdout.decode()
    status = keymgr("operator", "status", "--address", cluster.spec.nodes[0].api, env=env)
    assert status.returncode == 0
    out = status.stdout.decode()
    assert "leader" in out and "node3" in out
    assert "Caught up" in out and "s ago" in out  # how old each node's view may be
    assert "Unseal Progress" not in out  # only a sealed node has unseal progress

    history = keymgr("keys", "history", name, env=env)
    assert history.returncode == 0, history.stderr
    first = history.stdout.decode().splitlines()[0]
    assert "rotation period none" in first and "- s" not in first, first


def test_cli_errors_are_one_line(cluster: LocalCluster, tmp_path: Path) -> None:
    env = cluster_env(cluster)
    assert "NotFound" in one_line_error(keymgr("keys", "get", "nope-nope", env=env))
    assert "--address" in one_line_error(
        keymgr("keys", "list", env={**env, "KEYMGR_ADDR": "nonsense"})
    )
    from_env = one_line_error(
        keymgr("keys", "list", env={**env, "KEYMGR_CACERT": str(tmp_path / "none.pem")})
    )
    assert "KEYMGR_CACERT" in from_env and "none.pem" in from_env and "--ca" not in from_env
    from_flag = one_line_error(keymgr("keys", "list", "--ca", str(tmp_path / "flag.pem"), env=env))
    assert "--ca" in from_flag and "flag.pem" in from_flag
    relative = one_line_error(
        keymgr("keys", "list", env={**env, "KEYMGR_CLIENT_KEY": "dev-cluster/certs/k.pem"})
    )
    # a relative path from the environment: say which directory it was looked up in
    assert "KEYMGR_CLIENT_KEY" in relative and os.getcwd() in relative
    bad = keymgr("decrypt", "--ciphertext", "%%%", env=env)
    assert "--ciphertext: not valid base64" in one_line_error(bad)
    usage = keymgr("keys", "frobnicate")
    assert usage.returncode == 1 and "Traceback" not in usage.stderr.decode()


def _write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_server_rejects_bad_config_before_binding(cluster: LocalCluster, tmp_path: Path) -> None:
    good = yaml.safe_load(cluster.config_path("node1").read_text())
    cases = {
        "malformed": "node: [unclosed",
        "unknown field": yaml.safe_dump({**good, "nodee": {}}),
        "missing tls": yaml.safe_dump({**good, "tls": {**good["tls"], "cert": "/nope.pem"}}),
    }
    for name, text in cases.items():
        config = _write_config(cluster.root / f"bad-{name.replace(' ', '-')}.yaml", text)
        result = keymgr("server", "--config", str(config))
        err = one_line_error(result)
        assert config.name in err, (name, err)
    missing = keymgr("server", "--config", str(tmp_path / "absent.yaml"))
    assert "absent.yaml" in one_line_error(missing)


def test_access_and_rotation_reports(cluster: LocalCluster) -> None:
    env = cluster_env(cluster)
    name = f"rep-{uuid.uuid4().hex[:6]}"
    put = keymgr(
        "policy",
        "put",
        f"p-{name}",
        "--role",
        "agent",
        "--op",
        "decrypt",
        "--pattern",
        f"{name}*",
        "--context",
        "volume_id=${principal.name}",
        "--json",
        env=env,
    )
    assert put.returncode == 0, put.stderr
    assert json.loads(put.stdout)["state"] == "OPERATION_STATE_EXECUTED"
    listed = keymgr("policy", "list", env=env).stdout.decode()
    assert f"p-{name}" in listed and "volume_id=${principal.name}" in listed
    assert "approvals needed" in keymgr("approvals", "list", env=env).stdout.decode().lower()
    assert "spiffe://keymgr/admin/admin" in keymgr("whoami", env=env).stdout.decode()

    assert keymgr("keys", "create", name, env=env).returncode == 0
    assert keymgr("keys", "rotate", name, env=env).returncode == 0
    history = keymgr("keys", "history", name, "--json", env=env)
    versions = json.loads(history.stdout)["versions"]
    assert [v["version"] for v in versions] == [1, 2]
    assert all(v["created_by"] == "spiffe://keymgr/admin/admin" for v in versions)
    report = keymgr("report", "rotation", "--json", env=env)
    rows = {r["name"]: r for r in json.loads(report.stdout)["keys"]}
    assert len(rows[name]["versions"]) == 2 and rows[name]["overdue"] is False
    bad = keymgr("policy", "put", "x", "--op", "frob", "--pattern", "*", "--role", "agent", env=env)
    assert "unknown operation" in one_line_error(bad)


def test_pki_issues_from_the_cluster_ca_the_cli_points_at(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """Following a guide on a dev cluster: `keymgr pki client ...` without --dir signs
    with the CA of the cluster KEYMGR_CACERT names; a --dir with no CA says where the
    cluster's CA is, never to make a new one (which no node would trust)."""
    from cryptography import x509

    env = {**os.environ, **cluster_env(cluster)}
    name = f"svc-{uuid.uuid4().hex[:6]}"

    def pki(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "keymgr", "pki", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            timeout=60,
        )

    made = pki("client", name, "--kind", "service")
    assert made.returncode == 0, made.stderr
    issued = x509.load_pem_x509_certificate((cluster.certs / f"{name}.pem").read_bytes())
    ca = x509.load_pem_x509_certificate(cluster.credentials.ca.read_bytes())
    issued.verify_directly_issued_by(ca)
    err = one_line_error(pki("client", "other", "--kind", "service", "--dir", "certs"))
    assert "no CA in certs" in err and str(cluster.certs) in err, err
    assert "pki init" not in err
