"""`keymgr dev up`: a local 3-node cluster on loopback, initialised and unsealed.

Dev only: every node uses the `file` seal, and the unseal shares are written to a
0600 file in the cluster directory so that it can be restarted unattended.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import threading
from pathlib import Path
from typing import Any

import yaml

from keymgr.cli.common import EXIT_USAGE, CliError
from keymgr.ops.devcluster import ClusterSpec, LocalCluster, NodeExited, default_spec
from keymgr.ops.ports import bindable

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
    _check_ports_free(root, spec, args.base_port)
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
        _print_summary(cluster, cluster.write_env_file())
        stop.wait()
    except KeyboardInterrupt:
        pass
    except NodeExited as exc:
        raise CliError(str(exc)) from None
    finally:
        print("\nstopping the cluster...", flush=True)
        cluster.close()
    return 0


def _check_ports_free(root: Path, spec: ClusterSpec, base_port: int) -> None:
    """Fails with the busy port and a command that works, before any node starts (a
    node that cannot bind exits, and the user would get that node's log instead)."""
    for node in spec.nodes:
        for what, address in (("API", node.api), ("Raft", node.raft)):
            host, _, port = address.rpartition(":")
            if bindable(host, int(port), reuse_address=True):
                continue
            running = _running_dev_cluster(root)
            if running:
                raise CliError(
                    f"a dev cluster from {root} is already running ({running}); stop it "
                    "with Ctrl-C, or start another with its own directory and ports: "
                    f"{_another(root, spec, base_port)}"
                )
            raise CliError(
                f"port {port} ({node.id} {what}) on {host} is in use by another program; "
                f"choose other ports (node N's API port is --base-port + N-1, its Raft "
                f"port API + 100): {_another(root, spec, base_port)}"
            )


def _running_dev_cluster(root: Path) -> str:
    try:
        cluster = LocalCluster.attach(root)
    except (FileNotFoundError, OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
        return ""
    return ", ".join(f"{node_id} pid {pid}" for node_id, pid in cluster.foreign.items())


def _another(root: Path, spec: ClusterSpec, base_port: int) -> str:
    """The dev-up command line for free ports (and a new directory if this one was made
    with the old ports: its Raft peers are those addresses)."""
    count = len(spec.nodes)
    for base in range(base_port + 200, 65000 - count, 100):
        ports = [*range(base, base + count), *range(base + 100, base + 100 + count)]
        if all(bindable("127.0.0.1", p, reuse_address=True) for p in ports):
            new_dir = f" --dir {root}-{base}" if any(root.glob("node*.yaml")) else ""
            return f"./scripts/dev-up --base-port {base}{new_dir}"
    return "./scripts/dev-up --base-port N (no free range found above the busy one)"


def _print_summary(cluster: LocalCluster, env_file: Path) -> None:
    creds = cluster.credentials
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
    print("\nUse it from another shell, in any directory (puts keymgr on PATH, sets KEYMGR_*):")
    print(f"  . {shlex.quote(str(env_file))}")
    print("  keymgr keys create demo && keymgr datakey demo && keymgr operator status")
    print("  keymgr secrets put secret/demo password=s3cr3t && keymgr secrets get secret/demo")
    print("\nCtrl-C stops the cluster.", flush=True)
