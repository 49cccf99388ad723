"""`keymgr gateway`: the HTTPS gateway speaking the Vault/OpenBao HTTP API (KV v2 secrets
mounts, and MariaDB's hashicorp_key_management plugin); `keymgr tde-gateway` is the
same command under its old name, with its old configuration still accepted."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from keymgr.cli.common import EXIT_USAGE, CliError


def register(subparsers: Any) -> None:
    for name, text in (
        ("gateway", "HTTPS gateway: KV v2 secrets (hvac, bao CLI) and MariaDB TDE"),
        ("tde-gateway", "the gateway under its old name (MariaDB's hashicorp plugin)"),
    ):
        gateway = subparsers.add_parser(
            name,
            help=text,
            description="Serves the Vault/OpenBao KV v2 API for the cluster's secrets "
            "mounts and the subset MariaDB's plugin calls. Example: keymgr gateway "
            "--config gateway.yaml\nTDE token hashes for the config: printf %s TOKEN | "
            f"keymgr {name} --hash-token",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        gateway.add_argument("--config", type=Path, help="gateway YAML")
        gateway.add_argument(
            "--hash-token", action="store_true", help="print the SHA-256 of a token read on stdin"
        )
        gateway.set_defaults(func=run_gateway)


def run_gateway(args: argparse.Namespace) -> int:
    from keymgr.gateway.config import GatewayConfigError, hash_token, load_config
    from keymgr.gateway.server import Gateway, build_server

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
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        server = build_server(Gateway(config))
    except GatewayConfigError as exc:
        raise CliError(str(exc), code=EXIT_USAGE) from None
    except OSError as exc:  # the port is taken, a TLS file unreadable, a bad key pair
        raise CliError(f"{args.config}: cannot start: {exc}", code=EXIT_USAGE) from None
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    parts = [p for p, on in (("kv", config.kv is not None), ("tde", config.tde_enabled)) if on]
    print(
        f"gateway ({', '.join(parts)}) listening on "
        f"https://{config.listen_host}:{server.server_address[1]}",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0
