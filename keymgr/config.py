"""A node's YAML config, read into typed, validated, immutable objects.

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

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, NoReturn, TypeVar, cast

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from keymgr import naming
from keymgr.naming import DNS_LABEL, NODE_ID
from keymgr.private_files import check_private_file

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

SealType = Literal["shamir", "file", "pkcs11"]
LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["text", "json"]
LOG_FORMATS: Final[tuple[LogFormat, ...]] = ("text", "json")

SEAL_TYPES: Final[tuple[SealType, ...]] = naming.SEAL_TYPES
_PKCS11_FIELDS: Final = (
    "module", "token_label", "key_label", "pin_env", "pin_file", "create_key", "module_env",
    "timeout_s", "health_interval_s", "retry_min_s", "retry_max_s",
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LOG_LEVELS: Final[tuple[LogLevel, ...]] = ("debug", "info", "warning", "error")
SyslogProtocol = Literal["udp", "tcp"]
SYSLOG_PROTOCOLS: Final[tuple[SyslogProtocol, ...]] = ("udp", "tcp")
SYSLOG_FACILITIES: Final[tuple[str, ...]] = (
    "auth", "authpriv", "daemon", "security", "user", *(f"local{i}" for i in range(8)),
)
MIN_AUDIT_FILE_BYTES: Final = 64 * 1024  # smaller would rotate every few lines
MIN_PASSWORD_CHARS: Final = 16
MAX_DELETION_WINDOW_S: Final = 10 * 365 * 86400  # the API refuses longer windows too
_MAX_SECONDS: Final = 3600.0  # no timing knob makes sense beyond an hour

_ZONE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


class ConfigError(Exception):
    """A bad config: `str()` is one line, `<source>: [<field>: ]<message>`.

    `source` is the file as the user named it; `field` is a dotted path such as
    `peers[1].api`, or "" when the problem is the file itself.
    """

    def __init__(self, source: str, message: str, *, field: str = "") -> None:
        self.source = source
        self.field = field
        self.message = " ".join(message.split())  # one line, whatever YAML said
        super().__init__(self.source, self.field, self.message)

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{self.source}: {where}{self.message}"


# --- the typed config -----------------------------------------------------------------


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
        return Member(id=self.node.id, api=self.api.listen, raft=self.raft.listen,
                      zone=self.node.zone)

    def members(self) -> tuple[Member, ...]:
        """Every member of the cluster: this node first, then the peers in config order."""
        return (self.self_member(), *self.peers)

    def member(self, member_id: str) -> Member | None:
        """The member with this id, or None."""
        return next((m for m in self.members() if m.id == member_id), None)


# --- reading ----------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key given twice (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[object, object]:
    loader.flatten_mapping(node)
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return cast(dict[object, object], loader.construct_mapping(node))


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def load_config(path: Path, *, check_files: bool = True) -> NodeConfig:
    """Reads and validates the node config at `path`; raises ConfigError.

    `check_files=False` is for configs rendered before their files exist (a cloud
    image gets its TLS material and secret at boot): see `parse_config`.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, "file not found") from None
    except IsADirectoryError:
        raise ConfigError(source, "is a directory, not a file") from None
    except UnicodeDecodeError:
        raise ConfigError(source, "not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(source, f"cannot read: {exc.strerror or exc}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        what = exc.problem or exc.context or "syntax error"
        raise ConfigError(source, f"{where}invalid YAML: {what}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, f"invalid YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(source, f"expected a mapping at the top level, got {_kind(data)}")
    base_dir = Path(os.path.abspath(path)).parent
    return parse_config(data, source, base_dir=base_dir, check_files=check_files)


def parse_config(data: Mapping[str, object], source: str, *,
                 base_dir: Path | None = None, check_files: bool = True) -> NodeConfig:
    """Validates an already-parsed config (e.g. one embedded in the dev launcher).

    Relative paths are resolved against `base_dir` (default: the working directory).
    Files named by the config (TLS, password, the log file's directory) must exist:
    they are read here. With `check_files=False` they are not touched and
    `raft.password` is "": such a config is for `keymgr config check --no-files`
    only, never for running a node.
    """
    reader = _Reader(source=source, base_dir=base_dir or Path.cwd(), check_files=check_files)
    return reader.node_config(data)


# --- validation ---------------------------------------------------------------------------

_MISSING: Final = object()  # "key absent", as distinct from an explicit null
T = TypeVar("T")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _parse_address(text: str, *, allow_port_zero: bool) -> tuple[str, int]:
    """Splits `host:port` (IPv4, [IPv6] or a DNS name); ValueError says what is wrong."""
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ValueError("expected host:port")
        try:
            host = str(ipaddress.IPv6Address(host))
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            raise ValueError("expected host:port")
        if ":" in host:
            raise ValueError("expected host:port (write IPv6 addresses as [addr]:port)")
        if re.fullmatch(r"[0-9.]+", host):
            try:
                host = str(ipaddress.IPv4Address(host))
            except ValueError:
                raise ValueError(f"{host!r} is not an IPv4 address") from None
        elif len(host) > 253 or not all(
            DNS_LABEL.fullmatch(label) for label in host.rstrip(".").split(".")
        ):
            raise ValueError(f"{host!r} is not a valid host name")
        host = host.lower()
    if not re.fullmatch(r"[0-9]{1,5}", port_text) or int(port_text) > 65535:
        raise ValueError(f"port must be 0..65535, got {port_text!r}")
    port = int(port_text)
    if port == 0 and not allow_port_zero:
        raise ValueError("port must not be 0 (other members must be able to reach it)")
    return host, port


class _Section:
    """One YAML mapping being read: typed getters that name the field on any error."""

    def __init__(self, reader: _Reader, path: str, value: object, known: tuple[str, ...]
                 ) -> None:
        self._reader = reader
        self.path = path
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            reader.fail(path, f"expected a mapping, got {_kind(value)}")
        for key in value:
            if not isinstance(key, str) or key not in known:
                hint = difflib.get_close_matches(str(key), known, n=1)
                suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
                reader.fail(self.field(str(key)), f"unknown field{suffix}")
        self._data: Mapping[str, object] = value

    def field(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, message: str) -> NoReturn:
        self._reader.fail(self.field(key), message)

    def raw(self, key: str, *, required: bool) -> object:
        value = self._data.get(key, _MISSING)
        if value is _MISSING and required:
            self.fail(key, "required field missing")
        return value

    def _typed(self, key: str, default: object, check: Callable[[object], bool], what: str
               ) -> object:
        value = self.raw(key, required=default is _MISSING)
        if value is _MISSING:
            return default
        if not check(value):
            self.fail(key, f"expected {what}, got {_kind(value)}")
        return value

    def string(self, key: str, *, default: str | object = _MISSING, empty_ok: bool = False
               ) -> str:
        value = cast(str, self._typed(key, default, lambda v: isinstance(v, str), "a string"))
        if not value and not empty_ok:
            self.fail(key, "must not be empty")
        return value

    def integer(self, key: str, *, default: int | object = _MISSING, minimum: int,
                maximum: int | None = None) -> int:
        value = cast(int, self._typed(
            key, default, lambda v: isinstance(v, int) and not isinstance(v, bool),
            "an integer",
        ))
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
            self.fail(key, f"must be {bound}, got {value}")
        return value

    def boolean(self, key: str, *, default: bool | object = _MISSING) -> bool:
        return cast(bool, self._typed(key, default, lambda v: isinstance(v, bool),
                                      "true or false"))

    def seconds(self, key: str, *, default: float | object = _MISSING) -> float:
        value = self._typed(
            key, default, lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            "a number of seconds",
        )
        number = float(cast(float, value))
        if not math.isfinite(number) or number <= 0 or number > _MAX_SECONDS:
            self.fail(key, f"must be > 0 and <= {_MAX_SECONDS:g}, got {_show(value)}")
        return number

    def choice(self, key: str, options: tuple[T, ...], *, default: T | object = _MISSING) -> T:
        value = self._typed(key, default, lambda v: isinstance(v, str), "a string")
        if value not in options:
            listed = ", ".join(str(o) for o in options)
            self.fail(key, f"expected one of {listed}, got {_show(value)}")
        return next(option for option in options if option == value)

    def path_(self, key: str) -> Path:
        return self._reader.resolve(self.string(key))

    def optional_path(self, key: str) -> Path | None:
        if self._data.get(key) is None:
            return None
        return self.path_(key)

    def address(self, key: str, *, allow_port_zero: bool = False) -> str:
        text = self.string(key)
        try:
            _parse_address(text, allow_port_zero=allow_port_zero)
        except ValueError as exc:
            reason = str(exc)
            if reason.startswith("expected host:port"):
                self.fail(key, f"{reason}, got {_show(text)}")
            self.fail(key, f"{reason} in {_show(text)}")
        return text

    def has(self, key: str) -> bool:
        return key in self._data


@dataclass(frozen=True, kw_only=True, slots=True)
class _Reader:
    """Turns the parsed YAML into a NodeConfig, failing on the first bad field."""

    source: str
    base_dir: Path
    check_files: bool = True

    def fail(self, field_path: str, message: str) -> NoReturn:
        raise ConfigError(self.source, message, field=field_path)

    def resolve(self, text: str) -> Path:
        path = Path(text)
        return path if path.is_absolute() else self.base_dir / path

    def section(self, data: _Section, key: str, known: tuple[str, ...], *,
                required: bool = True) -> _Section:
        value = data.raw(key, required=False)
        if value is _MISSING:
            if required:
                self.fail(key, "required section missing")
            value = None
        return _Section(self, key, value, known)

    def node_config(self, data: Mapping[str, object]) -> NodeConfig:
        top = _Section(self, "", data, (
            "node", "api", "tls", "raft", "peers", "seal", "serving", "keys", "logging",
            "audit", "metrics",
        ))
        node = self.node_section(self.section(top, "node", ("id", "zone", "data_dir")))
        api_section = self.section(top, "api", ("listen", "reflection"))
        api = ApiConfig(
            listen=api_section.address("listen", allow_port_zero=True),
            reflection=api_section.boolean("reflection", default=False),
        )
        tls = self.tls(self.section(top, "tls", ("cert", "key", "ca")))
        raft = self.raft(self.section(top, "raft", (
            "listen", "password_file", "election_timeout_min_s", "election_timeout_max_s",
            "append_entries_period_s", "connection_timeout_s", "connection_retry_time_s",
            "log_compaction_min_entries", "dial_overrides",
        )))
        peers = self.peers(top.raw("peers", required=False))
        seal = self.seal(self.section(top, "seal", ("type", "key_file", "pin", *_PKCS11_FIELDS)))
        serving = self.serving(
            self.section(
                top,
                "serving",
                ("max_leader_silence_s", "max_staleness_s", "max_lag_entries", "processes"),
                required=False,
            ),
            raft,
        )
        keys = self.keys(self.section(
            top, "keys",
            ("min_deletion_window_s", "default_deletion_window_s", "min_rotation_period_s"),
            required=False,
        ))
        logging = self.logging(
            self.section(top, "logging", ("level", "file", "format"), required=False))
        metrics = self.metrics(self.section(top, "metrics", ("listen",), required=False))
        audit = self.audit(self.section(top, "audit", ("file", "syslog"), required=False),
                           node)
        config = NodeConfig(
            source=self.source, node=node, api=api, tls=tls, raft=raft, peers=peers,
            seal=seal, serving=serving, keys=keys, logging=logging, audit=audit,
            metrics=metrics,
        )
        self.check_members(config)
        return config

    def node_section(self, s: _Section) -> NodeSection:
        node_id = s.string("id")
        if not NODE_ID.fullmatch(node_id):
            s.fail("id", f"expected [a-z0-9][a-z0-9-]{{0,62}}, got {_show(node_id)}")
        return NodeSection(id=node_id, zone=self.zone(s), data_dir=s.path_("data_dir"))

    def zone(self, s: _Section) -> str:
        zone = s.string("zone", default="", empty_ok=True)
        if zone and not _ZONE.fullmatch(zone):
            s.fail("zone", f"expected letters, digits, '.', '_' or '-', got {_show(zone)}")
        return zone

    def tls(self, s: _Section) -> TlsConfig:
        if not self.check_files:
            return TlsConfig(cert=s.path_("cert"), key=s.path_("key"), ca=s.path_("ca"))
        cert, key, ca = (self.existing_file(s, name) for name in ("cert", "key", "ca"))
        cert_data, key_data, ca_data = (p.read_bytes() for p in (cert, key, ca))
        # Checked here so that a wrong file fails now with a field name, not later
        # inside gRPC's TLS handshake with an opaque error.
        try:
            certificate = x509.load_pem_x509_certificates(cert_data)[0]
        except ValueError:
            s.fail("cert", f"not a PEM certificate: {cert}")
        try:
            x509.load_pem_x509_certificates(ca_data)
        except ValueError:
            s.fail("ca", f"not a PEM certificate: {ca}")
        try:
            private_key = serialization.load_pem_private_key(key_data, password=None)
        except (ValueError, TypeError):
            s.fail("key", f"not an unencrypted PEM private key: {key}")
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        der = serialization.Encoding.DER
        if private_key.public_key().public_bytes(der, spki) != (
            certificate.public_key().public_bytes(der, spki)
        ):
            s.fail("key", f"does not match the certificate in tls.cert: {key}")
        return TlsConfig(cert=cert, key=key, ca=ca)

    def existing_file(self, s: _Section, key: str) -> Path:
        path = s.path_(key)
        if not path.exists():
            s.fail(key, f"file not found: {path}")
        if not path.is_file():
            s.fail(key, f"not a regular file: {path}")
        if not os.access(path, os.R_OK):
            s.fail(key, f"not readable: {path}")
        return path

    def raft(self, s: _Section) -> RaftConfig:
        listen = s.address("listen")
        password_file, password = self.password(s)
        d = RaftConfig.__dataclass_fields__  # defaults live in one place: the dataclass
        min_s = s.seconds("election_timeout_min_s", default=d["election_timeout_min_s"].default)
        max_s = s.seconds("election_timeout_max_s", default=d["election_timeout_max_s"].default)
        if max_s <= min_s:
            s.fail("election_timeout_max_s",
                   f"must be greater than election_timeout_min_s ({min_s:g}), got {max_s:g}")
        period = s.seconds("append_entries_period_s",
                           default=d["append_entries_period_s"].default)
        if period >= min_s:
            s.fail("append_entries_period_s", "must be less than election_timeout_min_s "
                   f"({min_s:g}), or followers start elections, got {period:g}")
        return RaftConfig(
            listen=listen,
            password_file=password_file,
            password=password,
            election_timeout_min_s=min_s,
            election_timeout_max_s=max_s,
            append_entries_period_s=period,
            connection_timeout_s=s.seconds(
                "connection_timeout_s", default=d["connection_timeout_s"].default),
            connection_retry_time_s=s.seconds(
                "connection_retry_time_s", default=d["connection_retry_time_s"].default),
            log_compaction_min_entries=s.integer(
                "log_compaction_min_entries",
                default=d["log_compaction_min_entries"].default, minimum=1),
            dial_overrides=self.dial_overrides(s),
        )

    def dial_overrides(self, s: _Section) -> tuple[tuple[str, str], ...]:
        """`{peer raft address: address to dial}`: a test proxy on a Raft link."""
        value = s.raw("dial_overrides", required=False)
        if value is _MISSING or value is None:
            return ()
        if not isinstance(value, Mapping):
            s.fail("dial_overrides", f"expected a mapping of peer raft address to address, "
                   f"got {_kind(value)}")
        pairs = []
        for peer, target in value.items():
            for text in (peer, target):
                if not isinstance(text, str):
                    s.fail("dial_overrides", f"expected 'host:port' strings, got {_kind(text)}")
                try:
                    _parse_address(text, allow_port_zero=False)
                except ValueError as exc:
                    s.fail("dial_overrides", f"{exc} in {_show(text)}")
            pairs.append((peer, target))
        return tuple(pairs)

    def password(self, s: _Section) -> tuple[Path, str]:
        """The cluster secret's file and its content ("" when files are not checked)."""
        if not self.check_files:
            return s.path_("password_file"), ""
        password_file = self.existing_file(s, "password_file")
        problem = check_private_file(password_file)
        if problem:
            s.fail("password_file", problem)
        try:
            password = password_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            s.fail("password_file", f"cannot read as UTF-8 text: {password_file}")
        if len(password) < MIN_PASSWORD_CHARS:
            s.fail("password_file", f"the secret must be at least {MIN_PASSWORD_CHARS} "
                   f"characters (make one with `keymgr pki secret`): {password_file}")
        return password_file, password

    def peers(self, value: object) -> tuple[Member, ...]:
        if value is _MISSING or value is None:
            return ()
        if not isinstance(value, list):
            self.fail("peers", f"expected a list, got {_kind(value)}")
        members = []
        for index, item in enumerate(value):
            s = _Section(self, f"peers[{index}]", item, ("id", "api", "raft", "zone"))
            if item is None:
                self.fail(s.path, "expected a mapping, got null")
            peer_id = s.string("id")
            if not NODE_ID.fullmatch(peer_id):
                s.fail("id", f"expected [a-z0-9][a-z0-9-]{{0,62}}, got {_show(peer_id)}")
            members.append(Member(id=peer_id, api=s.address("api"), raft=s.address("raft"),
                                  zone=self.zone(s)))
        return tuple(members)

    def seal(self, s: _Section) -> SealConfig:
        seal_type = s.choice("type", SEAL_TYPES)
        if s.has("pin"):
            s.fail("pin", "never put the PIN in the config: use pin_file (mode 0600) or pin_env")
        if seal_type != "pkcs11":
            for name in _PKCS11_FIELDS:
                if s.has(name):
                    s.fail(name, f"not allowed with type {seal_type} (only pkcs11 uses it)")
        if seal_type == "pkcs11":
            if s.has("key_file"):
                s.fail("key_file", "not allowed with type pkcs11 (only the file seal uses it)")
            return SealConfig(type=seal_type, pkcs11=self.pkcs11(s))
        has_key_file = s.raw("key_file", required=False) not in (_MISSING, None)
        if seal_type == "shamir" and has_key_file:
            s.fail("key_file", "not allowed with type shamir (only the file seal uses it)")
        if seal_type == "file" and not has_key_file:
            s.fail("key_file", "required field missing (type file needs it)")
        return SealConfig(type=seal_type, key_file=s.optional_path("key_file"))

    def pkcs11(self, s: _Section) -> Pkcs11Config:
        module = s.string("module")
        if not os.path.isabs(module):
            s.fail("module", f"must be an absolute path, got {_show(module)}")
        has_env, has_file = s.has("pin_env"), s.has("pin_file")
        if has_env == has_file:
            s.fail("pin_file" if has_file else "pin_env",
                   "set exactly one of pin_env and pin_file")
        pin_env = s.string("pin_env") if has_env else None
        if pin_env is not None and not _ENV_NAME.fullmatch(pin_env):
            s.fail("pin_env", f"not an environment variable name: {_show(pin_env)}")
        pin_file = s.path_("pin_file") if has_file else None
        if pin_file is not None and self.check_files:
            problem = check_private_file(pin_file)
            if problem:
                s.fail("pin_file", problem)
        env_value = s.raw("module_env", required=False)
        module_env: list[tuple[str, str]] = []
        if env_value not in (_MISSING, None):
            if not isinstance(env_value, Mapping):
                s.fail("module_env", f"expected a mapping, got {_kind(env_value)}")
            for name, value in env_value.items():
                if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
                    s.fail(f"module_env.{name}", "not an environment variable name")
                if not isinstance(value, str):
                    s.fail(f"module_env.{name}", f"expected a string, got {_kind(value)}")
                module_env.append((name, value))
        d = Pkcs11Config.__dataclass_fields__
        retry_min = s.seconds("retry_min_s", default=d["retry_min_s"].default)
        retry_max = s.seconds("retry_max_s", default=d["retry_max_s"].default)
        if retry_max < retry_min:
            s.fail("retry_max_s", f"must be >= retry_min_s ({retry_min:g}), got {retry_max:g}")
        return Pkcs11Config(
            module=Path(module),
            token_label=s.string("token_label"),
            key_label=s.string("key_label"),
            pin_env=pin_env,
            pin_file=pin_file,
            create_key=s.boolean("create_key", default=d["create_key"].default),
            module_env=tuple(sorted(module_env)),
            timeout_s=s.seconds("timeout_s", default=d["timeout_s"].default),
            health_interval_s=s.seconds(
                "health_interval_s", default=d["health_interval_s"].default),
            retry_min_s=retry_min,
            retry_max_s=retry_max,
        )

    def serving(self, s: _Section, raft: RaftConfig) -> ServingConfig:
        d = ServingConfig.__dataclass_fields__
        bounds: dict[str, float] = {}
        for name in ("max_leader_silence_s", "max_staleness_s"):
            bound = s.seconds(name, default=d[name].default)
            if bound <= raft.append_entries_period_s:
                s.fail(name, "must be greater than raft.append_entries_period_s "
                       f"({raft.append_entries_period_s:g}), got {bound:g}")
            bounds[name] = bound
        return ServingConfig(
            max_leader_silence_s=bounds["max_leader_silence_s"],
            max_staleness_s=bounds["max_staleness_s"],
            max_lag_entries=s.integer(
                "max_lag_entries", default=d["max_lag_entries"].default, minimum=0),
            processes=s.integer("processes", default=0, minimum=0, maximum=MAX_PROCESSES)
            or default_processes(),
        )

    def keys(self, s: _Section) -> KeysConfig:
        d = KeysConfig.__dataclass_fields__
        minimum = s.integer("min_deletion_window_s", default=d["min_deletion_window_s"].default,
                            minimum=1, maximum=MAX_DELETION_WINDOW_S)
        default = s.integer(
            "default_deletion_window_s", default=d["default_deletion_window_s"].default,
            minimum=1, maximum=MAX_DELETION_WINDOW_S,
        )
        if default < minimum:
            s.fail("default_deletion_window_s",
                   f"must be >= min_deletion_window_s ({minimum}), got {default}")
        rotation = s.integer(
            "min_rotation_period_s", default=d["min_rotation_period_s"].default,
            minimum=1, maximum=MAX_DELETION_WINDOW_S,
        )
        return KeysConfig(
            min_deletion_window_s=minimum, default_deletion_window_s=default,
            min_rotation_period_s=rotation,
        )

    def logging(self, s: _Section) -> LoggingConfig:
        level = s.choice("level", LOG_LEVELS, default="info")
        if s.raw("file", required=False) not in (_MISSING, None):
            s.string("file")  # type check before the path is used
        log_file = s.optional_path("file")
        if log_file is not None and self.check_files and not log_file.parent.is_dir():
            s.fail("file", f"directory not found: {log_file.parent}")
        return LoggingConfig(level=level, file=log_file,
                             format=s.choice("format", LOG_FORMATS, default="text"))

    def metrics(self, s: _Section) -> MetricsConfig:
        """Metrics are plain HTTP: refuse a public address rather than expose them."""
        if s.raw("listen", required=False) in (_MISSING, None):
            return MetricsConfig()
        listen = s.address("listen", allow_port_zero=True)
        host = _parse_address(listen, allow_port_zero=True)[0]
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            s.fail("listen", f"expected a literal loopback or private IP, got {_show(host)}")
        if not (ip.is_loopback or ip.is_private) or ip.is_unspecified:
            s.fail("listen", f"must be a loopback or private address (plain HTTP), got {host}")
        return MetricsConfig(listen=listen)

    def audit(self, s: _Section, node: NodeSection) -> AuditConfig:
        default_path = node.data_dir / "audit" / "audit.log"
        syslog = None
        if s.raw("syslog", required=False) not in (_MISSING, None):
            syslog = self.audit_syslog(_Section(self, s.field("syslog"), s.raw(
                "syslog", required=True), ("address", "protocol", "facility", "required")))
        file_value = s.raw("file", required=False)
        if file_value is _MISSING and syslog is not None:
            return AuditConfig(file=None, syslog=syslog)  # a SIEM only, by choice
        f = _Section(self, s.field("file"), None if file_value is _MISSING else file_value,
                     ("path", "max_bytes", "keep", "fsync"))
        d = AuditFileConfig.__dataclass_fields__
        path = default_path if f.raw("path", required=False) is _MISSING else f.path_("path")
        if self.check_files and path.is_dir():
            f.fail("path", f"is a directory, not a file: {path}")
        return AuditConfig(
            file=AuditFileConfig(
                path=path,
                max_bytes=f.integer("max_bytes", default=d["max_bytes"].default,
                                    minimum=MIN_AUDIT_FILE_BYTES),
                keep=f.integer("keep", default=d["keep"].default, minimum=1, maximum=1000),
                fsync=f.boolean("fsync", default=d["fsync"].default),
            ),
            syslog=syslog,
        )

    def audit_syslog(self, s: _Section) -> AuditSyslogConfig:
        d = AuditSyslogConfig.__dataclass_fields__
        return AuditSyslogConfig(
            address=s.address("address"),
            protocol=s.choice("protocol", SYSLOG_PROTOCOLS, default=d["protocol"].default),
            facility=s.choice("facility", SYSLOG_FACILITIES, default=d["facility"].default),
            required=s.boolean("required", default=d["required"].default),
        )

    def check_members(self, config: NodeConfig) -> None:
        """Peer ids are distinct and not ours; no two listeners share an address."""
        seen_ids = {config.node.id: "node.id"}
        seen_addresses: dict[tuple[str, int], str] = {}
        own = [("api.listen", config.api.listen), ("raft.listen", config.raft.listen)]
        for name, address in own:
            self._claim(seen_addresses, name, address, allow_port_zero=True)
        for index, peer in enumerate(config.peers):
            where = f"peers[{index}]"
            if peer.id in seen_ids:
                self.fail(f"{where}.id", f"{peer.id!r} is already used by {seen_ids[peer.id]}")
            seen_ids[peer.id] = f"{where}.id"
            self._claim(seen_addresses, f"{where}.api", peer.api, allow_port_zero=False)
            self._claim(seen_addresses, f"{where}.raft", peer.raft, allow_port_zero=False)
        peer_rafts = {peer.raft for peer in config.peers}
        for peer_raft, _target in config.raft.dial_overrides:
            if peer_raft not in peer_rafts:
                self.fail("raft.dial_overrides",
                          f"{peer_raft!r} is not the raft address of a peer")

    def _claim(self, seen: dict[tuple[str, int], str], name: str, address: str, *,
               allow_port_zero: bool) -> None:
        key = _parse_address(address, allow_port_zero=allow_port_zero)
        if key[1] == 0:
            return  # an OS-chosen port clashes with nothing
        if key in seen:
            self.fail(name, f"{address!r} is already used by {seen[key]}")
        seen[key] = name
