"""`keymgr config check FILE`: validate a node config without starting anything."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from keymgr.cli.common import CliError, print_json
from keymgr.config import ConfigError, load_config


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("config", help="node config tools")
    commands = parser.add_subparsers(dest="config_command", required=True)
    check = commands.add_parser(
        "check",
        help="validate a node config (files it names must exist); binds nothing",
        description="Example: keymgr config check /etc/keymgr/node.yaml",
    )
    check.add_argument("file", help="node YAML config")
    check.add_argument("--json", action="store_true", help="print a summary as JSON")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    try:
        config = load_config(Path(args.file))
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    summary = {
        "node": config.node.id,
        "zone": config.node.zone,
        "api": config.api.listen,
        "raft": config.raft.listen,
        "peers": [p.id for p in config.peers],
        "seal": config.seal.type,
        "metrics": config.metrics.listen,
    }
    if args.json:
        print_json(summary)
    else:
        print(f"{args.file}: OK (node {config.node.id}, {len(config.peers)} peers, "
              f"seal {config.seal.type})")
    return 0
