"""Loads a node's YAML config: strict YAML, then each section read into the schema.

`load_config` reads the file (a key given twice is an error, not "last one wins"),
`parse_config` validates already-parsed data; both go through `NodeConfigReader`, which
knows every section's fields and the checks across fields and members (distinct peer
ids, no two listeners on one address, a TLS key that matches its certificate).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import cast

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from keymgr.config.reader import (
    MISSING,
    ConfigError,
    FieldReader,
    Section,
    kind_of,
    parse_address,
    show,
)
from keymgr.config.schema import (
    ENV_NAME,
    LOG_FORMATS,
    LOG_LEVELS,
    MAX_DELETION_WINDOW_S,
    MAX_PROCESSES,
    MIN_AUDIT_FILE_BYTES,
    MIN_PASSWORD_CHARS,
    PKCS11_FIELDS,
    SEAL_TYPES,
    SYSLOG_FACILITIES,
    SYSLOG_PROTOCOLS,
    ZONE,
    ApiConfig,
    AuditConfig,
    AuditFileConfig,
    AuditSyslogConfig,
    KeysConfig,
    LoggingConfig,
    Member,
    MetricsConfig,
    NodeConfig,
    NodeSection,
    Pkcs11Config,
    RaftConfig,
    SealConfig,
    ServingConfig,
    TlsConfig,
    default_processes,
)
from keymgr.naming import NODE_ID
from keymgr.private_files import check_private_file


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


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


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
        raise ConfigError(source, f"expected a mapping at the top level, got {kind_of(data)}")
    base_dir = Path(os.path.abspath(path)).parent
    return parse_config(data, source, base_dir=base_dir, check_files=check_files)


def parse_config(
    data: Mapping[str, object],
    source: str,
    *,
    base_dir: Path | None = None,
    check_files: bool = True,
) -> NodeConfig:
    """Validates an already-parsed config (e.g. one embedded in the dev launcher).

    Relative paths are resolved against `base_dir` (default: the working directory).
    Files named by the config (TLS, password, the log file's directory) must exist:
    they are read here. With `check_files=False` they are not touched and
    `raft.password` is "": such a config is for `keymgr config check --no-files`
    only, never for running a node.
    """
    reader = NodeConfigReader(
        source=source, base_dir=base_dir or Path.cwd(), check_files=check_files
    )
    return reader.node_config(data)


class NodeConfigReader(FieldReader):
    """Turns the parsed YAML into a NodeConfig, failing on the first bad field."""

    __slots__ = ()

    def node_config(self, data: Mapping[str, object]) -> NodeConfig:
        top = Section(
            self,
            "",
            data,
            (
                "node",
                "api",
                "tls",
                "raft",
                "peers",
                "seal",
                "serving",
                "keys",
                "logging",
                "audit",
                "metrics",
            ),
        )
        node = self.node_section(self.section(top, "node", ("id", "zone", "data_dir")))
        api_section = self.section(top, "api", ("listen", "reflection"))
        api = ApiConfig(
            listen=api_section.address("listen", allow_port_zero=True),
            reflection=api_section.boolean("reflection", default=False),
        )
        tls = self.tls(self.section(top, "tls", ("cert", "key", "ca")))
        raft = self.raft(
            self.section(
                top,
                "raft",
                (
                    "listen",
                    "password_file",
                    "election_timeout_min_s",
                    "election_timeout_max_s",
                    "append_entries_period_s",
                    "connection_timeout_s",
                    "connection_retry_time_s",
                    "log_compaction_min_entries",
                    "dial_overrides",
                ),
            )
        )
        peers = self.peers(top.raw("peers", required=False))
        seal = self.seal(self.section(top, "seal", ("type", "key_file", "pin", *PKCS11_FIELDS)))
        serving = self.serving(
            self.section(
                top,
                "serving",
                ("max_leader_silence_s", "max_staleness_s", "max_lag_entries", "processes"),
                required=False,
            ),
            raft,
        )
        keys = self.keys(
            self.section(
                top,
                "keys",
                ("min_deletion_window_s", "default_deletion_window_s", "min_rotation_period_s"),
                required=False,
            )
        )
        logging = self.logging(
            self.section(top, "logging", ("level", "file", "format"), required=False)
        )
        metrics = self.metrics(self.section(top, "metrics", ("listen",), required=False))
        audit = self.audit(self.section(top, "audit", ("file", "syslog"), required=False), node)
        config = NodeConfig(
            source=self.source,
            node=node,
            api=api,
            tls=tls,
            raft=raft,
            peers=peers,
            seal=seal,
            serving=serving,
            keys=keys,
            logging=logging,
            audit=audit,
            metrics=metrics,
        )
        self.check_members(config)
        return config

    def node_section(self, s: Section) -> NodeSection:
        node_id = s.string("id")
        if not NODE_ID.fullmatch(node_id):
            s.fail("id", f"expected [a-z0-9][a-z0-9-]{{0,62}}, got {show(node_id)}")
        return NodeSection(id=node_id, zone=self.zone(s), data_dir=s.path_("data_dir"))

    def zone(self, s: Section) -> str:
        zone = s.string("zone", default="", empty_ok=True)
        if zone and not ZONE.fullmatch(zone):
            s.fail("zone", f"expected letters, digits, '.', '_' or '-', got {show(zone)}")
        return zone

    def tls(self, s: Section) -> TlsConfig:
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

    def raft(self, s: Section) -> RaftConfig:
        listen = s.address("listen")
        password_file, password = self.password(s)
        d = RaftConfig.__dataclass_fields__  # defaults live in one place: the dataclass
        min_s = s.seconds("election_timeout_min_s", default=d["election_timeout_min_s"].default)
        max_s = s.seconds("election_timeout_max_s", default=d["election_timeout_max_s"].default)
        if max_s <= min_s:
            s.fail(
                "election_timeout_max_s",
                f"must be greater than election_timeout_min_s ({min_s:g}), got {max_s:g}",
            )
        period = s.seconds("append_entries_period_s", default=d["append_entries_period_s"].default)
        if period >= min_s:
            s.fail(
                "append_entries_period_s",
                "must be less than election_timeout_min_s "
                f"({min_s:g}), or followers start elections, got {period:g}",
            )
        return RaftConfig(
            listen=listen,
            password_file=password_file,
            password=password,
            election_timeout_min_s=min_s,
            election_timeout_max_s=max_s,
            append_entries_period_s=period,
            connection_timeout_s=s.seconds(
                "connection_timeout_s", default=d["connection_timeout_s"].default
            ),
            connection_retry_time_s=s.seconds(
                "connection_retry_time_s", default=d["connection_retry_time_s"].default
            ),
            log_compaction_min_entries=s.integer(
                "log_compaction_min_entries",
                default=d["log_compaction_min_entries"].default,
                minimum=1,
            ),
            dial_overrides=self.dial_overrides(s),
        )

    def dial_overrides(self, s: Section) -> tuple[tuple[str, str], ...]:
        """`{peer raft address: address to dial}`: a test proxy on a Raft link."""
        value = s.raw("dial_overrides", required=False)
        if value is MISSING or value is None:
            return ()
        if not isinstance(value, Mapping):
            s.fail(
                "dial_overrides",
                f"expected a mapping of peer raft address to address, got {kind_of(value)}",
            )
        pairs = []
        for peer, target in value.items():
            for text in (peer, target):
                if not isinstance(text, str):
                    s.fail("dial_overrides", f"expected 'host:port' strings, got {kind_of(text)}")
                try:
                    parse_address(text, allow_port_zero=False)
                except ValueError as exc:
                    s.fail("dial_overrides", f"{exc} in {show(text)}")
            pairs.append((peer, target))
        return tuple(pairs)

    def password(self, s: Section) -> tuple[Path, str]:
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
            s.fail(
                "password_file",
                f"the secret must be at least {MIN_PASSWORD_CHARS} "
                f"characters (make one with `keymgr pki secret`): {password_file}",
            )
        return password_file, password

    def peers(self, value: object) -> tuple[Member, ...]:
        if value is MISSING or value is None:
            return ()
        if not isinstance(value, list):
            self.fail("peers", f"expected a list, got {kind_of(value)}")
        members = []
        for index, item in enumerate(value):
            s = Section(self, f"peers[{index}]", item, ("id", "api", "raft", "zone"))
            if item is None:
                self.fail(s.path, "expected a mapping, got null")
            peer_id = s.string("id")
            if not NODE_ID.fullmatch(peer_id):
                s.fail("id", f"expected [a-z0-9][a-z0-9-]{{0,62}}, got {show(peer_id)}")
            members.append(
                Member(id=peer_id, api=s.address("api"), raft=s.address("raft"), zone=self.zone(s))
            )
        return tuple(members)

    def seal(self, s: Section) -> SealConfig:
        seal_type = s.choice("type", SEAL_TYPES)
        if s.has("pin"):
            s.fail("pin", "never put the PIN in the config: use pin_file (mode 0600) or pin_env")
        if seal_type != "pkcs11":
            for name in PKCS11_FIELDS:
                if s.has(name):
                    s.fail(name, f"not allowed with type {seal_type} (only pkcs11 uses it)")
        if seal_type == "pkcs11":
            if s.has("key_file"):
                s.fail("key_file", "not allowed with type pkcs11 (only the file seal uses it)")
            return SealConfig(type=seal_type, pkcs11=self.pkcs11(s))
        has_key_file = s.raw("key_file", required=False) not in (MISSING, None)
        if seal_type == "shamir" and has_key_file:
            s.fail("key_file", "not allowed with type shamir (only the file seal uses it)")
        if seal_type == "file" and not has_key_file:
            s.fail("key_file", "required field missing (type file needs it)")
        return SealConfig(type=seal_type, key_file=s.optional_path("key_file"))

    def pkcs11(self, s: Section) -> Pkcs11Config:
        module = s.string("module")
        if not os.path.isabs(module):
            s.fail("module", f"must be an absolute path, got {show(module)}")
        has_env, has_file = s.has("pin_env"), s.has("pin_file")
        if has_env == has_file:
            s.fail("pin_file" if has_file else "pin_env", "set exactly one of pin_env and pin_file")
        pin_env = s.string("pin_env") if has_env else None
        if pin_env is not None and not ENV_NAME.fullmatch(pin_env):
            s.fail("pin_env", f"not an environment variable name: {show(pin_env)}")
        pin_file = s.path_("pin_file") if has_file else None
        if pin_file is not None and self.check_files:
            problem = check_private_file(pin_file)
            if problem:
                s.fail("pin_file", problem)
        env_value = s.raw("module_env", required=False)
        module_env: list[tuple[str, str]] = []
        if env_value not in (MISSING, None):
            if not isinstance(env_value, Mapping):
                s.fail("module_env", f"expected a mapping, got {kind_of(env_value)}")
            for name, value in env_value.items():
                if not isinstance(name, str) or not ENV_NAME.fullmatch(name):
                    s.fail(f"module_env.{name}", "not an environment variable name")
                if not isinstance(value, str):
                    s.fail(f"module_env.{name}", f"expected a string, got {kind_of(value)}")
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
                "health_interval_s", default=d["health_interval_s"].default
            ),
            retry_min_s=retry_min,
            retry_max_s=retry_max,
        )

    def serving(self, s: Section, raft: RaftConfig) -> ServingConfig:
        d = ServingConfig.__dataclass_fields__
        bounds: dict[str, float] = {}
        for name in ("max_leader_silence_s", "max_staleness_s"):
            bound = s.seconds(name, default=d[name].default)
            if bound <= raft.append_entries_period_s:
                s.fail(
                    name,
                    "must be greater than raft.append_entries_period_s "
                    f"({raft.append_entries_period_s:g}), got {bound:g}",
                )
            bounds[name] = bound
        return ServingConfig(
            max_leader_silence_s=bounds["max_leader_silence_s"],
            max_staleness_s=bounds["max_staleness_s"],
            max_lag_entries=s.integer(
                "max_lag_entries", default=d["max_lag_entries"].default, minimum=0
            ),
            processes=s.integer("processes", default=0, minimum=0, maximum=MAX_PROCESSES)
            or default_processes(),
        )

    def keys(self, s: Section) -> KeysConfig:
        d = KeysConfig.__dataclass_fields__
        minimum = s.integer(
            "min_deletion_window_s",
            default=d["min_deletion_window_s"].default,
            minimum=1,
            maximum=MAX_DELETION_WINDOW_S,
        )
        default = s.integer(
            "default_deletion_window_s",
            default=d["default_deletion_window_s"].default,
            minimum=1,
            maximum=MAX_DELETION_WINDOW_S,
        )
        if default < minimum:
            s.fail(
                "default_deletion_window_s",
                f"must be >= min_deletion_window_s ({minimum}), got {default}",
            )
        rotation = s.integer(
            "min_rotation_period_s",
            default=d["min_rotation_period_s"].default,
            minimum=1,
            maximum=MAX_DELETION_WINDOW_S,
        )
        return KeysConfig(
            min_deletion_window_s=minimum,
            default_deletion_window_s=default,
            min_rotation_period_s=rotation,
        )

    def logging(self, s: Section) -> LoggingConfig:
        level = s.choice("level", LOG_LEVELS, default="info")
        if s.raw("file", required=False) not in (MISSING, None):
            s.string("file")  # type check before the path is used
        log_file = s.optional_path("file")
        if log_file is not None and self.check_files and not log_file.parent.is_dir():
            s.fail("file", f"directory not found: {log_file.parent}")
        return LoggingConfig(
            level=level, file=log_file, format=s.choice("format", LOG_FORMATS, default="text")
        )

    def metrics(self, s: Section) -> MetricsConfig:
        """Metrics are plain HTTP: refuse a public address rather than expose them."""
        if s.raw("listen", required=False) in (MISSING, None):
            return MetricsConfig()
        listen = s.address("listen", allow_port_zero=True)
        host = parse_address(listen, allow_port_zero=True)[0]
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            s.fail("listen", f"expected a literal loopback or private IP, got {show(host)}")
        if not (ip.is_loopback or ip.is_private) or ip.is_unspecified:
            s.fail("listen", f"must be a loopback or private address (plain HTTP), got {host}")
        return MetricsConfig(listen=listen)

    def audit(self, s: Section, node: NodeSection) -> AuditConfig:
        default_path = node.data_dir / "audit" / "audit.log"
        syslog = None
        if s.raw("syslog", required=False) not in (MISSING, None):
            syslog = self.audit_syslog(
                Section(
                    self,
                    s.field("syslog"),
                    s.raw("syslog", required=True),
                    ("address", "protocol", "facility", "required"),
                )
            )
        file_value = s.raw("file", required=False)
        if file_value is MISSING and syslog is not None:
            return AuditConfig(file=None, syslog=syslog)  # a SIEM only, by choice
        f = Section(
            self,
            s.field("file"),
            None if file_value is MISSING else file_value,
            ("path", "max_bytes", "keep", "fsync"),
        )
        d = AuditFileConfig.__dataclass_fields__
        path = default_path if f.raw("path", required=False) is MISSING else f.path_("path")
        if self.check_files and path.is_dir():
            f.fail("path", f"is a directory, not a file: {path}")
        return AuditConfig(
            file=AuditFileConfig(
                path=path,
                max_bytes=f.integer(
                    "max_bytes", default=d["max_bytes"].default, minimum=MIN_AUDIT_FILE_BYTES
                ),
                keep=f.integer("keep", default=d["keep"].default, minimum=1, maximum=1000),
                fsync=f.boolean("fsync", default=d["fsync"].default),
            ),
            syslog=syslog,
        )

    def audit_syslog(self, s: Section) -> AuditSyslogConfig:
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
                self.fail("raft.dial_overrides", f"{peer_raft!r} is not the raft address of a peer")

    def _claim(
        self, seen: dict[tuple[str, int], str], name: str, address: str, *, allow_port_zero: bool
    ) -> None:
        key = parse_address(address, allow_port_zero=allow_port_zero)
        if key[1] == 0:
            return  # an OS-chosen port clashes with nothing
        if key in seen:
            self.fail(name, f"{address!r} is already used by {seen[key]}")
        seen[key] = name
