"""`keymgr kms-plugin`: the Kubernetes KMS v2 plugin on a unix socket;
`keymgr kms-probe`: one Status/Encrypt/Decrypt round trip against such a socket.

`--key` names the managed key; the client's private key is `--client-key`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from keymgr.cli.common import EXIT_USAGE, CliError, add_connection_flags, client_from


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

    probe = subparsers.add_parser(
        "kms-probe",
        help="check a KMS v2 plugin socket as the API server would (Status, Encrypt, Decrypt)",
        description="Example: keymgr kms-probe --socket /var/run/kms/keymgr.sock",
    )
    probe.add_argument("--socket", type=Path, required=True, help="the plugin's unix socket")
    probe.add_argument("--timeout", type=float, default=10.0, help="per-call timeout, seconds")
    probe.add_argument(
        "--wait",
        type=float,
        default=0.0,
        help="seconds to wait for the socket to appear (a plugin starting)",
    )
    probe.set_defaults(func=run_probe)


def run(args: argparse.Namespace) -> int:
    from keymgr.agents.kms_plugin import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    client = client_from(args)
    try:
        server = serve(client, args.key_name, args.socket)
    except OSError as exc:
        raise CliError(
            f"--socket: {exc.strerror or exc}: {exc.filename or args.socket}", code=EXIT_USAGE
        ) from None
    except RuntimeError as exc:  # gRPC's bind failure
        raise CliError(f"--socket: cannot listen on {args.socket}: {exc}") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"kms-plugin serving on unix://{args.socket}", file=sys.stderr, flush=True)
    stop.wait()
    server.stop(grace=2).wait()
    client.close()
    args.socket.unlink(missing_ok=True)
    return 0


def run_probe(args: argparse.Namespace) -> int:
    from keymgr.agents.kms_probe import ProbeFailed, probe

    deadline = time.monotonic() + max(args.wait, 0.0)
    while not args.socket.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        result = probe(args.socket, timeout=args.timeout)
    except ProbeFailed as exc:
        raise CliError(f"kms-probe: {exc}") from None
    print(f"Status   version {result.version}, healthz {result.healthz}, key_id {result.key_id}")
    print(
        f"Encrypt  32-byte DEK -> {result.ciphertext_bytes}-byte ciphertext, key_id {result.key_id}"
    )
    print("Decrypt  returned the DEK")
    return 0
