"""The gateway's YAML: where it listens, how it reaches the cluster, and which parts it
serves (`kv:` secrets mounts, `tde:` the MariaDB plugin's mount).

The configuration of `keymgr tde-gateway` (top-level `mount`, `tokens`, `keys`) is still
accepted: it is read as a `tde:` section.

    listen: 127.0.0.1:8200
    tls: {cert: gw.pem, key: gw-key.pem, client_ca: ca.pem}   # client_ca: optional
    cluster: {addresses: [...], ca: ca.pem, cert: gw-client.pem, key: gw-client-key.pem}
    failover_deadline_s: 20
    kv: {mounts: [secret]}             # optional; mounts: default any mount
    tde: {mount: keymgr, tokens: [{sha256: ..., db_id: ...}], keys: {1: name}}
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from keymgr.client import Credentials

_HEX64 = re.compile(r"[0-9a-f]{64}")
_MOUNT = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_KV_MOUNT = re.compile(r"[A-Za-z0-9_-]{1,64}")  # the secrets engine's mount names
RESERVED_MOUNTS = frozenset({"sys", "auth", "identity", "cubbyhole"})


class GatewayConfigError(Exception):
    """One line naming the config file and field."""


def hash_token(token: str) -> str:
    """SHA-256 hex of a TDE token (the config holds only these)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class KvConfig:
    """The KV v2 part: which mounts (empty = whatever the cluster has)."""

    mounts: frozenset[str] = frozenset()

    def serves(self, mount: str) -> bool:
        return not self.mounts or mount in self.mounts


@dataclass(frozen=True)
class GatewayConfig:
    listen_host: str
    listen_port: int
    tls_cert: Path
    tls_key: Path
    mount: str  # the TDE mount (MariaDB's URL path)
    addresses: list[str]
    credentials: Credentials
    tokens: dict[str, str]  # TDE: sha256 hex of token -> database identity; {} = no TDE
    keys: dict[int, str] = field(default_factory=dict)  # MariaDB key id -> key name
    timeout_s: float = 5.0
    failover_deadline_s: float = 20.0
    kv: KvConfig | None = None  # None: no KV v2 mounts
    client_ca: Path | None = None  # verify (optional) client certificates against it
    connections_per_node: int = 2

    def key_name(self, key_id: int) -> str:
        return self.keys.get(key_id, f"mariadb-{key_id}")

    @property
    def tde_enabled(self) -> bool:
        return bool(self.tokens)


def load_config(path: Path) -> GatewayConfig:
    """YAML -> GatewayConfig; relative paths are relative to the file."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise GatewayConfigError(f"{path}: cannot read: {exc}".splitlines()[0]) from None
    if not isinstance(raw, dict):
        raise GatewayConfigError(f"{path}: expected a mapping")
    return _Reader(path).config(raw)


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, message: str) -> GatewayConfigError:
        return GatewayConfigError(f"{self.path}: {message}")

    def need(self, section: dict[str, Any], name: str, where: str) -> Any:
        if name not in section or section[name] in (None, ""):
            raise self.fail(f"{where}{name}: required")
        return section[name]

    def file(self, section: dict[str, Any], name: str, where: str) -> Path:
        value = Path(str(self.need(section, name, where)))
        value = value if value.is_absolute() else self.path.parent / value
        if not value.is_file():
            raise self.fail(f"{where}{name}: file not found: {value}")
        return value

    def mapping(self, raw: dict[str, Any], name: str) -> dict[str, Any]:
        section = raw.get(name) or {}
        if not isinstance(section, dict):
            raise self.fail(f"{name}: must be a mapping")
        return section

    def number(
        self,
        section: dict[str, Any],
        name: str,
        where: str,
        default: float,
        *,
        low: float,
        high: float,
    ) -> float:
        value = section.get(name, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not (low <= value <= high)
        ):
            raise self.fail(f"{where}{name}: expected a number from {low:g} to {high:g}")
        return float(value)

    def config(self, raw: dict[str, Any]) -> GatewayConfig:
        known = {
            "listen",
            "tls",
            "cluster",
            "failover_deadline_s",
            "kv",
            "tde",
            "mount",
            "tokens",
            "keys",
        }
        unknown = sorted(str(k) for k in raw if k not in known)
        if unknown:
            raise self.fail(f"{unknown[0]}: unknown field (known: {', '.join(sorted(known))})")
        host, _, port = str(self.need(raw, "listen", "")).rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise self.fail("listen: expected host:port")
        tls, cluster = self.mapping(raw, "tls"), self.mapping(raw, "cluster")
        addresses = self.need(cluster, "addresses", "cluster.")
        if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
            raise self.fail("cluster.addresses: expected a list of host:port")
        tde = self.tde(raw)
        kv = self.kv(raw)
        if kv is None and not tde[1]:
            raise self.fail("kv, tde: serve at least one (kv: {} serves every secrets mount)")
        if kv is not None and tde[1] and kv.serves(tde[0]) and kv.mounts:
            raise self.fail(f"kv.mounts: {tde[0]} is the tde mount")
        client_ca = self.file(tls, "client_ca", "tls.") if tls.get("client_ca") else None
        return GatewayConfig(
            listen_host=host.strip("[]"),
            listen_port=int(port),
            tls_cert=self.file(tls, "cert", "tls."),
            tls_key=self.file(tls, "key", "tls."),
            mount=tde[0],
            addresses=addresses,
            credentials=Credentials(
                ca=self.file(cluster, "ca", "cluster."),
                cert=self.file(cluster, "cert", "cluster."),
                key=self.file(cluster, "key", "cluster."),
            ),
            tokens=tde[1],
            keys=tde[2],
            timeout_s=self.number(cluster, "timeout_s", "cluster.", 5.0, low=0.1, high=300),
            failover_deadline_s=self.number(raw, "failover_deadline_s", "", 20.0, low=0, high=3600),
            kv=kv,
            client_ca=client_ca,
            connections_per_node=int(
                self.number(cluster, "connections_per_node", "cluster.", 2, low=1, high=64)
            ),
        )

    def kv(self, raw: dict[str, Any]) -> KvConfig | None:
        if "kv" not in raw:
            return None
        section = self.mapping(raw, "kv")
        mounts = section.get("mounts") or []
        if not isinstance(mounts, list) or not all(
            isinstance(m, str) and _KV_MOUNT.fullmatch(m) and m not in RESERVED_MOUNTS
            for m in mounts
        ):
            raise self.fail(
                "kv.mounts: expected a list of mount names (letters, digits, _ -; "
                f"not {', '.join(sorted(RESERVED_MOUNTS))})"
            )
        return KvConfig(mounts=frozenset(mounts))

    def tde(self, raw: dict[str, Any]) -> tuple[str, dict[str, str], dict[int, str]]:
        """(mount, token hashes, key names): from `tde:` or, as `keymgr tde-gateway`
        wrote it, from the top level."""
        legacy = any(k in raw for k in ("mount", "tokens", "keys"))
        if legacy and "tde" in raw:
            raise self.fail("tde: give mount/tokens/keys either under tde: or at the top")
        section, where = (raw, "") if legacy else (self.mapping(raw, "tde"), "tde.")
        if not legacy and "tde" not in raw:
            return "keymgr", {}, {}
        mount = str(section.get("mount", "keymgr"))
        if not _MOUNT.fullmatch(mount) or mount in RESERVED_MOUNTS:
            raise self.fail(f"{where}mount: letters, digits, _ . - only (not sys or auth)")
        tokens: dict[str, str] = {}
        entries = section.get("tokens") or []
        if not isinstance(entries, list):
            raise self.fail(f"{where}tokens: expected a list")
        for i, entry in enumerate(entries):
            digest = str(entry.get("sha256", "")).lower() if isinstance(entry, dict) else ""
            db_id = str(entry.get("db_id", "")) if isinstance(entry, dict) else ""
            if not _HEX64.fullmatch(digest) or not db_id:
                raise self.fail(f"{where}tokens[{i}]: expected sha256 (64 hex digits) and db_id")
            tokens[digest] = db_id
        if not tokens:
            raise self.fail(f"{where}tokens: at least one token is required")
        keys: dict[int, str] = {}
        key_map = section.get("keys") or {}
        if not isinstance(key_map, dict):
            raise self.fail(f"{where}keys: expected <numeric id>: <key name>")
        for key_id, name in key_map.items():
            if not str(key_id).isdigit() or not isinstance(name, str) or not name:
                raise self.fail(f"{where}keys: expected <numeric id>: <key name>")
            keys[int(key_id)] = name
        return mount, tokens, keys
