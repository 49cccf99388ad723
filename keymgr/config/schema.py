"""The typed node config: immutable dataclasses, their defaults and the value sets.

Defaults live here once: the loader reads a missing field's default from the dataclass.
Nothing here reads a file or validates; `keymgr.config.loader` builds these objects.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from keymgr import naming

SealType = Literal["shamir", "file", "pkcs11"]
LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["text", "json"]
LOG_FORMATS: Final[tuple[LogFormat, ...]] = ("text", "json")

SEAL_TYPES: Final[tuple[SealType, ...]] = naming.SEAL_TYPES
PKCS11_FIELDS: Final = (
    "module",
    "token_label",
    "key_label",
    "pin_env",
    "pin_file",
    "create_key",
    "module_env",
    "timeout_s",
    "health_interval_s",
    "retry_min_s",
    "retry_max_s",
)
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LOG_LEVELS: Final[tuple[LogLevel, ...]] = ("debug", "info", "warning", "error")
SyslogProtocol = Literal["udp", "tcp"]
SYSLOG_PROTOCOLS: Final[tuple[SyslogProtocol, ...]] = ("udp", "tcp")
SYSLOG_FACILITIES: Final[tuple[str, ...]] = (
    "auth",
    "authpriv",
    "daemon",
    "security",
    "user",
    *(f"local{i}" for i in range(8)),
)
MIN_AUDIT_FILE_BYTES: Final = 64 * 1024  # smaller would rotate every few lines
MIN_PASSWORD_CHARS: Final = 16
MAX_DELETION_WINDOW_S: Final = 10 * 365 * 86400  # the API refuses longer windows too

ZONE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeSection:
    """Who this node is. `data_dir` is created by the server (0700), not by the loader."""

    id: str
    zone: str = ""
    data_dir: Path


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiConfig:
    """The mTLS gRPC listener (`host:port`; port 0 lets the OS pick)."""

    listen: str
    reflection: bool = False  # gRPC server reflection; off: it maps the API for anyone


@dataclass(frozen=True, kw_only=True, slots=True)
class MetricsConfig:
    """Prometheus endpoint (plain HTTP): bind it to loopback or a private address only.

    `listen=None` (the default) serves no metrics.
    """

    listen: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class TlsConfig:
    """This node's certificate and key (server and client) and the cluster CA."""

    cert: Path
    key: Path
    ca: Path


@dataclass(frozen=True, kw_only=True, slots=True)
class RaftConfig:
    """Consensus transport and timing; `password` is read from `password_file`.

    The password authenticates and encrypts Raft traffic, so it is kept out of repr.
    """

    listen: str
    password_file: Path
    password: str = field(repr=False)
    election_timeout_min_s: float = 0.15
    election_timeout_max_s: float = 0.3
    append_entries_period_s: float = 0.04
    connection_timeout_s: float = 0.6
    connection_retry_time_s: float = 0.2
    log_compaction_min_entries: int = 5000
    # Fault injection and tests only: (peer raft address, address dialled instead), so a
    # test proxy can sit on a Raft link while the peer keeps its identity.
    dial_overrides: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Member:
    """One cluster member's addresses; `NodeConfig.members()` lists self and peers."""

    id: str
    api: str
    raft: str
    zone: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class SealConfig:
    """How this node protects its copy of the root key.

    `key_file` is set exactly when `type == "file"`; the file seal creates it on first use.
    `pkcs11` is set exactly when `type == "pkcs11"`.
    """

    type: SealType
    key_file: Path | None = None
    pkcs11: Pkcs11Config | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Pkcs11Config:
    """An HSM seal. The PIN comes from `pin_env` or `pin_file` (0600/0400), never the YAML.

    `module` may be missing at start (the node stays sealed and retries), so it is only
    checked to be absolute. `module_env` is set before the module loads (e.g.
    SOFTHSM2_CONF). `health_interval_s`: how often an unsealed node checks its HSM;
    `retry_min_s`..`retry_max_s`: backoff while the HSM is unavailable.
    """

    module: Path
    token_label: str
    key_label: str
    pin_env: str | None = None
    pin_file: Path | None = None
    create_key: bool = True
    module_env: tuple[tuple[str, str], ...] = ()
    timeout_s: float = 10.0
    health_interval_s: float = 5.0
    retry_min_s: float = 0.5
    retry_max_s: float = 30.0


MAX_PROCESSES = 64


def default_processes() -> int:
    """One serving process per core this process may run on (at most MAX_PROCESSES)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_PROCESSES))


@dataclass(frozen=True, kw_only=True, slots=True)
class ServingConfig:
    """When a node stops serving reads and crypto calls (fail closed, the client moves on).

    `max_staleness_s` bounds how old the applied state may be (see docs/architecture.md,
    "Consistency model"); `max_leader_silence_s` is the older, looser contact bound.
    """

    max_leader_silence_s: float = 3.0
    max_staleness_s: float = 1.0
    max_lag_entries: int = 1000
    # serving processes on the API port: the Raft process and `processes - 1` workers
    # (docs/architecture.md, "Worker processes"); 0 in the file means one per core
    processes: int = field(default_factory=default_processes)


@dataclass(frozen=True, kw_only=True, slots=True)
class KeysConfig:
    """Bounds on ScheduleKeyDeletion's waiting period and on rotation periods, in seconds."""

    min_deletion_window_s: int = 7 * 86400
    default_deletion_window_s: int = 30 * 86400
    min_rotation_period_s: int = 3600


@dataclass(frozen=True, kw_only=True, slots=True)
class LoggingConfig:
    """Log level, destination (`file=None` means stderr) and format (json for shippers)."""

    level: LogLevel = "info"
    file: Path | None = None
    format: LogFormat = "text"


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditFileConfig:
    """The audit file and its rotation (`<path>.1` .. `<path>.<keep>`).

    `path` defaults to `<data_dir>/audit/audit.log`; `fsync` makes every line durable
    before the request is answered, at a cost in throughput.
    """

    path: Path
    max_bytes: int = 100 * 1024 * 1024
    keep: int = 10
    fsync: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditSyslogConfig:
    """An RFC 5424 syslog copy for a SIEM. `required`: refuse requests it cannot take."""

    address: str
    protocol: SyslogProtocol = "udp"
    facility: str = "authpriv"
    required: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditConfig:
    """Audit sinks. With neither set, the file sink writes `<data_dir>/audit/audit.log`."""

    file: AuditFileConfig | None = None
    syslog: AuditSyslogConfig | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeConfig:
    """A node's whole config, validated; `source` is the file it came from."""

    source: str
    node: NodeSection
    api: ApiConfig
    tls: TlsConfig
    raft: RaftConfig
    peers: tuple[Member, ...] = ()
    seal: SealConfig
    serving: ServingConfig = ServingConfig()
    keys: KeysConfig = KeysConfig()
    logging: LoggingConfig = LoggingConfig()
    audit: AuditConfig = AuditConfig()
    metrics: MetricsConfig = MetricsConfig()

    def self_member(self) -> Member:
        """This node as a `Member` (its listen addresses as the others see them)."""
        return Member(
            id=self.node.id, api=self.api.listen, raft=self.raft.listen, zone=self.node.zone
        )

    def members(self) -> tuple[Member, ...]:
        """Every member of the cluster: this node first, then the peers in config order."""
        return (self.self_member(), *self.peers)

    def member(self, member_id: str) -> Member | None:
        """The member with this id, or None."""
        return next((m for m in self.members() if m.id == member_id), None)


# --- reading ----------------------------------------------------------------------------
