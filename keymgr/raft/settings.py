"""Raft settings, validated here because pysyncobj silently ignores bad configuration."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from keymgr.raft.tls import RaftTlsFiles


class SettingsError(ValueError):
    """A Raft setting is invalid; the message names the field."""


@dataclass(frozen=True, kw_only=True)
class RaftSettings:
    self_address: str  # "127.0.0.1:7101"; the Raft port binds to this address only
    peer_addresses: tuple[str, ...]  # the other members (self is ignored if listed)
    data_dir: Path  # journal, dump and state live here (created 0700)
    password: str  # cluster secret (>= 16 chars); never logged (repr hides it)
    election_timeout_min: float = 0.15
    election_timeout_max: float = 0.3
    append_entries_period: float = 0.04
    connection_timeout: float = 0.6  # also the leader's step-down timeout without quorum
    connection_retry_time: float = 0.2
    auto_tick_period: float = 0.01
    log_compaction_min_entries: int = 5000
    log_compaction_min_time: float = 300
    # peer address -> address actually dialled (a fault-injecting proxy in tests); the
    # peer keeps its identity, only the TCP connection goes elsewhere
    dial_overrides: tuple[tuple[str, str], ...] = ()
    # mutual TLS on the Raft port (None: pysyncobj's plain protocol, for toy tests only)
    tls: RaftTlsFiles | None = None
    # Raft address -> node id of the members this node knows from its config (self too)
    node_ids: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        return (
            f"RaftSettings(self_address={self.self_address!r}, "
            f"peer_addresses={self.peer_addresses!r}, data_dir={str(self.data_dir)!r}, "
            "password=<hidden>)"
        )


def check_address(value: object, name: str) -> str:
    """'host:port' with a literal IP or a host name and a port in 1..65535."""
    if not isinstance(value, str) or value.count(":") < 1:
        raise SettingsError(f"{name}: expected 'host:port', got {value!r}")
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(f"{name}: expected 'host:port' with a port in 1..65535")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if not all(part.isalnum() or "-" in part for part in host.split(".")):
            raise SettingsError(
                f"{name}: {host!r} is neither an IP address nor a host name"
            ) from None
    return value


def validate_settings(s: RaftSettings) -> None:
    """Raise SettingsError for anything pysyncobj would accept but mis-run."""
    check_address(s.self_address, "self_address")
    if not isinstance(s.peer_addresses, tuple):
        raise SettingsError("peer_addresses: expected a tuple of 'host:port'")
    for i, peer in enumerate(s.peer_addresses):
        check_address(peer, f"peer_addresses[{i}]")
    if len(set(s.peer_addresses)) != len(s.peer_addresses):
        raise SettingsError("peer_addresses: duplicate address")
    if not isinstance(s.data_dir, Path):
        raise SettingsError("data_dir: expected a pathlib.Path")
    if not isinstance(s.password, str) or len(s.password) < 16:
        raise SettingsError("password: the cluster secret must be at least 16 characters")
    for name in (
        "election_timeout_min",
        "election_timeout_max",
        "append_entries_period",
        "connection_timeout",
        "connection_retry_time",
        "auto_tick_period",
        "log_compaction_min_time",
    ):
        value = getattr(s, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise SettingsError(f"{name}: expected a positive number of seconds")
    if not s.election_timeout_min > 3 * s.append_entries_period:
        raise SettingsError("election_timeout_min: must exceed 3 x append_entries_period")
    if not s.election_timeout_max > s.election_timeout_min:
        raise SettingsError("election_timeout_max: must exceed election_timeout_min")
    if not s.connection_timeout >= s.election_timeout_max:
        raise SettingsError("connection_timeout: must be >= election_timeout_max")
    if not s.auto_tick_period <= s.append_entries_period:
        raise SettingsError("auto_tick_period: must be <= append_entries_period")
    if not isinstance(s.dial_overrides, tuple):
        raise SettingsError("dial_overrides: expected a tuple of (peer, address) pairs")
    for i, pair in enumerate(s.dial_overrides):
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise SettingsError(f"dial_overrides[{i}]: expected a (peer, address) pair")
        check_address(pair[0], f"dial_overrides[{i}].peer")
        check_address(pair[1], f"dial_overrides[{i}].address")
    entries = s.log_compaction_min_entries
    if isinstance(entries, bool) or not isinstance(entries, int) or entries < 2:
        raise SettingsError("log_compaction_min_entries: expected an integer >= 2")
