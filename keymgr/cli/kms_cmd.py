"""`keymgr kms-plugin`: the Kubernetes KMS v2 plugin on a unix socket.

`--key` names the managed key; the client's private key is `--client-key`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from keymgr.cli.common import add_connection_flags, client_from


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "kms-plugin",
        help="Kubernetes KMS v2 plugin (KeyManagementService on a unix socket)",
        description="Example: keymgr kms-plugin --socket /var/run/kms/keymgr.sock "
        "--key k8s-secrets",
    )
    parser.add_argument("--socket", type=Path, required=True, help="unix socket path")
    parser.add_argument("--key", dest="key_name", required=True, help="managed key to use")
    add_connection_flags(parser, client_key_flag="--client-key")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from keymgr.agents.kms_plugin import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    client = client_from(args)
    server = serve(client, args.key_name, args.socket)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"kms-plugin serving on unix://{args.socket}", file=sys.stderr, flush=True)
    stop.wait()
    server.stop(grace=2).wait()
    client.close()
    args.socket.unlink(missing_ok=True)
    return 0
