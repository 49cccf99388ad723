"""`keymgr tde-rotate` for the TdeKeys API (the MariaDB gateway is `keymgr gateway`,
also known as `keymgr tde-gateway`: keymgr/cli/gateway_cmd.py)."""

from __future__ import annotations

import argparse
from typing import Any

from keymgr.cli.common import (
    add_connection_flags,
    client_from,
    print_fields,
    print_json,
)


def register(subparsers: Any) -> None:
    rotate = subparsers.add_parser("tde-rotate", help="rotate a TDE key (new master key version)")
    rotate.add_argument("key_name", metavar="KEY")
    add_connection_flags(rotate)
    rotate.set_defaults(func=run_rotate)


def run_rotate(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        version = client.rotate_master_key(args.key_name)
    if args.json:
        print_json({"key": args.key_name, "version": version})
    else:
        print_fields([("key", args.key_name), ("version", version)])
    return 0
