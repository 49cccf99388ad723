"""The gateway's configuration: the unified file (kv:, tde:), the one `keymgr
tde-gateway` has always read, and one clear line for each mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from keymgr import pki
from keymgr.gateway.config import GatewayConfigError, hash_token, load_config
from tests.integration.clients_support import keymgr

DIGEST = hash_token("t")


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    out = tmp_path / "certs"
    pki.create_ca(out)
    ca = pki.load_ca(out)
    pki.issue_server_cert(ca, "gw", hosts=["127.0.0.1"])
    pki.issue_client_cert(ca, "gw-client", kind="service")
    return out


def base(certs: Path) -> dict[str, Any]:
    return {
        "listen": "127.0.0.1:8200",
        "tls": {"cert": "certs/gw.pem", "key": "certs/gw-key.pem"},
        "cluster": {
            "addresses": ["127.0.0.1:7001"],
            "ca": "certs/ca.pem",
            "cert": "certs/gw-client.pem",
            "key": "certs/gw-client-key.pem",
        },
    }


def write(tmp_path: Path, body: dict[str, Any]) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def test_the_unified_file(tmp_path: Path, certs: Path) -> None:
    body = {
        **base(certs),
        "kv": {"mounts": ["secret"]},
        "tde": {
            "mount": "keymgr",
            "tokens": [{"sha256": DIGEST, "db_id": "shop"}],
            "keys": {1: "k1"},
        },
    }
    body["tls"]["client_ca"] = "certs/ca.pem"
    config = load_config(write(tmp_path, body))
    assert config.kv is not None and config.kv.serves("secret") and not config.kv.serves("x")
    assert config.tde_enabled and config.tokens == {DIGEST: "shop"}
    assert config.key_name(1) == "k1" and config.key_name(2) == "mariadb-2"
    assert config.client_ca == certs / "ca.pem"
    assert config.tls_cert == certs / "gw.pem"  # relative to the file


def test_the_tde_gateway_file_is_still_read(tmp_path: Path, certs: Path) -> None:
    body = {
        **base(certs),
        "mount": "keymgr",
        "tokens": [{"sha256": DIGEST, "db_id": "shop"}],
        "failover_deadline_s": 5,
    }
    config = load_config(write(tmp_path, body))
    assert config.kv is None and config.tde_enabled and config.mount == "keymgr"
    assert config.failover_deadline_s == 5


def test_kv_alone_serves_every_mount(tmp_path: Path, certs: Path) -> None:
    config = load_config(write(tmp_path, {**base(certs), "kv": {}}))
    assert config.kv is not None and config.kv.serves("anything") and not config.tde_enabled


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kv": None, "tde": None}, "serve at least one"),
        ({"listen": "8200"}, "listen: expected host:port"),
        ({"kv": {"mounts": ["sys"]}}, "kv.mounts"),
        ({"kv": {"mounts": ["a/b"]}}, "kv.mounts"),
        ({"kv": {"mounts": "secret"}}, "kv.mounts"),
        ({"kv": {}, "tde": {"tokens": [{"sha256": "x", "db_id": "d"}]}}, "tde.tokens[0]"),
        ({"kv": {}, "tde": {}}, "tde.tokens: at least one"),
        ({"kv": {}, "mount": "keymgr", "tde": {}}, "either under tde: or at the top"),
        ({"kv": {}, "failover_deadline_s": "soon"}, "failover_deadline_s"),
        ({"kv": {}, "listner": "x"}, "listner: unknown field"),
        ({"kv": {}, "tls": {"cert": "nope.pem", "key": "certs/gw-key.pem"}}, "tls.cert: file"),
        ({"kv": {}, "cluster": {"addresses": "a"}}, "cluster.addresses"),
    ],
)
def test_mistakes_are_one_line_naming_the_field(
    tmp_path: Path, certs: Path, change: dict[str, Any], message: str
) -> None:
    body = {**base(certs), **{k: v for k, v in change.items() if v is not None}}
    with pytest.raises(GatewayConfigError, match=message.replace("[", r"\[")) as caught:
        load_config(write(tmp_path, body))
    assert "\n" not in str(caught.value) and str(tmp_path) in str(caught.value)


def test_the_cli_says_it_in_one_line(tmp_path: Path, certs: Path) -> None:
    path = write(tmp_path, {**base(certs), "kv": {"mounts": ["sys"]}})
    for command in ("gateway", "tde-gateway"):
        result = keymgr(command, "--config", str(path))
        assert result.returncode != 0 and "kv.mounts" in result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_a_taken_port_is_one_line_too(tmp_path: Path, certs: Path) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        body = {**base(certs), "kv": {}, "listen": f"127.0.0.1:{taken.getsockname()[1]}"}
        result = keymgr("gateway", "--config", str(write(tmp_path, body)))
    assert result.returncode != 0 and "cannot start" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
