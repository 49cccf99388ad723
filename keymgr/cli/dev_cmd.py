"""`keymgr dev up`: a local 3-node cluster on loopback, initialised and unsealed.

Dev only: every node uses the `file` seal, and the unseal shares are written to a
0600 file in the cluster directory so that it can be restarted unattended.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path
from typing import Any

from keymgr.cli.common import EXIT_USAGE, CliError
from keymgr.ops.devcluster import LocalCluster, default_spec

SHARES_FILE = "unseal-shares.txt"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("dev", help="local development cluster")
    commands = parser.add_subparsers(dest="dev_command", required=True)
    up = commands.add_parser(
        "up",
        help="start a local cluster (initialised, unsealed); Ctrl-C stops it",
        description="Example: keymgr dev up --dir ./dev-cluster",
    )
    up.add_argument("--dir", default="dev-cluster", help="cluster directory (reused if present)")
    up.add_argument("--nodes", type=int, default=3, help="number of nodes (1-7)")
    up.add_argument(
        "--base-port",
        type=int,
        default=7001,
        help="API port of node1; node N uses base+N-1, Raft ports are API+100",
    )
    up.set_defaults(func=run_up)


def run_up(args: argparse.Namespace) -> int:
    if not 1 <= args.nodes <= 7:
        raise CliError("--nodes: must be between 1 and 7", code=EXIT_USAGE)
    if not 1024 <= args.base_port <= 65000:
        raise CliError("--base-port: must be between 1024 and 65000", code=EXIT_USAGE)
    root = Path(args.dir)
    spec = default_spec(args.nodes, ports=[args.base_port + i for i in range(args.nodes)])
    cluster = LocalCluster(root, spec)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        shares_file = cluster.root / SHARES_FILE
        if shares_file.exists():
            shares = shares_file.read_text().split()
            cluster.prepare()
            cluster.start_all()
            for node in spec.nodes:
                status = cluster.wait_answering(node.id)
                if status.sealed:
                    cluster.unseal(node.id, shares)
            cluster.wait_serving()
        else:
            shares = cluster.bring_up(shares=3, threshold=2)
            fd = os.open(shares_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write("\n".join(shares) + "\n")
        cluster.enable_secrets_mount()
        _print_summary(cluster)
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping the cluster...", flush=True)
        cluster.close()
    return 0


def _print_summary(cluster: LocalCluster) -> None:
    creds = cluster.credentials
    addresses = ",".join(n.api for n in cluster.spec.nodes)
    print("keymgr dev cluster is up (initialised and unsealed)\n")
    for node in cluster.spec.nodes:
        print(
            f"  {node.id}  api {node.api}  raft {node.raft}  zone {node.zone}  "
            f"pid {cluster.pid(node.id)}"
        )
    print(f"\nCA certificate:     {creds.ca}")
    print(f"admin certificate:  {creds.cert}")
    print(f"admin key:          {creds.key}")
    print(f"unseal shares:      {cluster.root / SHARES_FILE} (dev only)")
    print(f"logs:               {cluster.root / 'logs'}")
    print("\nUse it from another shell:")
    print(f"  export KEYMGR_ADDR={addresses}")
    print(
        f"  export KEYMGR_CACERT={creds.ca} KEYMGR_CLIENT_CERT={creds.cert} "
        f"KEYMGR_CLIENT_KEY={creds.key}"
    )
    print("  keymgr keys create demo && keymgr datakey demo && keymgr operator status")
    print("  keymgr secrets put secret/demo password=s3cr3t && keymgr secrets get secret/demo")
    print("\nCtrl-C stops the cluster.", flush=True)
