"""`keymgr bench`: throughput and latency of keymgr against OpenBao, same run."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from keymgr.cli.common import EXIT_USAGE, CliError

BENCH_INSTALL_HINT = (
    "the benchmarks are not installed (package keymgr_bench): from a keymgr checkout run "
    "`KEYMGR_EXTRAS=bench source scripts/bootstrap` or `.venv/bin/pip install -e ./bench`"
)


def bench_module(name: str) -> ModuleType:
    """`keymgr_bench.<name>`, imported only when a bench command runs (nodes never
    install it); a clear CliError naming what to install when it is missing."""
    try:
        return importlib.import_module(f"keymgr_bench.{name}")
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.split(".")[0] in ("keymgr_bench", "aiohttp"):
            raise CliError(BENCH_INSTALL_HINT) from None
        raise


DEFAULT_SCENARIOS = (
    "datakey,decrypt-leader,decrypt-follower,create-key,batch-datakey,batch-encrypt,batch-decrypt"
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="benchmark a local cluster against OpenBao (not a test)",
        description="Starts a fresh local 3-node keymgr cluster, runs each scenario at "
        "each concurrency for --duration seconds, then does the same against a 3-node "
        "OpenBao 2.7.2 cluster, and prints both with ratios.\n\n"
        "batch-* scenarios send 100 keys per call (OpenBao: transit batch_input) and are "
        "also reported in keys/s.\n\n"
        "Example: keymgr bench --duration 10 --json bench-results/bench.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per window")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", default="16,64", help="comma-separated")
    parser.add_argument(
        "--scenario",
        default=DEFAULT_SCENARIOS + ",datakey-all-nodes",
        help="comma-separated scenario names",
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the median is kept")
    parser.add_argument("--no-openbao", action="store_true", help="measure keymgr only")
    parser.add_argument(
        "--openbao",
        default="plain,production",
        help="OpenBao peers: plain (HTTP, no audit) and/or production (HTTPS listeners and "
        "a file audit device, as OpenBao runs in production); default both",
    )
    parser.add_argument(
        "--processes",
        default="0",
        help="serving processes per node, comma-separated to print the scaling "
        "(e.g. 1,2); 0 = one per core; the last is compared with OpenBao",
    )
    parser.add_argument("--json", default="", help="write the JSON report here")
    parser.add_argument(
        "--audit-sink-cost",
        action="store_true",
        help="also run datakey with every node auditing to /dev/null, to show what "
        "writing the audit file costs",
    )
    parser.add_argument(
        "--grpc-floor",
        action="store_true",
        help="also measure a trivial Python gRPC server with keymgr's listener and mTLS "
        "answering datakey with a fixed response: the most any Python gRPC server shows "
        "on this machine (rows 'datakey grpc floor')",
    )
    parser.set_defaults(func=run)

    clients = subparsers.add_parser(
        "bench-clients",
        help="volume unlock latency and GetMasterKey throughput (not a test)",
        description="Starts a fresh local 3-node cluster; measures unlock latency through "
        "the volume agent (unwrap + cryptsetup --test-passphrase) and GetMasterKey "
        "throughput. Example: keymgr bench-clients --unlocks 200 --threads 8",
    )
    clients.add_argument("--unlocks", type=int, default=100)
    clients.add_argument("--threads", type=int, default=8)
    clients.add_argument("--seconds", type=float, default=5.0)
    clients.add_argument(
        "--default-kdf", action="store_true", help="cryptsetup's default KDF (slow by design)"
    )
    clients.add_argument("--json", default="", help="write the JSON report here")
    clients.set_defaults(func=run_clients)

    kv = subparsers.add_parser(
        "bench-secrets",
        help="KV v2 reads/writes per second: keymgr gateway vs OpenBao (not a test)",
        description="Starts a fresh local 3-node cluster with `keymgr gateway` in front "
        "and measures KV v2 reads (GET secret/data/...) and writes (POST, a new version "
        "through Raft with fsync) per second; then the same against a 3-node OpenBao "
        "2.7.2 Raft cluster (HTTPS, file audit); prints both with the ratio.\n\n"
        "Example: keymgr bench-secrets --duration 10 --concurrency 16",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kv.add_argument("--duration", type=float, default=10.0, help="seconds per window")
    kv.add_argument("--warmup", type=float, default=1.0)
    kv.add_argument("--concurrency", default="16", help="comma-separated")
    kv.add_argument("--scenario", default="kv-read,kv-write", help="kv-read and/or kv-write")
    kv.add_argument("--repeat", type=int, default=1, help="rounds; the median is kept")
    kv.add_argument("--seed", type=int, default=1, help="seed of the values written")
    kv.add_argument("--no-openbao", action="store_true", help="measure keymgr only")
    kv.add_argument("--json", default="", help="write the JSON report here")
    kv.set_defaults(func=run_secrets)

    scale = subparsers.add_parser(
        "bench-scale",
        help="memory, idle CPU, snapshot, restart and catch-up per key count (not a test)",
        description="Starts a fresh local 3-node cluster and fills it to each key count "
        "through the API; at each count prints memory per key, idle CPU per node, the "
        "newest snapshot's size and timings, a follower's restart-to-serving time, a "
        "rebuilt follower's catch-up time, and whether an election happened. Minutes at "
        "100,000 keys. Example: keymgr bench-scale --keys 10000,100000",
    )
    scale.add_argument("--keys", default="10000", help="comma-separated key counts")
    scale.add_argument("--in-flight", type=int, default=64, help="CreateKey calls at once")
    scale.add_argument("--json", default="", help="write the JSON report here")
    scale.set_defaults(func=run_scale)


def run_scale(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    scale_module = bench_module("bench_scale")
    bench_scale, to_json = scale_module.bench_scale, scale_module.to_json

    try:
        counts = [int(v) for v in args.keys.split(",") if v.strip()]
    except ValueError:
        raise CliError("--keys: expected comma-separated integers", code=EXIT_USAGE) from None
    if not counts or any(c < 100 or c > 10_000_000 for c in counts):
        raise CliError("--keys: values must be 100..10000000", code=EXIT_USAGE)
    if not 1 <= args.in_flight <= 1024:
        raise CliError("--in-flight must be 1..1024", code=EXIT_USAGE)

    def progress(line: str) -> None:
        print(line, flush=True)

    points = asyncio.run(bench_scale(counts, in_flight=args.in_flight, progress=progress))
    if args.json:
        Path(args.json).write_text(json.dumps(to_json(points), indent=2) + "\n")
    return 0


def _ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CliError(f"{flag}: expected comma-separated integers", code=EXIT_USAGE) from None
    if not values or any(v < 1 or v > 1024 for v in values):
        raise CliError(f"{flag}: values must be 1..1024", code=EXIT_USAGE)
    return values


def _openbao_setups(text: str) -> list[bool]:
    """`plain,production` -> [False, True]: which OpenBao peers to measure."""
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names or any(n not in ("plain", "production") for n in names):
        raise CliError("--openbao: expected plain, production or both", code=EXIT_USAGE)
    return [n == "production" for n in dict.fromkeys(names)]


def _process_counts(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CliError("--processes: expected comma-separated integers", code=EXIT_USAGE) from None
    if not values or any(v < 0 or v > 64 for v in values):
        raise CliError("--processes: values must be 0..64", code=EXIT_USAGE)
    return values


def run(args: argparse.Namespace) -> int:
    bench_keymgr = bench_module("bench").bench_keymgr
    report = bench_module("bench_report")
    print_report, write_report = report.print_report, report.write_report

    concurrencies = _ints(args.concurrency, "--concurrency")
    process_counts = _process_counts(args.processes)
    setups = [] if args.no_openbao else _openbao_setups(args.openbao)
    scenarios = [s.strip() for s in args.scenario.split(",") if s.strip()]
    if args.duration <= 0 or args.repeat < 1:
        raise CliError("--duration must be > 0 and --repeat >= 1", code=EXIT_USAGE)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    ours: dict[tuple[str, int], Any] = {}
    for count in process_counts:
        results = asyncio.run(
            bench_keymgr(
                scenarios=scenarios,
                concurrencies=concurrencies,
                duration_s=args.duration,
                warmup_s=args.warmup,
                repeats=args.repeat,
                progress=progress,
                processes=count,
            )
        )
        last = count == process_counts[-1]
        for (name, concurrency), result in results.items():
            label = name if last else f"{name} ({count or 'auto'} proc/node)"
            ours[(label, concurrency)] = result
    theirs = None
    meta: dict[str, Any] = {
        "duration_s": args.duration,
        "repeats": args.repeat,
        "processes_per_node": process_counts,
    }
    if not args.no_openbao:
        peer = bench_module("openbao_peer")

        peer_scenarios = [s for s in scenarios if s in peer.SCENARIOS]
        theirs = {}
        for production in setups:
            with peer.OpenBaoCluster(production=production) as cluster:
                meta["openbao" + (" (production)" if production else "")] = cluster.description
                results = asyncio.run(
                    peer.bench_openbao(
                        cluster,
                        scenarios=peer_scenarios,
                        concurrencies=concurrencies,
                        duration_s=args.duration,
                        warmup_s=args.warmup,
                        repeats=args.repeat,
                        progress=progress,
                    )
                )
            for (name, concurrency), result in results.items():
                # the production peer's rows: keymgr's same run against it
                label = f"{name} vs TLS+audit" if production else name
                theirs[(label, concurrency)] = result
                if production and (name, concurrency) in ours:
                    ours[(label, concurrency)] = ours[(name, concurrency)]
    if args.audit_sink_cost:
        null_audit = asyncio.run(
            bench_keymgr(
                scenarios=["datakey"],
                concurrencies=concurrencies,
                duration_s=args.duration,
                warmup_s=args.warmup,
                repeats=args.repeat,
                progress=progress,
                audit_to="/dev/null",
            )
        )
        for (name, concurrency), result in null_audit.items():
            ours[(f"{name}-audit-devnull", concurrency)] = result
    if args.grpc_floor:
        _add_floor_rows(args, concurrencies, process_counts[-1], ours, theirs, meta, progress)
    print_report(ours, theirs, meta=meta)
    if args.json:
        write_report(args.json, ours, theirs, meta=meta)
    return 0


def _add_floor_rows(
    args: argparse.Namespace,
    concurrencies: list[int],
    processes: int,
    ours: dict[tuple[str, int], Any],
    theirs: dict[tuple[str, int], Any] | None,
    meta: dict[str, Any],
    progress: Callable[[str], None],
) -> None:
    """The gRPC floor's rows, next to OpenBao's datakey so the ratio column compares
    them; and keymgr's share of the floor in `meta`."""
    floor_module = bench_module("grpc_floor")
    count = processes or os.cpu_count() or 1
    floor = asyncio.run(
        floor_module.bench_grpc_floor(
            concurrencies=concurrencies,
            duration_s=args.duration,
            warmup_s=args.warmup,
            repeats=args.repeat,
            processes=count,
            progress=progress,
        )
    )
    for (name, concurrency), result in floor.items():
        label = f"{name} grpc floor"
        ours[(label, concurrency)] = result
        if theirs is not None and (name, concurrency) in theirs:
            theirs[(label, concurrency)] = theirs[(name, concurrency)]
        mine = ours.get((name, concurrency))
        if mine is not None and result.ops_per_s:
            meta[f"keymgr/grpc floor {name} c={concurrency}"] = (
                f"{mine.ops_per_s / result.ops_per_s:.2f}x ops/s, "
                f"{mine.cpu_ms_per_op:.3f} vs {result.cpu_ms_per_op:.3f} server CPU ms/op"
            )
    meta["grpc floor"] = (
        f"{count} process(es) of a trivial Python gRPC server with keymgr's listener "
        "options and mTLS, answering GenerateDataKey with a fixed response "
        "(keymgr_bench/grpc_floor.py)"
    )


def run_secrets(args: argparse.Namespace) -> int:
    report = bench_module("bench_report")
    kv = bench_module("bench_secrets")
    concurrencies = _ints(args.concurrency, "--concurrency")
    scenarios = [s.strip() for s in args.scenario.split(",") if s.strip()]
    unknown = [s for s in scenarios if s not in kv.SCENARIOS]
    if not scenarios or unknown:
        raise CliError(f"--scenario: expected {', '.join(kv.SCENARIOS)}", code=EXIT_USAGE)
    if args.duration <= 0 or args.warmup < 0 or args.repeat < 1:
        raise CliError("--duration must be > 0, --warmup >= 0, --repeat >= 1", code=EXIT_USAGE)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    common: dict[str, Any] = {
        "scenarios": scenarios,
        "concurrencies": concurrencies,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "repeats": args.repeat,
        "seed": args.seed,
        "progress": progress,
    }
    ours, about_ours = asyncio.run(kv.bench_keymgr_kv(**common))
    meta: dict[str, Any] = {
        "keymgr": about_ours,
        "duration_s": args.duration,
        "repeats (median kept)": args.repeat,
        "seed": args.seed,
    }
    theirs = None
    if not args.no_openbao:
        theirs, about_theirs = asyncio.run(kv.bench_openbao_kv(**common))
        meta["openbao"] = about_theirs
    report.print_report(ours, theirs, meta=meta)
    if args.json:
        report.write_report(args.json, ours, theirs, meta=meta)
    return 0


def run_clients(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    bench_clients = bench_module("bench_clients").bench_clients

    if args.unlocks < 1 or args.threads < 1 or args.seconds <= 0:
        raise CliError("--unlocks, --threads must be >= 1, --seconds > 0", code=EXIT_USAGE)
    report = bench_clients(
        unlocks=args.unlocks,
        threads=args.threads,
        seconds=args.seconds,
        fast_kdf=not args.default_kdf,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    text = json.dumps(report, indent=2, sort_keys=True)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0
