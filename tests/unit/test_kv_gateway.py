"""The gateway's KV v2 HTTP layer, in process over TLS, against an in-memory stand-in
for the cluster (tests/unit/fake_secrets.py). The real hvac and the real `bao` binary
are the clients; raw HTTP covers what they never send (bad paths, bodies, methods).
The same flows against a real 3-node cluster: tests/integration/test_kv_gateway.py."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hvac
import hvac.exceptions
import pytest

from keymgr import pki
from keymgr.client import Credentials, OutcomeUnknown
from keymgr.client._secrets import MountConfig
from keymgr.gateway.config import GatewayConfig, KvConfig
from keymgr.gateway.server import Gateway, build_server
from keymgr.listen_limits import GATEWAY
from keymgr_bench.openbao_peer import bao_binary
from tests.unit.fake_secrets import FakeSecrets, FakeStore

ADMIN = "kmt_admin-token"
WEB = "kmt_web-token"


@dataclass
class Served:
    port: int
    certs: Path
    store: FakeStore
    server: object

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.certs / "ca.pem"))

    def request(
        self,
        method: str,
        path: str,
        body: bytes | dict | None = None,
        *,
        token: str | None = ADMIN,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict | None]:
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=self.context(), timeout=10
        )
        try:
            sent = dict(headers or {})
            if token:
                sent["X-Vault-Token"] = token
            data = json.dumps(body).encode() if isinstance(body, dict) else body
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
        finally:
            conn.close()

    def hvac(self, token: str = ADMIN) -> hvac.Client:
        return hvac.Client(url=self.url, token=token, verify=str(self.certs / "ca.pem"))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    certs = tmp_path / "certs"
    pki.create_ca(certs)
    ca = pki.load_ca(certs)
    pki.issue_server_cert(ca, "gw", hosts=["127.0.0.1"])
    pki.issue_client_cert(ca, "gw-client", kind="service")
    pki.issue_client_cert(ca, "app", kind="service")
    store = FakeStore()
    fake = FakeSecrets(store)
    store.mounts["secret"] = MountConfig("secret", "secrets-secret", 0, False, 0)
    fake.add_token(ADMIN, ("*",))
    fake.add_token(WEB, ("secret/apps/web/*", "secret/apps/"))
    fake.add_token("kmt_none", ())
    fake.add_token("kmt_revoked", ("*",), revoked=True)
    fake.add_token("cert", ("secret/certs/*",))
    config = GatewayConfig(
        listen_host="127.0.0.1",
        listen_port=0,
        tls_cert=certs / "gw.pem",
        tls_key=certs / "gw-key.pem",
        mount="keymgr",
        addresses=["127.0.0.1:1"],
        credentials=Credentials(
            ca=certs / "ca.pem", cert=certs / "gw-client.pem", key=certs / "gw-client-key.pem"
        ),
        tokens={},
        kv=KvConfig(),
        client_ca=certs / "ca.pem",
        failover_deadline_s=3.0,
    )
    server = build_server(Gateway(config, secrets=fake))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(server.server_address[1], certs, store, server)
    finally:
        server.shutdown()
        thread.join(10)


def test_hvac_versions_cas_delete_undelete_destroy_metadata_list(served: Served) -> None:
    client = served.hvac()
    assert client.is_authenticated()
    kv = client.secrets.kv.v2
    first = kv.create_or_update_secret("apps/web/db", {"password": "one"}, mount_point="secret")
    assert first["data"]["version"] == 1 and first["data"]["deletion_time"] == ""
    kv.patch("apps/web/db", {"user": "web"}, mount_point="secret")
    read = kv.read_secret_version(
        "apps/web/db", mount_point="secret", raise_on_deleted_version=True
    )
    assert read["data"]["data"] == {"password": "one", "user": "web"}
    assert read["data"]["metadata"]["version"] == 2
    assert kv.read_secret_version(
        "apps/web/db", version=1, mount_point="secret", raise_on_deleted_version=True
    )["data"]["data"] == {"password": "one"}
    with pytest.raises(hvac.exceptions.InvalidRequest, match="check-and-set parameter did not"):
        kv.create_or_update_secret("apps/web/db", {"password": "x"}, cas=1, mount_point="secret")
    kv.create_or_update_secret("apps/web/db", {"password": "three"}, cas=2, mount_point="secret")
    kv.delete_latest_version_of_secret("apps/web/db", mount_point="secret")
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_version("apps/web/db", mount_point="secret", raise_on_deleted_version=True)
    deleted = kv.read_secret_version(
        "apps/web/db", mount_point="secret", raise_on_deleted_version=False
    )
    assert deleted["data"]["data"] is None and deleted["data"]["metadata"]["deletion_time"]
    kv.undelete_secret_versions("apps/web/db", [3], mount_point="secret")
    assert kv.read_secret_version(
        "apps/web/db", mount_point="secret", raise_on_deleted_version=True
    )["data"]["data"] == {"password": "three"}
    kv.destroy_secret_versions("apps/web/db", [1], mount_point="secret")
    kv.update_metadata(
        "apps/web/db", max_versions=5, custom_metadata={"owner": "web"}, mount_point="secret"
    )
    meta = kv.read_secret_metadata("apps/web/db", mount_point="secret")["data"]
    assert meta["current_version"] == 3 and meta["max_versions"] == 5
    assert meta["custom_metadata"] == {"owner": "web"}
    assert meta["versions"]["1"]["destroyed"] is True
    assert meta["delete_version_after"] == "0s"
    kv.create_or_update_secret("apps/db/main", {"password": "p"}, mount_point="secret")
    assert kv.list_secrets("apps", mount_point="secret")["data"]["keys"] == ["db/", "web/"]
    assert kv.list_secrets("", mount_point="secret")["data"]["keys"] == ["apps/"]
    kv.delete_metadata_and_all_versions("apps/db/main", mount_point="secret")
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_metadata("apps/db/main", mount_point="secret")
    kv.configure(max_versions=7, cas_required=False, mount_point="secret")
    assert kv.read_configuration(mount_point="secret")["data"]["max_versions"] == 7
    assert client.sys.read_health_status(method="GET")["sealed"] is False
    assert client.sys.is_sealed() is False
    assert "secret/" in client.sys.list_mounted_secrets_engines()["data"]


def bao(
    served: Served, *args: str, token: str = ADMIN, home: Path
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "BAO_ADDR": served.url,
        "BAO_TOKEN": token,
        "BAO_CACERT": str(served.certs / "ca.pem"),
    }
    return subprocess.run(
        [bao_binary(), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_bao_cli_speaks_to_the_gateway(served: Served, tmp_path: Path) -> None:
    def ok(*args: str) -> str:
        result = bao(served, *args, home=tmp_path)
        assert result.returncode == 0, (args, result.stderr)
        return result.stdout

    ok("kv", "put", "secret/apps/web/api", "key=one")
    ok("kv", "patch", "secret/apps/web/api", "other=two")
    got = json.loads(ok("kv", "get", "-format=json", "secret/apps/web/api"))
    assert got["data"]["data"] == {"key": "one", "other": "two"}
    assert ok("kv", "get", "-field=key", "-version=1", "secret/apps/web/api") == "one"
    ok("kv", "delete", "secret/apps/web/api")
    deleted = json.loads(ok("kv", "get", "-format=json", "secret/apps/web/api"))  # as OpenBao
    assert deleted["data"]["data"] is None and deleted["data"]["metadata"]["deletion_time"]
    ok("kv", "undelete", "-versions=2", "secret/apps/web/api")
    ok("kv", "destroy", "-versions=1", "secret/apps/web/api")
    meta = json.loads(ok("kv", "metadata", "get", "-format=json", "secret/apps/web/api"))
    assert meta["data"]["versions"]["1"]["destroyed"] is True
    assert json.loads(ok("kv", "list", "-format=json", "secret/apps")) == ["web/"]
    ok("kv", "metadata", "put", "-custom-metadata=team=web", "secret/apps/web/api")
    ok("kv", "metadata", "patch", "-custom-metadata=tier=1", "secret/apps/web/api")
    meta = json.loads(ok("kv", "metadata", "get", "-format=json", "secret/apps/web/api"))
    assert meta["data"]["custom_metadata"] == {"team": "web", "tier": "1"}
    conflict = bao(served, "kv", "put", "-cas=1", "secret/apps/web/api", "k=v", home=tmp_path)
    assert conflict.returncode == 2
    assert "check-and-set parameter did not match" in conflict.stderr
    denied = bao(served, "kv", "get", "secret/apps/web/api", token="kmt_none", home=tmp_path)
    assert denied.returncode == 2 and "permission denied" in denied.stderr
    ok("kv", "metadata", "delete", "secret/apps/web/api")
    assert bao(served, "kv", "get", "secret/apps/web/api", home=tmp_path).returncode == 2


def test_authorization_is_the_clusters_and_errors_keep_the_kv_shape(served: Served) -> None:
    served.hvac().secrets.kv.v2.create_or_update_secret(
        "apps/db/main", {"password": "p"}, mount_point="secret"
    )
    assert served.request("GET", "/v1/secret/data/apps/db/main", token=None) == (
        403,
        {"errors": ["permission denied"]},
    )
    for token in ("kmt_none", "kmt_revoked", "kmt_unknown", WEB):
        assert served.request("GET", "/v1/secret/data/apps/db/main", token=token) == (
            403,
            {"errors": ["permission denied"]},
        ), token
    status, body = served.request(
        "POST", "/v1/secret/data/apps/web/x", {"data": {"a": 1}}, token=WEB
    )
    assert status == 200 and body is not None and body["data"]["version"] == 1
    assert set(body) == {
        "request_id",
        "lease_id",
        "renewable",
        "lease_duration",
        "data",
        "wrap_info",
        "warnings",
        "auth",
    }
    assert served.request("GET", "/v1/auth/token/lookup-self", token="kmt_revoked")[0] == 403
    assert served.request("GET", "/v1/sys/internal/ui/mounts/secret/x", token="kmt_x")[0] == 403
    status, body = served.request("GET", "/v1/sys/internal/ui/mounts/secret/apps", token=WEB)
    assert status == 200 and body is not None
    assert body["data"]["path"] == "secret/" and body["data"]["options"] == {"version": "2"}


@pytest.mark.parametrize(
    "target",
    [
        "/v1/secret/data/apps/../db/main",
        "/v1/secret/data/apps/%2e%2e/db/main",
        "/v1/secret/data/apps/%2E%2E/db/main",
        "/v1/secret/data/apps/./db",
        "/v1/secret/data/apps//db",
        "/v1/secret/data/apps%2fdb",
        "/v1/secret/data/apps%2Fdb",
        "/v1/secret/data/apps%5cdb",
        "/v1/secret/data/apps%00db",
        "/v1/secret/data/apps%zz",
        "/v1/secret/data/" + "a/" * 300 + "b",
        "/v1/secret/data/" + "a" * 2100,
        "/v1/secret/metadata/" + "p" * 600 + "/?list=true",
        "/v1/secret/data/x?version=abc",
        "/v1/secret/data/x?version=-1",
        "/v1/secret/data/x?version=%C2%B2",
        "/v1/secret/data/",
    ],
)
def test_bad_targets_are_4xx_in_the_kv_shape_and_write_nothing(served: Served, target: str) -> None:
    for method in ("GET",) if "version=" in target else ("GET", "POST"):
        status, body = served.request(method, target, {"data": {"k": "v"}})
        assert 400 <= status < 500 and status != 404, (method, target, status)
        assert body is not None and isinstance(body["errors"], list) and body["errors"]
    assert served.store.paths == {}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{", 400, "failed to decode JSON input"),
        (b"[1, 2]", 400, "expected a JSON object"),
        (b'{"data": 5}', 400, "data: expected a JSON object"),
        (b'{"data": "text"}', 400, "data: expected a JSON object"),
        (b'{"nodata": {}}', 400, "no data provided"),
        (b"", 400, "no data provided"),
        (b'{"data": {"a": NaN}}', 400, "NaN"),
        (b'{"data": {"a": 1, "a": 2}}', 400, "repeated"),
        (b'{"data": {}, "options": {"cas": "x"}}', 400, "options.cas"),
        (b'{"data": {}, "options": {"cas": -1}}', 400, "options.cas"),
        (b'{"data": {}, "options": 3}', 400, "options"),
        (b"\xff\xfe", 400, "failed to decode JSON input"),
        (b"[" * 5000 + b"]" * 5000, 400, "failed to decode JSON input"),
        (b'{"data": ' + b'{"a":' * 100 + b"1" + b"}" * 101, 400, "nested"),
        (json.dumps({"data": {"v": "x" * (600 << 10)}}).encode(), 413, "data: larger than"),
    ],
)
def test_bad_bodies_are_refused_and_nothing_is_written(
    served: Served, body: bytes, status: int, message: str
) -> None:
    got, answer = served.request("POST", "/v1/secret/data/apps/web/x", body)
    assert got == status and answer is not None and message in answer["errors"][0]
    assert served.store.paths == {}


def raw(served: Served, data: bytes, timeout: float = 10) -> bytes:
    with (
        socket.create_connection(("127.0.0.1", served.port), timeout=timeout) as sock,
        served.context().wrap_socket(sock, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(data)
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_body_limits_at_the_listener(served: Served) -> None:
    huge = raw(
        served,
        b"POST /v1/secret/data/a HTTP/1.1\r\nX-Vault-Token: "
        + ADMIN.encode()
        + b"\r\nContent-Length: 2000000\r\n\r\n",
    )
    assert huge.startswith(b"HTTP/1.1 413") and b"Connection: close" in huge
    chunked = raw(
        served, b"POST /v1/secret/data/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    assert chunked.startswith(b"HTTP/1.1 411")
    started = time.monotonic()
    short = raw(
        served, b"POST /v1/secret/data/a HTTP/1.1\r\nContent-Length: 10\r\n\r\n{", timeout=20
    )
    assert short.startswith(b"HTTP/1.1 408")  # answered at the body deadline
    assert GATEWAY.body_timeout_s - 1 < time.monotonic() - started < GATEWAY.body_timeout_s + 3
    head = raw(served, b"HEAD /v1/sys/health HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n")
    assert served.store.paths == {}


def test_methods_content_types_and_routes(served: Served) -> None:
    served.request("POST", "/v1/secret/data/apps/web/x", {"data": {"a": 1, "b": 2}})
    assert served.request("PATCH", "/v1/secret/data/apps/web/x", {"data": {"a": None}})[0] == 415
    status, _ = served.request(
        "PATCH",
        "/v1/secret/data/apps/web/x",
        {"data": {"a": None}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert status == 200
    assert served.request("GET", "/v1/secret/data/apps/web/x")[1]["data"]["data"] == {"b": 2}
    assert served.request("DELETE", "/v1/secret/data/apps/web/x") == (204, None)
    assert served.request("TRACE", "/v1/secret/data/apps/web/x")[0] == 405
    assert served.request("PATCH", "/v1/secret/delete/apps/web/x", {})[0] == 405
    assert served.request("POST", "/v1/secret/delete/apps/web/x", {})[0] == 400
    assert served.request("GET", "/v1/secret/nothing/x")[0] == 404
    assert served.request("GET", "/v1/secret/data/apps/web/nope") == (404, {"errors": []})
    assert served.request("GET", "/v1/other/data/x")[0] == 404  # no such mount
    assert (
        served.request("GET", "/v1/secret/data/x", headers={"X-Vault-Namespace": "ns1"})[0] == 400
    )
    status, body = served.request("LIST", "/v1/secret/metadata/apps/")
    assert status == 200 and body is not None and body["data"]["keys"] == ["web/"]
    served.request("POST", "/v1/secret/data/apps/web/nested", {"data": {"a": {"b": 1}, "c": 2}})
    status, body = served.request("GET", "/v1/secret/subkeys/apps/web/nested")
    assert status == 200 and body is not None
    assert body["data"]["subkeys"] == {"a": {"b": None}, "c": None}
    assert served.request("GET", "/v1/secret/subkeys/apps/web/nested?depth=1")[1]["data"][
        "subkeys"
    ] == {"a": None, "c": None}


def test_a_failover_is_waited_out(served: Served) -> None:
    served.store.unavailable_calls = 3
    status, _ = served.request("POST", "/v1/secret/data/apps/web/x", {"data": {"a": 1}})
    assert status == 200 and served.store.unavailable_calls == 0
    served.store.unavailable_calls = 1000
    started = time.monotonic()
    assert served.request("GET", "/v1/secret/data/apps/web/x") == (
        503,
        {"errors": ["key manager unavailable"]},
    )
    assert 2.5 < time.monotonic() - started < 6


def test_a_write_that_may_have_run_is_sent_again_under_the_same_request_id(
    served: Served,
) -> None:
    """The cluster applies a request id once, so the gateway may resend an ambiguous write:
    the second sending carries the first one's id (the node answers it with the first
    result if it had run)."""
    served.store.unavailable_calls, served.store.unavailable = 1, OutcomeUnknown
    status, _ = served.request("POST", "/v1/secret/data/apps/web/x", {"data": {"a": 1}})
    assert status == 200
    assert served.store.calls == ["secret-write secret/apps/web/x"] * 2
    first, second = served.store.put_request_ids
    assert first and first == second
    served.request("POST", "/v1/secret/data/apps/web/x", {"data": {"a": 2}})
    assert served.store.put_request_ids[2] not in (None, first)  # a new write, a new id


def test_a_client_certificate_is_forwarded_when_no_token_is_sent(served: Served) -> None:
    context = served.context()
    context.load_cert_chain(served.certs / "app.pem", served.certs / "app-key.pem")
    conn = http.client.HTTPSConnection("127.0.0.1", served.port, context=context, timeout=10)
    conn.request("POST", "/v1/secret/data/certs/a", body=b'{"data": {"k": "v"}}')
    response = conn.getresponse()
    assert response.status == 200, response.read()
    conn.close()
    assert any(c.startswith("forwarded -----BEGIN CERTIFICATE") for c in served.store.calls)


def test_a_reissued_certificate_is_served_without_a_restart(served: Served) -> None:
    def serial() -> int:
        with (
            socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock,
            served.context().wrap_socket(sock, server_hostname="127.0.0.1") as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        from cryptography import x509

        return x509.load_der_x509_certificate(der).serial_number

    before = serial()
    staging = served.certs / "staging"
    pki.issue_server_cert(pki.load_ca(served.certs), "gw", hosts=["127.0.0.1"], out_dir=staging)
    shutil.copy(staging / "gw-key.pem", served.certs / "gw-key.pem")
    shutil.copy(staging / "gw.pem", served.certs / "gw.pem")
    deadline = time.monotonic() + 5
    while serial() == before:
        assert time.monotonic() < deadline, "the new certificate was not picked up"
        time.sleep(0.2)
