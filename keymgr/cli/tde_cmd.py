"""`keymgr tde-gateway`: serve MariaDB's hashicorp_key_management plugin from the cluster,
and `keymgr tde get|rotate` for the TdeKeys API."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from keymgr.cli.common import (
    EXIT_USAGE,
    CliError,
    add_connection_flags,
    client_from,
    print_fields,
    print_json,
)


def register(subparsers: Any) -> None:
    gateway = subparsers.add_parser(
        "tde-gateway",
        help="HTTPS gateway for MariaDB's hashicorp_key_management plugin",
        description="Serves the Vault KV-v2 subset MariaDB's plugin calls, backed by the "
        "cluster. Example: keymgr tde-gateway --config gateway.yaml\n"
        "Token hashes for the config: printf %s TOKEN | keymgr tde-gateway --hash-token",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gateway.add_argument("--config", type=Path, help="gateway YAML")
    gateway.add_argument(
        "--hash-token", action="store_true", help="print the SHA-256 of a token read on stdin"
    )
    gateway.set_defaults(func=run_gateway)

    rotate = subparsers.add_parser("tde-rotate", help="rotate a TDE key (new master key version)")
    rotate.add_argument("key_name", metavar="KEY")
    add_connection_flags(rotate)
    rotate.set_defaults(func=run_rotate)


def run_gateway(args: argparse.Namespace) -> int:
    from keymgr.agents.tde_gateway import (
        GatewayConfigError,
        TdeGateway,
        build_server,
        hash_token,
        load_config,
    )

    if args.hash_token:
        token = sys.stdin.readline().strip()
        if not token:
            raise CliError("--hash-token: no token on stdin", code=EXIT_USAGE)
        print(hash_token(token))
        return 0
    if args.config is None:
        raise CliError("--config: required", code=EXIT_USAGE)
    try:
        config = load_config(args.config)
    except GatewayConfigError as exc:
        raise CliError(str(exc), code=EXIT_USAGE) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = build_server(TdeGateway(config))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(
            sig, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start()
        )
    print(
        f"tde-gateway listening on https://{config.listen_host}:{server.server_address[1]}",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


def run_rotate(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        version = client.rotate_master_key(args.key_name)
    if args.json:
        print_json({"key": args.key_name, "version": version})
    else:
        print_fields([("key", args.key_name), ("version", version)])
    return 0
