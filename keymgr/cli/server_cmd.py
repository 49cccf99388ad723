"""`keymgr server --config node.yaml`: run one node."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from keymgr.cli.common import CliError
from keymgr.config import ConfigError, load_config


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "server",
        help="run a node",
        description="Run one keymgr node. The config is validated completely before "
        "anything binds.\n\nExample: keymgr server --config /etc/keymgr/node.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", required=True, help="node YAML config")
    # a node's Raft process starts its own workers with this; not for operators
    parser.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(Path(args.config))
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    from keymgr.audit import AuditError
    from keymgr.server.node import run as run_node

    try:
        run_node(config, Path(args.config), worker=args.worker)
    except AuditError as exc:
        raise CliError(f"audit: {exc}") from None
    return 0
