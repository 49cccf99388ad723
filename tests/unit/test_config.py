"""Node config: a good file loads into typed values; every bad one fails in one line
that names the file and the field."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from keymgr import pki
from keymgr.config import (
    ConfigError,
    KeysConfig,
    LoggingConfig,
    Member,
    NodeConfig,
    ServingConfig,
    load_config,
    parse_config,
)
from tests.unmistakable_secrets import unmistakable

Data = dict[str, Any]
PASSWORD_FILE = "secrets/cluster-secret"
CONFIG_PIN = unmistakable("hsm-pin")  # scanned for in repr and errors


@pytest.fixture(scope="module")
def cluster_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Certificates and a cluster secret, as `keymgr pki` would make them."""
    root = tmp_path_factory.mktemp("cluster")
    pki.create_ca(root / "certs")
    ca = pki.load_ca(root / "certs")
    pki.issue_node_cert(ca, "node1")
    pki.issue_node_cert(ca, "node2")
    pki.create_cluster_secret(root / PASSWORD_FILE)
    (root / "secrets" / "short").write_text("too-short\n")
    (root / "secrets" / "short").chmod(0o600)
    (root / "secrets" / "shared").write_text("x" * 40 + "\n")
    (root / "secrets" / "shared").chmod(0o640)
    (root / "logs").mkdir()
    return root


def good() -> Data:
    return {
        "node": {"id": "node1", "zone": "zone-a", "data_dir": "./data/node1"},
        "api": {"listen": "127.0.0.1:7001"},
        "tls": {"cert": "certs/node1.pem", "key": "certs/node1-key.pem", "ca": "certs/ca.pem"},
        "raft": {
            "listen": "127.0.0.1:7101",
            "password_file": PASSWORD_FILE,
            "election_timeout_min_s": 0.5,
            "election_timeout_max_s": 1,
            "append_entries_period_s": 0.05,
            "connection_timeout_s": 2.0,
            "connection_retry_time_s": 0.5,
            "log_compaction_min_entries": 100,
        },
        "peers": [
            {"id": "node2", "api": "127.0.0.1:7002", "raft": "127.0.0.1:7102", "zone": "zone-b"},
            {"id": "node3", "api": "[::1]:7003", "raft": "kms3.internal:7103"},
        ],
        "seal": {"type": "file", "key_file": "secrets/node1-seal.key"},
        "serving": {"max_leader_silence_s": 2, "max_lag_entries": 10},
        "keys": {"min_deletion_window_s": 60, "default_deletion_window_s": 3600},
        "logging": {"level": "debug", "file": "logs/node1.log"},
    }


def write(directory: Path, data: object, name: str = "node.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_valid_file_loads_into_typed_config(cluster_dir: Path) -> None:
    path = write(cluster_dir, good())
    config = load_config(path)
    assert isinstance(config, NodeConfig)
    assert config.source == str(path)
    assert config.node.id == "node1" and config.node.zone == "zone-a"
    assert config.node.data_dir == cluster_dir / "data" / "node1"
    assert config.api.listen == "127.0.0.1:7001"
    assert config.tls.cert == cluster_dir / "certs" / "node1.pem"
    assert config.tls.ca.is_file()
    raft = config.raft
    assert raft.listen == "127.0.0.1:7101"
    assert raft.password == (cluster_dir / PASSWORD_FILE).read_text().strip()
    assert isinstance(raft.election_timeout_max_s, float) and raft.election_timeout_max_s == 1.0
    assert raft.log_compaction_min_entries == 100
    assert config.peers == (
        Member(id="node2", api="127.0.0.1:7002", raft="127.0.0.1:7102", zone="zone-b"),
        Member(id="node3", api="[::1]:7003", raft="kms3.internal:7103", zone=""),
    )
    assert config.seal.type == "file"
    assert config.seal.key_file == cluster_dir / "secrets" / "node1-seal.key"
    assert config.serving == ServingConfig(max_leader_silence_s=2.0, max_lag_entries=10)
    assert config.keys == KeysConfig(min_deletion_window_s=60, default_deletion_window_s=3600)
    assert config.logging == LoggingConfig(level="debug", file=cluster_dir / "logs" / "node1.log")
    assert [m.id for m in config.members()] == ["node1", "node2", "node3"]
    assert config.members()[0] == Member(
        id="node1", api="127.0.0.1:7001", raft="127.0.0.1:7101", zone="zone-a"
    )
    assert config.member("node3") == config.peers[1]
    assert config.member("node9") is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.node.id = "x"  # type: ignore[misc]


def test_minimal_file_gets_defaults(cluster_dir: Path) -> None:
    data = good()
    for section in ("peers", "serving", "keys"):
        del data[section]
    data["logging"] = None  # an empty section: all defaults
    data["raft"] = {"listen": "127.0.0.1:7101", "password_file": PASSWORD_FILE}
    data["seal"] = {"type": "shamir"}
    del data["node"]["zone"]
    config = load_config(write(cluster_dir, data, "minimal.yaml"))
    assert config.peers == ()
    assert config.node.zone == ""
    assert config.seal.key_file is None
    assert config.serving == ServingConfig()
    assert config.keys.min_deletion_window_s == 604800
    assert config.keys.default_deletion_window_s == 2592000
    assert config.logging == LoggingConfig(level="info", file=None)
    assert config.raft.election_timeout_min_s == 0.15
    assert config.raft.election_timeout_max_s == 0.3
    assert config.raft.append_entries_period_s == 0.04
    assert config.raft.log_compaction_min_entries == 5000


def test_paths_are_relative_to_the_yaml_file(
    cluster_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(write(cluster_dir, good(), "rel.yaml"))
    assert config.tls.key == cluster_dir / "certs" / "node1-key.pem"
    data = good()
    data["tls"] = {k: str(cluster_dir / v) for k, v in data["tls"].items()}
    data["raft"]["password_file"] = str(cluster_dir / PASSWORD_FILE)
    data["logging"]["file"] = None
    config = parse_config(data, "<embedded>")
    assert config.node.data_dir == tmp_path / "data" / "node1"  # relative to the cwd
    assert config.tls.ca == cluster_dir / "certs" / "ca.pem"


def test_parse_config_with_base_dir(cluster_dir: Path) -> None:
    config = parse_config(good(), "<dev>", base_dir=cluster_dir)
    assert config.source == "<dev>"
    assert config.tls.cert == cluster_dir / "certs" / "node1.pem"


def test_password_never_shown(cluster_dir: Path) -> None:
    config = load_config(write(cluster_dir, good()))
    secret = config.raft.password
    assert len(secret) >= 16
    for text in (repr(config), str(config), repr(config.raft), str(config.raft)):
        assert secret not in text
    assert "password_file" in repr(config.raft)


# --- bad inputs -------------------------------------------------------------------------

Mutation = Callable[[Data], None]


def setting(path: str, value: object) -> Mutation:
    """Sets a dotted path (`peers.1.api`) in the config; `...` deletes it."""

    def mutate(data: Data) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        key: Any = int(last) if isinstance(target, list) else last
        if value is ...:
            del target[key]
        else:
            target[key] = value

    return mutate


BAD: list[tuple[str, Mutation, str]] = [
    # unknown keys, at every level
    ("unknown top-level", setting("nodee", {}), "nodee: unknown field (did you mean 'node'?)"),
    ("unknown in node", setting("node.name", "x"), "node.name: unknown field"),
    ("unknown in api", setting("api.port", 1), "api.port: unknown field"),
    ("unknown in tls", setting("tls.crt", "x"), "tls.crt: unknown field"),
    ("unknown in raft", setting("raft.timeout", 1), "raft.timeout: unknown field"),
    ("unknown in peer", setting("peers.1.host", "x"), "peers[1].host: unknown field"),
    ("unknown in seal", setting("seal.tipe", "file"), "seal.tipe: unknown field"),
    ("unknown in serving", setting("serving.lag", 1), "serving.lag: unknown field"),
    ("unknown in keys", setting("keys.max", 1), "keys.max: unknown field"),
    (
        "public metrics",
        setting("metrics", {"listen": "8.8.8.8:9101"}),
        "metrics.listen: must be a loopback or private address (plain HTTP), got 8.8.8.8",
    ),
    (
        "metrics host name",
        setting("metrics", {"listen": "example.com:9101"}),
        "metrics.listen: expected a literal loopback or private IP, got 'example.com'",
    ),
    (
        "bad log format",
        setting("logging.format", "xml"),
        "logging.format: expected one of text, json, got 'xml'",
    ),
    (
        "unknown in logging",
        setting("logging.fmt", "json"),
        "logging.fmt: unknown field (did you mean 'format'?)",
    ),
    # wrong types
    (
        "section not mapping",
        setting("api", "127.0.0.1:7001"),
        "api: expected a mapping, got string",
    ),
    ("id not string", setting("node.id", 7), "node.id: expected a string, got int"),
    ("peers not list", setting("peers", {"id": "node2"}), "peers: expected a list, got mapping"),
    ("peer not mapping", setting("peers.0", "node2"), "peers[0]: expected a mapping, got string"),
    (
        "float for int",
        setting("raft.log_compaction_min_entries", 10.5),
        "raft.log_compaction_min_entries: expected an integer, got float",
    ),
    (
        "string for number",
        setting("raft.connection_timeout_s", "1s"),
        "raft.connection_timeout_s: expected a number of seconds, got string",
    ),
    (
        "bool as int",
        setting("serving.max_lag_entries", True),
        "serving.max_lag_entries: expected an integer, got bool",
    ),
    (
        "bool as seconds",
        setting("raft.election_timeout_min_s", False),
        "raft.election_timeout_min_s: expected a number of seconds, got bool",
    ),
    ("null scalar", setting("api.listen", None), "api.listen: expected a string, got null"),
    # missing required
    ("missing section", setting("tls", ...), "tls: required section missing"),
    ("missing node.id", setting("node.id", ...), "node.id: required field missing"),
    ("missing data_dir", setting("node.data_dir", ...), "node.data_dir: required field missing"),
    ("missing raft.listen", setting("raft.listen", ...), "raft.listen: required field missing"),
    (
        "missing password_file",
        setting("raft.password_file", ...),
        "raft.password_file: required field missing",
    ),
    ("missing seal.type", setting("seal.type", ...), "seal.type: required field missing"),
    ("missing peer raft", setting("peers.0.raft", ...), "peers[0].raft: required field missing"),
    ("empty data_dir", setting("node.data_dir", ""), "node.data_dir: must not be empty"),
    # bad addresses
    (
        "peer api not host:port",
        setting("peers.1.api", "x"),
        "peers[1].api: expected host:port, got 'x'",
    ),
    ("port out of range", setting("api.listen", "127.0.0.1:70000"), "api.listen: port must be"),
    ("port not a number", setting("api.listen", "localhost:http"), "api.listen: port must be"),
    ("raft port 0", setting("raft.listen", "127.0.0.1:0"), "raft.listen: port must not be 0"),
    ("bare ipv6", setting("raft.listen", "::1:7101"), "raft.listen: expected host:port"),
    ("bad ipv4", setting("raft.listen", "300.1.1.1:7101"), "raft.listen: '300.1.1.1' is not"),
    ("bad ipv6", setting("raft.listen", "[zz::1]:7101"), "raft.listen: 'zz::1' is not"),
    ("bad host name", setting("peers.0.raft", "bad_host!:7102"), "peers[0].raft: 'bad_host!'"),
    ("no host", setting("api.listen", ":7001"), "api.listen: expected host:port"),
    # bad ids and values
    ("bad node id", setting("node.id", "Node_1"), "node.id: expected [a-z0-9]"),
    ("bad peer id", setting("peers.0.id", "-node2"), "peers[0].id: expected [a-z0-9]"),
    ("bad zone", setting("node.zone", "zone a"), "node.zone: expected letters"),
    ("bad seal type", setting("seal.type", "hsm"), "seal.type: expected one of shamir, file"),
    ("bad log level", setting("logging.level", "verbose"), "logging.level: expected one of"),
    (
        "zero timeout",
        setting("raft.connection_timeout_s", 0),
        "raft.connection_timeout_s: must be > 0",
    ),
    ("staleness 0", setting("serving.max_staleness_s", 0), "serving.max_staleness_s: must be > 0"),
    (
        "staleness within a heartbeat",
        setting("serving.max_staleness_s", 0.05),
        "serving.max_staleness_s: must be greater than raft.append_entries_period_s (0.05), "
        "got 0.05",
    ),
    (
        "staleness not a number",
        setting("serving.max_staleness_s", "1s"),
        "serving.max_staleness_s: expected a number of seconds, got string",
    ),
    (
        "negative int",
        setting("serving.max_lag_entries", -1),
        "serving.max_lag_entries: must be >= 0, got -1",
    ),
    (
        "negative processes",
        setting("serving.processes", -1),
        "serving.processes: must be 0..64, got -1",
    ),
    (
        "too many processes",
        setting("serving.processes", 65),
        "serving.processes: must be 0..64, got 65",
    ),
    (
        "processes not a number",
        setting("serving.processes", "many"),
        "serving.processes: expected an integer, got string",
    ),
    (
        "nan seconds",
        setting("raft.connection_retry_time_s", float("nan")),
        "raft.connection_retry_time_s: must be > 0",
    ),
    (
        "max <= min",
        setting("raft.election_timeout_max_s", 0.5),
        "raft.election_timeout_max_s: must be greater than election_timeout_min_s",
    ),
    (
        "heartbeat too slow",
        setting("raft.append_entries_period_s", 0.6),
        "raft.append_entries_period_s: must be less than election_timeout_min_s",
    ),
    (
        "min window 0",
        setting("keys.min_deletion_window_s", 0),
        "keys.min_deletion_window_s: must be 1..315360000, got 0",
    ),
    (
        "default < min",
        setting("keys.default_deletion_window_s", 59),
        "keys.default_deletion_window_s: must be >= min_deletion_window_s (60)",
    ),
    # seal
    (
        "shamir with key_file",
        setting("seal.type", "shamir"),
        "seal.key_file: not allowed with type shamir",
    ),
    (
        "file without key_file",
        setting("seal.key_file", ...),
        "seal.key_file: required field missing",
    ),
    # files
    ("missing tls file", setting("tls.cert", "/x/y.pem"), "tls.cert: file not found: /x/y.pem"),
    ("missing ca", setting("tls.ca", "certs/none.pem"), "tls.ca: file not found: "),
    ("tls is a dir", setting("tls.ca", "certs"), "tls.ca: not a regular file"),
    (
        "key does not match",
        setting("tls.key", "certs/node2-key.pem"),
        "tls.key: does not match the certificate",
    ),
    ("cert not pem", setting("tls.cert", PASSWORD_FILE), "tls.cert: not a PEM certificate"),
    (
        "missing password file",
        setting("raft.password_file", "secrets/none"),
        "raft.password_file: file not found",
    ),
    (
        "short password",
        setting("raft.password_file", "secrets/short"),
        "raft.password_file: the secret must be at least 16 characters",
    ),
    (
        "log dir missing",
        setting("logging.file", "nowhere/x.log"),
        "logging.file: directory not found",
    ),
    # cross-field
    (
        "duplicate peer id",
        setting("peers.1.id", "node2"),
        "peers[1].id: 'node2' is already used by peers[0].id",
    ),
    (
        "peer id is mine",
        setting("peers.0.id", "node1"),
        "peers[0].id: 'node1' is already used by node.id",
    ),
    (
        "peer raft is my raft",
        setting("peers.0.raft", "127.0.0.1:7101"),
        "peers[0].raft: '127.0.0.1:7101' is already used by raft.listen",
    ),
    (
        "api equals raft",
        setting("raft.listen", "127.0.0.1:7001"),
        "raft.listen: '127.0.0.1:7001' is already used by api.listen",
    ),
    (
        "same ipv6 spelled twice",
        setting("peers.1.raft", "[0::1]:7003"),
        "peers[1].raft: '[0::1]:7003' is already used by peers[1].api",
    ),
    (
        "same host any case",
        setting("peers.0.api", "KMS3.internal:7103"),
        "peers[1].raft: 'kms3.internal:7103' is already used by peers[0].api",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [(m, e) for _, m, e in BAD], ids=[name for name, _, _ in BAD]
)
def test_bad_config_is_one_line_naming_file_and_field(
    cluster_dir: Path, mutate: Mutation, expected: str
) -> None:
    data = copy.deepcopy(good())
    mutate(data)
    path = write(cluster_dir, data, "bad.yaml")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: "), message
    assert f"{path}: {expected}" in message, message
    assert "\n" not in message
    assert raised.value.field and message.startswith(f"{path}: {raised.value.field}: ")
    assert "Traceback" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("node: [unclosed", "line 1: invalid YAML: expected ',' or ']'"),
        ("node:\n  id: node1\n   zone: x\n", "line 3: invalid YAML: "),
        ("node: {id: a}\nnode: {id: b}\n", "line 2: invalid YAML: duplicate key 'node'"),
        ("- node\n- api\n", "expected a mapping at the top level, got list"),
        ("", "expected a mapping at the top level, got null"),
        ("just a string", "expected a mapping at the top level, got string"),
    ],
)
def test_bad_yaml_is_one_line(cluster_dir: Path, text: str, expected: str) -> None:
    path = cluster_dir / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: {expected}"), message
    assert "\n" not in message


def test_nonexistent_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "absent.yaml")
    assert str(raised.value) == f"{tmp_path / 'absent.yaml'}: file not found"


def test_config_path_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_cluster_secret_must_be_private(cluster_dir: Path) -> None:
    data = good()
    data["raft"]["password_file"] = "secrets/shared"
    expected = r"raft\.password_file: .* must have mode 0600 or 0400, has 0640"
    with pytest.raises(ConfigError, match=expected):
        load_config(write(cluster_dir, data, "shared.yaml"))


def test_short_password_is_not_echoed(cluster_dir: Path) -> None:
    data = good()
    data["raft"]["password_file"] = "secrets/short"
    with pytest.raises(ConfigError) as raised:
        load_config(write(cluster_dir, data, "short.yaml"))
    assert "too-short" not in str(raised.value)


def test_error_attributes(cluster_dir: Path) -> None:
    data = good()
    data["seal"]["tipe"] = "file"
    path = write(cluster_dir, data, "attrs.yaml")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    error = raised.value
    assert (error.source, error.field) == (str(path), "seal.tipe")
    assert error.message.startswith("unknown field")


# --- check_files=False: configs rendered before their files are delivered ------------------

FILE_ERRORS = {  # the cases of BAD that only the file checks catch
    "missing tls file",
    "missing ca",
    "tls is a dir",
    "key does not match",
    "cert not pem",
    "missing password file",
    "short password",
    "log dir missing",
}


def test_no_files_skips_only_the_file_checks(tmp_path: Path) -> None:
    """In an empty directory nothing the config names exists, and it still passes."""
    path = write(tmp_path, good())
    with pytest.raises(ConfigError, match=r"tls\.cert: file not found"):
        load_config(path)
    config = load_config(path, check_files=False)
    assert config.tls.cert == tmp_path / "certs/node1.pem"
    assert config.raft.password_file == tmp_path / PASSWORD_FILE
    assert config.raft.password == ""  # never read: such a config is not runnable
    assert not (tmp_path / "data").exists()
    assert parse_config(good(), "inline", base_dir=tmp_path, check_files=False) == (
        dataclasses.replace(config, source="inline")
    )


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [(m, e) for name, m, e in BAD if name not in FILE_ERRORS],
    ids=[name for name, _, _ in BAD if name not in FILE_ERRORS],
)
def test_no_files_still_checks_everything_else(
    tmp_path: Path, mutate: Mutation, expected: str
) -> None:
    data = copy.deepcopy(good())
    mutate(data)
    path = write(tmp_path, data, "bad.yaml")
    with pytest.raises(ConfigError) as raised:
        load_config(path, check_files=False)
    assert f"{path}: {expected}" in str(raised.value)


def test_file_errors_are_skipped(tmp_path: Path) -> None:
    """Each file-only problem passes without the file checks (and fails with them above)."""
    cases = [(name, mutate) for name, mutate, _ in BAD if name in FILE_ERRORS]
    assert len(cases) == len(FILE_ERRORS)
    for _, mutate in cases:
        data = copy.deepcopy(good())
        mutate(data)
        load_config(write(tmp_path, data, "skipped.yaml"), check_files=False)


def test_no_files_skips_the_audit_path_check(cluster_dir: Path) -> None:
    data = good()
    data["audit"] = {"file": {"path": "logs"}}  # a directory in cluster_dir
    path = write(cluster_dir, data, "audit-dir.yaml")
    with pytest.raises(ConfigError, match=r"audit\.file\.path: is a directory"):
        load_config(path)
    config = load_config(path, check_files=False)
    assert config.audit.file is not None and config.audit.file.path == cluster_dir / "logs"


# --- pkcs11 seal ---------------------------------------------------------------------


def _pkcs11_data(cluster_dir: Path, **seal: object) -> Data:
    pin = cluster_dir / "secrets" / "hsm-pin"
    if not pin.exists():
        pin.write_text(CONFIG_PIN + "\n")
    pin.chmod(0o600)
    data = good()
    data["seal"] = {
        "type": "pkcs11",
        "module": "/usr/lib/softhsm/libsofthsm2.so",
        "token_label": "node1",
        "key_label": "keymgr-root",
        "pin_file": "secrets/hsm-pin",
        **seal,
    }
    return data


def test_pkcs11_seal_loads(cluster_dir: Path) -> None:
    data = _pkcs11_data(
        cluster_dir,
        module_env={"SOFTHSM2_CONF": "/x/softhsm2.conf"},
        create_key=False,
        retry_max_s=10,
        health_interval_s=1,
    )
    config = load_config(write(cluster_dir, data, "hsm.yaml"))
    p = config.seal.pkcs11
    assert config.seal.type == "pkcs11" and p is not None and config.seal.key_file is None
    assert p.module == Path("/usr/lib/softhsm/libsofthsm2.so")
    assert (p.token_label, p.key_label, p.create_key) == ("node1", "keymgr-root", False)
    assert p.pin_file == cluster_dir / "secrets" / "hsm-pin" and p.pin_env is None
    assert p.module_env == (("SOFTHSM2_CONF", "/x/softhsm2.conf"),)
    assert (p.retry_min_s, p.retry_max_s, p.health_interval_s) == (0.5, 10.0, 1.0)
    assert CONFIG_PIN not in repr(config)


@pytest.mark.parametrize(
    ("seal", "field", "message"),
    [
        ({"pin": CONFIG_PIN}, "seal.pin", "never put the PIN in the config"),
        ({"pin_env": "HSM_PIN"}, "seal.pin_file", "set exactly one of pin_env and pin_file"),
        ({"pin_file": None, "pin_env": "1X"}, "seal.pin_env", "not an environment variable"),
        ({"module": "libsofthsm2.so"}, "seal.module", "must be an absolute path"),
        ({"token_label": ""}, "seal.token_label", "must not be empty"),
        ({"key_label": 3}, "seal.key_label", "expected a string, got int"),
        ({"key_file": "x"}, "seal.key_file", "not allowed with type pkcs11"),
        ({"module_env": ["A"]}, "seal.module_env", "expected a mapping"),
        ({"retry_min_s": 5, "retry_max_s": 1}, "seal.retry_max_s", "must be >= retry_min_s"),
        ({"create_key": "yes"}, "seal.create_key", "expected true or false"),
    ],
)
def test_pkcs11_seal_errors(
    cluster_dir: Path, seal: dict[str, object], field: str, message: str
) -> None:
    data = _pkcs11_data(cluster_dir, **seal)
    if data["seal"].get("pin_file") is None:
        data["seal"].pop("pin_file")
    path = write(cluster_dir, data, "bad-hsm.yaml")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert raised.value.field == field and message in str(raised.value)
    assert CONFIG_PIN not in str(raised.value) and "\n" not in str(raised.value)


def test_pkcs11_pin_file_must_be_private(cluster_dir: Path) -> None:
    data = _pkcs11_data(cluster_dir)
    (cluster_dir / "secrets" / "hsm-pin").chmod(0o644)
    try:
        with pytest.raises(ConfigError, match=r"seal\.pin_file: .* must have mode 0600 or 0400"):
            load_config(write(cluster_dir, data, "hsm-mode.yaml"))
    finally:
        (cluster_dir / "secrets" / "hsm-pin").chmod(0o600)


def test_pkcs11_fields_need_type_pkcs11(cluster_dir: Path) -> None:
    data = good()
    data["seal"]["token_label"] = "x"
    with pytest.raises(ConfigError, match=r"seal\.token_label: not allowed with type file"):
        load_config(write(cluster_dir, data, "file-hsm.yaml"))
