"""The `audit:` config section: defaults, typed values, one-line errors; and the log
the node builds from it."""

from __future__ import annotations

import copy
import json
import socket
from pathlib import Path

import pytest

from keymgr.audit import FileSink, SyslogSink, build_audit_log
from keymgr.audit.record import AuditEvent
from keymgr.config import (
    AuditConfig,
    AuditFileConfig,
    AuditSyslogConfig,
    ConfigError,
    load_config,
)
from tests.unit.test_config import Mutation, cluster_dir, good, setting, write

__all__ = ["cluster_dir"]  # the fixture, shared with test_config


def test_no_audit_section_writes_the_default_file(cluster_dir: Path) -> None:
    config = load_config(write(cluster_dir, good()))
    assert config.audit == AuditConfig(
        file=AuditFileConfig(path=cluster_dir / "data" / "node1" / "audit" / "audit.log")
    )
    assert config.audit.file is not None
    assert config.audit.file.max_bytes == 100 * 1024 * 1024
    assert (config.audit.file.keep, config.audit.file.fsync) == (10, False)


def test_empty_sections_mean_defaults(cluster_dir: Path) -> None:
    data = good()
    data["audit"] = None
    assert load_config(write(cluster_dir, data)).audit.file is not None
    data["audit"] = {"file": None}
    config = load_config(write(cluster_dir, data))
    assert config.audit.file == AuditFileConfig(
        path=cluster_dir / "data" / "node1" / "audit" / "audit.log"
    )


def test_full_audit_section(cluster_dir: Path) -> None:
    data = good()
    data["audit"] = {
        "file": {"path": "logs/audit.log", "max_bytes": 1048576, "keep": 3, "fsync": True},
        "syslog": {
            "address": "siem.internal:6514",
            "protocol": "tcp",
            "facility": "local4",
            "required": False,
        },
    }
    config = load_config(write(cluster_dir, data))
    assert config.audit == AuditConfig(
        file=AuditFileConfig(
            path=cluster_dir / "logs" / "audit.log", max_bytes=1048576, keep=3, fsync=True
        ),
        syslog=AuditSyslogConfig(
            address="siem.internal:6514", protocol="tcp", facility="local4", required=False
        ),
    )


def test_syslog_only_means_no_file(cluster_dir: Path) -> None:
    data = good()
    data["audit"] = {"syslog": {"address": "127.0.0.1:514"}}
    config = load_config(write(cluster_dir, data))
    assert config.audit == AuditConfig(file=None, syslog=AuditSyslogConfig(address="127.0.0.1:514"))
    assert config.audit.syslog is not None
    assert (config.audit.syslog.protocol, config.audit.syslog.facility) == ("udp", "authpriv")
    assert config.audit.syslog.required is True


BAD: list[tuple[str, Mutation, str]] = [
    (
        "unknown in audit",
        setting("audit", {"files": {}}),
        "audit.files: unknown field (did you mean 'file'?)",
    ),
    ("unknown in file", setting("audit", {"file": {"size": 1}}), "audit.file.size: unknown field"),
    (
        "unknown in syslog",
        setting("audit", {"syslog": {"address": "h:1", "port": 1}}),
        "audit.syslog.port: unknown field",
    ),
    (
        "file not mapping",
        setting("audit", {"file": "audit.log"}),
        "audit.file: expected a mapping, got string",
    ),
    (
        "path is a dir",
        setting("audit", {"file": {"path": "logs"}}),
        "audit.file.path: is a directory, not a file",
    ),
    ("empty path", setting("audit", {"file": {"path": ""}}), "audit.file.path: must not be empty"),
    (
        "max_bytes small",
        setting("audit", {"file": {"max_bytes": 100}}),
        "audit.file.max_bytes: must be >= 65536, got 100",
    ),
    (
        "max_bytes string",
        setting("audit", {"file": {"max_bytes": "100MiB"}}),
        "audit.file.max_bytes: expected an integer, got string",
    ),
    ("keep 0", setting("audit", {"file": {"keep": 0}}), "audit.file.keep: must be 1..1000, got 0"),
    (
        "fsync string",
        setting("audit", {"file": {"fsync": "yes"}}),
        "audit.file.fsync: expected true or false, got string",
    ),
    (
        "fsync int",
        setting("audit", {"file": {"fsync": 1}}),
        "audit.file.fsync: expected true or false, got int",
    ),
    (
        "syslog no address",
        setting("audit", {"syslog": {"protocol": "udp"}}),
        "audit.syslog.address: required field missing",
    ),
    (
        "syslog bad address",
        setting("audit", {"syslog": {"address": "siem"}}),
        "audit.syslog.address: expected host:port, got 'siem'",
    ),
    (
        "syslog port 0",
        setting("audit", {"syslog": {"address": "siem:0"}}),
        "audit.syslog.address: port must not be 0",
    ),
    (
        "syslog protocol",
        setting("audit", {"syslog": {"address": "h:1", "protocol": "tls"}}),
        "audit.syslog.protocol: expected one of udp, tcp, got 'tls'",
    ),
    (
        "syslog facility",
        setting("audit", {"syslog": {"address": "h:1", "facility": "mail"}}),
        "audit.syslog.facility: expected one of auth, authpriv,",
    ),
    (
        "syslog required",
        setting("audit", {"syslog": {"address": "h:1", "required": "no"}}),
        "audit.syslog.required: expected true or false, got string",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [(m, e) for _, m, e in BAD], ids=[name for name, _, _ in BAD]
)
def test_bad_audit_config_is_one_line_naming_file_and_field(
    cluster_dir: Path, mutate: Mutation, expected: str
) -> None:
    data = copy.deepcopy(good())
    mutate(data)
    path = write(cluster_dir, data, "bad-audit.yaml")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert f"{path}: {expected}" in message, message
    assert "\n" not in message


def test_build_audit_log_from_config(cluster_dir: Path, tmp_path: Path) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    data = good()
    data["node"]["data_dir"] = str(tmp_path / "data")
    data["audit"] = {"syslog": {"address": f"127.0.0.1:{receiver.getsockname()[1]}"}, "file": None}
    config = load_config(write(cluster_dir, data, "built.yaml"))
    log = build_audit_log(config, lambda: None)
    assert [type(s) for s in log._sinks] == [FileSink, SyslogSink]
    log.log(AuditEvent(principal="p", operation="Encrypt", result="OK", latency_ms=1))
    log.close()
    line = (tmp_path / "data" / "audit" / "audit.log").read_text()
    assert json.loads(line)["node"] == "node1"
    assert receiver.recv(65535).endswith(line.strip().encode())
    receiver.close()
