"""`keymgr config check FILE`: validate a node config without starting anything.

Operators (and the cloud-init boot script) run it before `keymgr server`, so that a
bad config fails with the same one-line error the server would give, but nothing binds
and no data dir is touched.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from keymgr.cli.common import CliError
from keymgr.config import ConfigError, NodeConfig, load_config


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "config",
        help="check a node config",
        description="Example:\n  keymgr config check /etc/keymgr/node.yaml\n"
        "  keymgr config check --no-files rendered/node1.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="config_command", required=True)
    check = commands.add_parser(
        "check",
        help="validate a node config (exit 2 with a one-line error if it is bad)",
        description="Validate a node YAML config exactly as `keymgr server` would, "
        "without binding a port or touching the data dir.",
    )
    check.add_argument("file", help="node YAML config")
    check.add_argument(
        "--no-files",
        action="store_true",
        help="do not open the files the config names (TLS, cluster secret): for configs "
        "rendered before those files are delivered, e.g. by cloud-init at boot",
    )
    check.set_defaults(func=run_check)


def summary(config: NodeConfig) -> str:
    """One line that lets a reader see the config was read as they meant it."""
    zone = f" (zone {config.node.zone})" if config.node.zone else ""
    peers = len(config.peers)
    return (
        f"node {config.node.id}{zone}, api {config.api.listen}, raft {config.raft.listen}, "
        f"{peers} peer{'' if peers == 1 else 's'}, seal {config.seal.type}"
    )


def run_check(args: argparse.Namespace) -> int:
    try:
        config = load_config(Path(args.file), check_files=not args.no_files)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    note = " (referenced files not checked)" if args.no_files else ""
    print(f"OK: {args.file}: {summary(config)}{note}")
    return 0
