"""`keymgr drill chaos`: the fault suite on an own local cluster, a table per fault."""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
from pathlib import Path

from rich.console import Console

from keymgr.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    CliError,
    print_json,
    print_rich_table,
)
from keymgr.ops.chaos import TABLE_HEADERS, ChaosDrill, ChaosOptions, ChaosReport, table_rows
from keymgr.ops.chaos_faults import FAULTS


def add_flags(parser: argparse.ArgumentParser) -> None:
    """The chaos-only flags of `keymgr drill`."""
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="chaos: seed of every random choice (printed; default: random)",
    )
    parser.add_argument(
        "--faults",
        default=",".join(FAULTS),
        help=f"chaos: comma-separated faults to cycle through ({', '.join(FAULTS)})",
    )
    parser.add_argument(
        "--round-seconds",
        type=float,
        default=25.0,
        help="chaos: length of one round (5-300 s, default 25)",
    )
    parser.add_argument(
        "--max-staleness",
        type=float,
        default=1.0,
        help="chaos: the cluster's serving.max_staleness_s (default 1.0 s), "
        "the bound of the disable and read-your-writes checks",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="chaos: serving processes per node (1-8, default 1): with 2 or "
        "more, the faults hit nodes whose workers serve too",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.5,
        help="chaos: added to --max-staleness by those checks (default 0.5 s)",
    )


def options_from(args: argparse.Namespace) -> ChaosOptions:
    if args.dir or args.remote:
        raise CliError(
            "chaos: runs on its own local cluster (no --dir or --remote)", code=EXIT_USAGE
        )
    faults = tuple(f.strip() for f in args.faults.split(",") if f.strip())
    unknown = [f for f in faults if f not in FAULTS]
    if unknown or not faults:
        raise CliError(
            f"--faults: unknown fault {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(FAULTS)}",
            code=EXIT_USAGE,
        )
    if not 5 <= args.round_seconds <= 300:
        raise CliError("--round-seconds: must be between 5 and 300", code=EXIT_USAGE)
    if args.nodes not in (0, 3, 5):
        raise CliError("--nodes: chaos runs 3 or 5 nodes", code=EXIT_USAGE)
    if not 0 < args.max_staleness <= 60:
        raise CliError("--max-staleness: must be > 0 and <= 60 seconds", code=EXIT_USAGE)
    if not 1 <= args.processes <= 8:
        raise CliError("--processes: must be between 1 and 8", code=EXIT_USAGE)
    if not 0 <= args.tolerance <= 60:
        raise CliError("--tolerance: must be >= 0 and <= 60 seconds", code=EXIT_USAGE)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 1 << 24)
    return ChaosOptions(
        rounds=args.rounds,
        seed=seed,
        nodes=args.nodes or 3,
        processes=args.processes,
        faults=faults,
        round_s=args.round_seconds,
        staleness_s=args.max_staleness,
        tolerance_s=args.tolerance,
    )


def run_chaos(args: argparse.Namespace) -> int:
    options = options_from(args)
    console = Console(stderr=True)
    console.print(
        f"keymgr drill chaos: seed {options.seed} (replay with --seed "
        f"{options.seed}), {options.rounds} rounds of {options.round_s:g}s, "
        f"{options.nodes} nodes, {options.processes} process(es) each"
    )
    root = Path(tempfile.mkdtemp(prefix="keymgr-drill-chaos-"))
    try:
        report = ChaosDrill(root, options, progress=console.print).execute()
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print_json(report.to_json())
    else:
        print_report(report)
    return 0 if report.passed else EXIT_FAILURE


def print_report(report: ChaosReport) -> None:
    console = print_rich_table(
        f"keymgr drill chaos (seed {report.seed}, {report.nodes} nodes)",
        TABLE_HEADERS,
        table_rows(report),
        left=("Fault",),
        width=180,
    )
    for note in report.notes:
        console.print(f"  note: {note}")
    for r in report.rounds:
        for line in r.violations[:10]:
            console.print(f"  round {r.number} {r.fault}: {line}")
    console.print(
        f"seed {report.seed}: " + ("[green]PASS[/green]" if report.passed else "[red]FAIL[/red]")
    )
