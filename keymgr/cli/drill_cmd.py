"""`keymgr drill leader-loss|zone-loss|full-restart|chaos`: drills on a local cluster."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console

from keymgr.cli import chaos_cmd
from keymgr.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    CliError,
    add_connection_flags,
    credentials_from,
    endpoints,
    print_json,
    print_rich_table,
)
from keymgr.ops.devcluster import ClusterSpec, LocalCluster, default_spec
from keymgr.ops.drill import KINDS, TABLE_HEADERS, Drill, DrillReport, Kind, table_rows
from keymgr.ops.drill_remote import RemoteCluster

SHARES_FILE = "unseal-shares.txt"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "drill",
        help="failover drills: fault under load, measure RTO, verify RPO = 0",
        description="Runs a failover drill. By default it starts its own local cluster "
        "(3 nodes; 5 nodes in 3 zones for zone-loss) and removes it afterwards; "
        "--dir reuses a `keymgr dev up` cluster directory.\n\n"
        "Examples: keymgr drill leader-loss --rounds 10\n"
        "          keymgr drill chaos --rounds 8 --seed 7   (every fault, consistency check)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=(*KINDS, "chaos"), help="the fault to make")
    parser.add_argument("--rounds", type=int, default=3, help="rounds to run (1-100)")
    parser.add_argument("--dir", default="", help="reuse this `keymgr dev up` cluster directory")
    parser.add_argument("--nodes", type=int, default=0, help="nodes of the drill's own cluster")
    parser.add_argument("--keep", action="store_true", help="keep the drill's own cluster dir")
    parser.add_argument(
        "--remote",
        action="store_true",
        help="drill a running cluster through its API (--address/--ca/--cert/--key or "
        "KEYMGR_*): the fault is the leader stepping down; leader-loss only",
    )
    chaos_cmd.add_flags(parser)
    add_connection_flags(parser)  # also --json
    parser.set_defaults(func=run_drill)


def _own_spec(kind: str, nodes: int) -> ClusterSpec:
    count = nodes or (5 if kind == "zone-loss" else 3)
    spec = default_spec(count)
    if kind == "zone-loss":
        for i, node in enumerate(spec.nodes):  # a, a, b, b, c, ...: 3 zones for 5 nodes
            node.zone = f"zone-{chr(ord('a') + i // 2)}"
    spec.min_deletion_window_s = 1
    return spec


def run_drill(args: argparse.Namespace) -> int:
    if not 1 <= args.rounds <= 100:
        raise CliError("--rounds: must be between 1 and 100", code=EXIT_USAGE)
    if args.nodes and not 3 <= args.nodes <= 7:
        raise CliError("--nodes: must be between 3 and 7", code=EXIT_USAGE)
    if args.kind == "chaos":
        return chaos_cmd.run_chaos(args)
    console = Console(stderr=True)
    if args.remote:
        return _run_remote(args, console)
    own = not args.dir
    tmp: Path | None = None
    if own:
        tmp = Path(tempfile.mkdtemp(prefix=f"keymgr-drill-{args.kind}-"))
        cluster = LocalCluster(tmp, _own_spec(args.kind, args.nodes))
        console.print(f"starting a local {len(cluster.spec.nodes)}-node cluster in {tmp}")
        try:
            shares = cluster.bring_up()
        except Exception:
            cluster.close()
            raise
    else:
        root = Path(args.dir)
        if not root.is_dir():
            raise CliError(f"--dir: not a directory: {root}", code=EXIT_USAGE)
        cluster = LocalCluster.attach(root)
        shares_file = root / SHARES_FILE
        shares = shares_file.read_text().split() if shares_file.exists() else []
    kind: Kind = args.kind
    try:
        with console.status(f"drill {kind}: starting") as status:

            def progress(message: str) -> None:
                if message.startswith("round ") and (" pass:" in message or " FAIL:" in message):
                    console.print(message)
                status.update(f"drill {kind}: {message}")

            report = Drill(cluster, kind, shares=shares, progress=progress).execute(args.rounds)
    finally:
        if own:
            cluster.close()
            if tmp is not None and not args.keep:
                shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print_json(report.to_json())
    else:
        _print_report(report)
    return 0 if report.passed else EXIT_FAILURE


def _run_remote(args: argparse.Namespace, console: Console) -> int:
    if args.kind != "leader-loss":
        raise CliError("--remote: only leader-loss can be drilled remotely", code=EXIT_USAGE)
    if args.dir or args.nodes:
        raise CliError("--remote: --dir and --nodes are for local clusters", code=EXIT_USAGE)
    cluster = RemoteCluster(endpoints(args), credentials_from(args))
    console.print(
        f"drilling {len(cluster.spec.nodes)} remote nodes: "
        + ", ".join(f"{n.id} ({n.api})" for n in cluster.spec.nodes)
    )
    with console.status("drill leader-loss (remote): starting") as status:

        def progress(message: str) -> None:
            if message.startswith("round ") and (" pass:" in message or " FAIL:" in message):
                console.print(message)
            status.update(f"drill leader-loss (remote): {message}")

        report = Drill(cluster, "leader-loss", progress=progress).execute(args.rounds)
    if args.json:
        print_json(report.to_json())
    else:
        _print_report(report)
    return 0 if report.passed else EXIT_FAILURE


def _print_report(report: DrillReport) -> None:
    console = print_rich_table(
        f"keymgr drill {report.kind}",
        TABLE_HEADERS,
        table_rows(report),
        left=("Victims", "New leader"),
    )
    console.print(
        f"median RTO {report.median_rto_s}s, max RTO {report.max_rto_s}s, "
        f"keys cleaned up {report.keys_cleaned}: "
        + ("[green]PASS[/green]" if report.passed else "[red]FAIL[/red]")
    )
    for failure in report.failures:
        console.print(f"  - {failure}")
