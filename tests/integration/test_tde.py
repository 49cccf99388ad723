"""Database TDE: the TdeKeys API, and a real MariaDB whose unmodified
hashicorp_key_management plugin gets its keys from the gateway over TLS.

Shown: an ENCRYPTED=YES table's .ibd holds no plaintext (an unencrypted control table
does); MariaDB restarts and reads its rows; a rotation in keymgr moves the tablespace
to the new key version; with the gateway's node killed, MariaDB still starts; and all of
that goes on while 200 idle and slow-loris connections are held against the gateway."""

from __future__ import annotations

import json
import os
import secrets
import signal
import ssl
import subprocess
from pathlib import Path

import pytest
import yaml

from keymgr import pki
from keymgr.client import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from keymgr.gateway.config import hash_token
from keymgr.listen_limits import TDE_GATEWAY
from keymgr.ops.devcluster import LocalCluster
from keymgr.ops.ports import free_port
from keymgr.v1 import keys_pb2, store_pb2
from tests.held_connections import ENDLESS_HEADERS, Siege, client_hello, tcp, tls
from tests.integration.clients_support import (
    PLUGIN,
    Processes,
    agent_cert,
    keymgr,
    require_tools,
    wait_for,
)
from tests.integration.conftest import MakeCluster

GATEWAY = "spiffe://keymgr/service/tde-gateway"
MARKER = b"PLAINTEXT-MARKER-7f3a"


def test_master_key_api(cluster: LocalCluster) -> None:
    with cluster.client() as admin:
        admin.create_key("tde-api", purpose=keys_pb2.KEY_PURPOSE_TDE)
        admin.create_key("not-tde")
        first = admin.get_master_key("db-a", "tde-api")
        assert len(first.master_key) == 32 and first.version == 1
        assert "master_key" not in repr(first)
        other_db = admin.get_master_key("db-b", "tde-api")
        assert other_db.master_key != first.master_key  # bound to the database
        assert admin.rotate_master_key("tde-api") == 2
        latest = admin.get_master_key("db-a", "tde-api", version=0)
        assert latest.version == 2 and latest.master_key != first.master_key
        again = admin.get_master_key("db-a", "tde-api", version=1)
        assert again.master_key == first.master_key
        with pytest.raises(NotFound, match="version"):
            admin.get_master_key("db-a", "tde-api", version=9)
        with pytest.raises(InvalidArgument, match="db_id"):
            admin.get_master_key("", "tde-api")
        with pytest.raises(FailedPrecondition, match="not a TDE key"):
            admin.get_master_key("db-a", "not-tde")
    from tests.integration.helpers import client_for

    with client_for(cluster, "db-stranger", "service") as stranger:
        with pytest.raises(PermissionDenied):
            stranger.get_master_key("db-a", "tde-api")
        with pytest.raises(PermissionDenied):
            stranger.rotate_master_key("tde-api")


class MariaDB:
    """A throwaway mariadbd: its own datadir, socket and port; stopped by PID."""

    def __init__(self, root: Path, options: list[str], processes: Processes) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.datadir = root / "data"
        self.socket = root / "mysql.sock"
        self.port = free_port()
        self.cnf = root / "my.cnf"
        self.processes = processes
        self.process: subprocess.Popen[bytes] | None = None
        lines = [
            "[mariadbd]",
            "user=root",
            f"datadir={self.datadir}",
            f"socket={self.socket}",
            f"port={self.port}",
            "bind-address=127.0.0.1",
            f"log-error={root / 'err.log'}",
            f"pid-file={root / 'mariadb.pid'}",
            "innodb-buffer-pool-size=32M",
            "innodb-log-file-size=16M",
            "skip-name-resolve",
            *options,
        ]
        fd = os.open(self.cnf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # holds the token
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")

    def install(self) -> None:
        subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={self.datadir}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self, timeout: float = 60.0) -> None:
        self.process = self.processes.start(
            ["mariadbd", f"--defaults-file={self.cnf}"], self.root / "stdout.log"
        )

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"mariadbd exited: {self.error_log()[-2000:]}")
            return self.query("SELECT 1") == [["1"]]

        try:
            wait_for(ready, timeout=timeout, what="mariadbd ready", interval=0.2)
        except AssertionError:
            raise AssertionError(f"mariadbd not ready: {self.error_log()[-3000:]}") from None

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)
            self.process = None

    def error_log(self) -> str:
        path = self.root / "err.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def query(self, sql: str) -> list[list[str]]:
        result = subprocess.run(
            [
                "mariadb",
                "--no-defaults",
                "-uroot",
                f"--socket={self.socket}",
                "-N",
                "-B",
                "-e",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(result.stderr.strip())
        return [line.split("\t") for line in result.stdout.splitlines()]


def audit_lines(cluster: LocalCluster, node_id: str) -> list[dict]:
    path = cluster.data_dir(node_id) / "audit" / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def fetches(cluster: LocalCluster, node_id: str) -> list[dict]:
    return [
        r
        for r in audit_lines(cluster, node_id)
        if r["operation"] == "GetMasterKey" and r["principal"] == GATEWAY and r["result"] == "OK"
    ]


def grant_gateway(cluster: LocalCluster) -> None:
    """Keys mariadb-1 and -2, and a policy giving the gateway shop-db's keys only."""
    with cluster.client() as admin:
        admin.create_key("mariadb-1", purpose=keys_pb2.KEY_PURPOSE_TDE)
        admin.create_key("mariadb-2", purpose=keys_pb2.KEY_PURPOSE_TDE)
        operation = admin.put_policy(
            store_pb2.Policy(
                name="gateway-shop-db",
                principals=[GATEWAY],
                operations=["tde"],
                key_patterns=["mariadb-*"],
                required_context={"db_id": "shop-db"},
            )
        )
        assert operation.state == store_pb2.OPERATION_STATE_EXECUTED
        admin.create_key("barrier")
        for node in cluster.spec.nodes:  # read barrier: the policy is applied everywhere
            admin.generate_data_key("barrier", consistent=True, endpoint=node.api)


def start_gateway(
    cluster: LocalCluster, tmp_path: Path, processes: Processes, *, unified: bool = True
) -> tuple[int, str, str]:
    """A running gateway (server certificate from the cluster CA, a client certificate,
    node1 first); returns its port, shop-db's token and another database's token.

    `unified`: `keymgr gateway` with a `tde:` section next to `kv:` (the secrets mounts
    are served on the same listener); otherwise `keymgr tde-gateway` with the
    configuration it has always read (top-level mount and tokens)."""
    ca = pki.load_ca(cluster.certs)
    pki.issue_server_cert(ca, "tde-gateway-tls", hosts=["127.0.0.1"])
    cert, key = agent_cert(cluster, "tde-gateway", "service")
    token, wrong_db_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    port = free_port()
    tde = {
        "mount": "keymgr",
        "tokens": [
            {"sha256": hash_token(token), "db_id": "shop-db"},
            {"sha256": hash_token(wrong_db_token), "db_id": "other-db"},
        ],
    }
    config = tmp_path / "gateway.yaml"
    body = {
        "listen": f"127.0.0.1:{port}",
        "tls": {
            "cert": str(cluster.certs / "tde-gateway-tls.pem"),
            "key": str(cluster.certs / "tde-gateway-tls-key.pem"),
        },
        "cluster": {
            "addresses": [n.api for n in cluster.spec.nodes],  # node1 first
            "ca": str(cluster.credentials.ca),
            "cert": str(cert),
            "key": str(key),
        },
        "failover_deadline_s": 20,
        **({"tde": tde, "kv": {}} if unified else tde),
    }
    config.write_text(yaml.safe_dump(body))
    command = "gateway" if unified else "tde-gateway"
    processes.start([*keymgr_argv(), command, "--config", str(config)], tmp_path / "gateway.log")
    wait_for(lambda: port_open(port), timeout=20, what="gateway listening")
    return port, token, wrong_db_token


def gateway_mariadb(
    cluster: LocalCluster, root: Path, port: int, token: str, processes: Processes
) -> MariaDB:
    """A fresh MariaDB whose hashicorp_key_management plugin asks the gateway."""
    db = MariaDB(
        root,
        [
            f"plugin-load-add={PLUGIN.name}",
            f"hashicorp-key-management-vault-url=https://127.0.0.1:{port}/v1/keymgr",
            f"hashicorp-key-management-token={token}",
            f"hashicorp-key-management-vault-ca={cluster.credentials.ca}",
            "hashicorp-key-management-timeout=30",
            "hashicorp-key-management-max-retries=3",
            "hashicorp-key-management-caching-enabled=ON",
            "hashicorp-key-management-cache-timeout=0",
            "hashicorp-key-management-cache-version-timeout=0",
            "innodb-encryption-threads=1",
            "innodb-encryption-rotate-key-age=1",
            "innodb-encrypt-log=ON",  # as docs/guide-mariadb.md: else rows sit in the redo log
        ],
        processes,
    )
    db.install()
    return db


def fill_tables(db: MariaDB) -> None:
    """shop.secret (ENCRYPTED=YES, key 2) and shop.control (not encrypted), 200 rows each."""
    db.query("CREATE DATABASE shop")
    db.query(
        "CREATE TABLE shop.secret (id INT PRIMARY KEY, v VARCHAR(200)) ENGINE=InnoDB "
        "ENCRYPTED=YES ENCRYPTION_KEY_ID=2"
    )
    db.query(
        "CREATE TABLE shop.control (id INT PRIMARY KEY, v VARCHAR(200)) ENGINE=InnoDB ENCRYPTED=NO"
    )
    values = ",".join(f"({i}, '{MARKER.decode()}-{i}')" for i in range(200))
    db.query(f"INSERT INTO shop.secret VALUES {values}")
    db.query(f"INSERT INTO shop.control VALUES {values}")
    db.query("FLUSH TABLES shop.secret, shop.control FOR EXPORT; UNLOCK TABLES")
    assert MARKER in (db.datadir / "shop" / "control.ibd").read_bytes()  # the check works
    assert MARKER not in (db.datadir / "shop" / "secret.ibd").read_bytes()


def rotate_in_keymgr(cluster: LocalCluster, key_name: str) -> int:
    result = keymgr(
        "tde-rotate",
        key_name,
        "--address",
        cluster.node("node2").api,
        "--ca",
        str(cluster.credentials.ca),
        "--cert",
        str(cluster.credentials.cert),
        "--key",
        str(cluster.credentials.key),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    version: int = json.loads(result.stdout)["version"]
    return version


def test_mariadb_tde_through_the_gateway(
    make_cluster: MakeCluster, tmp_path: Path, processes: Processes
) -> None:
    require_tools()
    cluster = make_cluster()
    cluster.bring_up()
    grant_gateway(cluster)
    port, token, wrong_db_token = start_gateway(cluster, tmp_path, processes)
    check_gateway_http(cluster, port, token, wrong_db_token)
    check_kv_on_the_same_listener(cluster, port)

    db = gateway_mariadb(cluster, tmp_path / "mariadb", port, token, processes)
    db.start()
    fill_tables(db)
    assert version_of(db) == 1

    # restart: MariaDB fetches the key again and reads its rows
    db.stop()
    # the redo log is encrypted too (innodb-encrypt-log): no row in any file after shutdown
    for path in sorted(p for p in db.datadir.rglob("*") if p.is_file()):
        if path.name != "control.ibd":  # the ENCRYPTED=NO table: plaintext by design
            assert MARKER not in path.read_bytes(), f"plaintext rows in {path.name}"
    db.start()
    assert db.query("SELECT COUNT(*), MAX(v) FROM shop.secret") == [
        ["200", f"{MARKER.decode()}-99"]
    ]

    # rotate in keymgr: MariaDB re-encrypts the tablespace with version 2
    assert rotate_in_keymgr(cluster, "mariadb-2") == 2
    wait_for(lambda: version_of(db) == 2, timeout=60, what="tablespace at key version 2")

    # the gateway used node1; kill it and restart MariaDB: it still starts (failover)
    assert fetches(cluster, "node1"), "the gateway did not fetch through node1"
    assert all("db_id" in r["context"] for r in fetches(cluster, "node1"))
    before = sum(len(fetches(cluster, n)) for n in ("node2", "node3"))
    cluster.stop("node1", kill=True)
    db.stop()
    db.start(timeout=90)
    assert db.query("SELECT COUNT(*) FROM shop.secret") == [["200"]]
    assert version_of(db) == 2
    assert sum(len(fetches(cluster, n)) for n in ("node2", "node3")) > before


def test_mariadb_fetches_keys_while_the_gateway_is_besieged(
    make_cluster: MakeCluster, tmp_path: Path, processes: Processes
) -> None:
    """The outside review: one idle TCP connection stopped the gateway, and every key
    fetch of MariaDB timed out. Now 100 idle connections and 100 slow-loris ones (50
    trickling a TLS ClientHello a byte a second, 50 trickling headers after a finished
    handshake) are held against it, each replaced as soon as the gateway closes it,
    while MariaDB starts (it exits if the gateway does not answer), creates an encrypted
    table, restarts and reads it, and follows a rotation: all through the gateway."""
    require_tools()
    cluster = make_cluster()
    cluster.bring_up()
    grant_gateway(cluster)
    port, token, _ = start_gateway(cluster, tmp_path, processes, unified=False)
    db = gateway_mariadb(cluster, tmp_path / "mariadb", port, token, processes)
    context = ssl.create_default_context(cafile=str(cluster.credentials.ca))
    siege = (
        Siege()
        .hold(
            "slow-head",
            tls("127.0.0.1", port, context),
            50,
            first=b"GET /v1/keymgr/data/1 HTTP/1.1\r\nHost: 127.0.0.1\r\n",
            trickle=ENDLESS_HEADERS,
        )
        .hold("idle", tcp("127.0.0.1", port), 100)
        .hold("slow-hello", tcp("127.0.0.1", port), 50, trickle=client_hello())
    )
    with siege:
        assert siege.open_count() == 200
        db.start(timeout=30)
        fill_tables(db)
        db.stop()
        db.start(timeout=30)
        assert db.query("SELECT COUNT(*), MAX(v) FROM shop.secret") == [
            ["200", f"{MARKER.decode()}-99"]
        ]
        assert rotate_in_keymgr(cluster, "mariadb-2") == 2
        wait_for(lambda: version_of(db) == 2, timeout=60, what="tablespace at key version 2")
        assert siege.open_count() >= 180, "the siege was not held while MariaDB worked"
        lifetimes = siege.wait_every_one_closed(within=20)
    assert len(fetches(cluster, "node1")) >= 3  # keys 1 and 2 at each start, version 2
    # the gateway closed each held connection when its phase's deadline passed
    assert max(lifetimes["idle"] + lifetimes["slow-hello"]) < TDE_GATEWAY.handshake_timeout_s + 3
    assert max(lifetimes["slow-head"]) < TDE_GATEWAY.head_timeout_s + 3


def check_kv_on_the_same_listener(cluster: LocalCluster, port: int) -> None:
    """The unified gateway also serves a KV v2 mount (hvac, a keymgr token)."""
    import hvac

    from tests.integration.kv_gateway_support import (
        ALL_SECRET_OPERATIONS,
        applied_everywhere,
        grant,
        token_for,
    )

    app = "spiffe://keymgr/service/tde-test-app"
    with cluster.client() as admin:
        admin.secrets.enable_mount("secret")
        grant(admin, "tde-test-app", app, ALL_SECRET_OPERATIONS, ["secret/*"])
        token = token_for(admin, app)
        applied_everywhere(cluster, admin)
    kv = hvac.Client(
        url=f"https://127.0.0.1:{port}", token=token, verify=str(cluster.credentials.ca)
    ).secrets.kv.v2
    kv.create_or_update_secret("db/shop", {"password": "p"}, mount_point="secret")
    read = kv.read_secret_version("db/shop", mount_point="secret", raise_on_deleted_version=True)
    assert read["data"]["data"] == {"password": "p"}


def version_of(db: MariaDB) -> int:
    rows = db.query(
        "SELECT CURRENT_KEY_VERSION FROM information_schema.INNODB_TABLESPACES_ENCRYPTION "
        "WHERE NAME = 'shop/secret'"
    )
    return int(rows[0][0]) if rows else 0


def keymgr_argv() -> list[str]:
    import sys

    return [sys.executable, "-m", "keymgr"]


def port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def check_gateway_http(cluster: LocalCluster, port: int, token: str, wrong: str) -> None:
    """The HTTP contract itself, over TLS verified with the cluster CA."""
    import http.client
    import ssl

    context = ssl.create_default_context(cafile=str(cluster.credentials.ca))

    def get(path: str, tok: str | None) -> tuple[int, dict]:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)
        try:
            conn.request("GET", path, headers={"X-Vault-Token": tok} if tok else {})
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            conn.close()

    assert get("/v1/sys/mounts/keymgr/tune", token) == (
        200,
        {"options": {"version": "2"}, "type": "kv"},
    )
    status, body = get("/v1/keymgr/data/1", token)
    assert status == 200 and body["data"]["metadata"]["version"] == 1
    assert len(body["data"]["data"]["data"]) == 64
    assert get("/v1/keymgr/data/1?version=1", token)[1] == body
    assert get("/v1/keymgr/data/1?version=7", token)[0] == 404
    assert get("/v1/keymgr/data/99", token)[0] == 404  # no key mariadb-99
    assert get("/v1/keymgr/data/1", None)[0] == 403
    assert get("/v1/keymgr/data/1", "not-a-token")[0] == 403
    assert get("/v1/keymgr/data/1", wrong)[0] == 403  # policy names shop-db only
