"""A node's YAML config, read into typed, validated, immutable objects.

Three modules: `schema` (the dataclasses and their defaults), `reader` (a generic typed
reader whose errors name the field), `loader` (YAML, each section, member checks).

The whole file is checked before the node binds a port or touches its data dir, so a
typo fails at once with one line that names the file and the field, e.g.

    node.yaml: peers[1].api: expected host:port, got 'x'
    node.yaml: seal.tipe: unknown field (did you mean 'type'?)
    node.yaml: tls.cert: file not found: /etc/keymgr/node1.pem

Strict on purpose: unknown keys, wrong types (a YAML bool is not a number), missing
required fields and out-of-range values are all errors, never silently defaulted.
Relative paths are relative to the directory of the YAML file. An empty section
(`logging:` with everything commented out) means "all defaults".

Example (only the required fields; see the dataclasses for the defaults):

    node: {id: node1, data_dir: ./data/node1}
    api: {listen: 127.0.0.1:7001}
    tls: {cert: certs/node1.pem, key: certs/node1-key.pem, ca: certs/ca.pem}
    raft: {listen: 127.0.0.1:7101, password_file: secrets/cluster-secret}
    seal: {type: file, key_file: secrets/node1-seal.key}
"""

from keymgr.config.loader import load_config, parse_config
from keymgr.config.reader import ConfigError
from keymgr.config.schema import (
    ApiConfig,
    AuditConfig,
    AuditFileConfig,
    AuditSyslogConfig,
    KeysConfig,
    LogFormat,
    LoggingConfig,
    LogLevel,
    Member,
    MetricsConfig,
    NodeConfig,
    NodeSection,
    Pkcs11Config,
    RaftConfig,
    SealConfig,
    SealType,
    ServingConfig,
    TlsConfig,
)

__all__ = [
    "ApiConfig",
    "AuditConfig",
    "AuditFileConfig",
    "AuditSyslogConfig",
    "ConfigError",
    "KeysConfig",
    "LogFormat",
    "LogLevel",
    "LoggingConfig",
    "Member",
    "MetricsConfig",
    "NodeConfig",
    "NodeSection",
    "Pkcs11Config",
    "RaftConfig",
    "SealConfig",
    "SealType",
    "ServingConfig",
    "TlsConfig",
    "load_config",
    "parse_config",
]
