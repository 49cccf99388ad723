"""`keymgr keys export-wrapped NAME --to DEST --wrapping-key PEM`: one command over the
split-key export flow (`keymgr export request` + approvals + `keymgr export fetch`).

Run it once: it files the export request and exits 3 with the operation id, the command
the approvers run and the command to run again. Run it again once approved: it finds the
caller's approved, unused, unexpired grant for that key version and writes the payload,
exactly as `export fetch` does (the grant is used once). While the request still waits
for approvals it files no second one.
"""

from __future__ import annotations

import argparse
import os
import shlex
import time
from collections.abc import Iterable
from typing import Any

from keymgr.cli.access_cmd import (
    DESTINATIONS,
    add_export_flags,
    export_inputs,
    fetch_export,
)
from keymgr.cli.common import add_connection_flags, client_from, print_json, to_dict
from keymgr.v1 import store_pb2

EXIT_APPROVAL_NEEDED = 3
EXECUTED = store_pb2.OPERATION_STATE_EXECUTED
PENDING = store_pb2.OPERATION_STATE_PENDING
_CONNECTION = (
    ("--address", "address", "KEYMGR_ADDR"),
    ("--ca", "ca", "KEYMGR_CACERT"),
    ("--cert", "cert", "KEYMGR_CLIENT_CERT"),
    ("--key", "key", "KEYMGR_CLIENT_KEY"),
)


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "export-wrapped",
        help="export a key version wrapped for a destination (files the approval request "
        "first; exit 3 until approved)",
        description="Example:\n  keymgr keys export-wrapped orders --to aws "
        "--wrapping-key WrappingPublicKey.pem --out orders.bin\n"
        "  (exit 3: another admin runs the printed `keymgr approvals approve ID`)\n"
        "  keymgr keys export-wrapped orders --to aws "
        "--wrapping-key WrappingPublicKey.pem --out orders.bin\n"
        "Exit codes: 0 written, 3 waiting for approvals, 1 usage, 2 refused.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", help="key name or id")
    parser.add_argument(
        "--to",
        required=True,
        choices=[d for d in DESTINATIONS if d],
        help="the destination whose import format to write",
    )
    parser.add_argument(
        "--wrapping-key",
        required=True,
        metavar="PEM",
        help="the destination's RSA wrapping public key (PEM)",
    )
    parser.add_argument(
        "--out", required=True, metavar="FILE", help="file for the wrapped key (created, 0600)"
    )
    parser.add_argument("--version", type=int, default=0, help="0 = the current version")
    parser.add_argument(
        "--ttl",
        type=int,
        default=0,
        metavar="SECONDS",
        help="how long the request, then the grant, stay valid (default: the server's)",
    )
    add_export_flags(parser)
    add_connection_flags(parser)
    parser.set_defaults(func=run_export_wrapped)


def usable_grant(
    operations: Iterable[store_pb2.PendingOperation],
    used: set[str],
    principal: str,
    key_id: str,
    version: int,
    now_ms: int,
) -> tuple[store_pb2.PendingOperation | None, store_pb2.PendingOperation | None]:
    """(an approved, unused, unexpired grant, a request still waiting) of `principal`
    for this key version; either may be None. `used`: ids of grants already exported."""
    ready = waiting = None
    for op in operations:
        if op.kind != "export-key" or op.requester != principal:
            continue
        grant = op.command.grant_export.grant
        if grant.key_id != key_id or grant.version != version:
            continue
        if op.state == EXECUTED and op.id not in used and grant.expires_at_ms > now_ms:
            ready = op
        elif op.state == PENDING and op.expires_at_ms > now_ms:
            waiting = op
    return ready, waiting


def rerun_command(args: argparse.Namespace) -> str:
    """This command line again (connection flags only where they differ from KEYMGR_*)."""
    words = [
        "keymgr",
        "keys",
        "export-wrapped",
        args.name,
        "--to",
        args.to,
        "--wrapping-key",
        args.wrapping_key,
        "--out",
        args.out,
    ]
    if args.version:
        words += ["--version", str(args.version)]
    for flag, dest in (
        ("--algorithm", "algorithm"),
        ("--kek-id", "kek_id"),
        ("--destination-name", "destination_name"),
        ("--usage", "usage"),
        ("--import-token", "import_token"),
        ("--out-import-token", "out_import_token"),
    ):
        if getattr(args, dest):
            words += [flag, getattr(args, dest)]
    for flag, dest, variable in _CONNECTION:
        if getattr(args, dest) != os.environ.get(variable, ""):
            words += [flag, getattr(args, dest)]
    return shlex.join(words)


def run_export_wrapped(args: argparse.Namespace) -> int:
    inputs = export_inputs(args, "--wrapping-key", args.wrapping_key)
    with client_from(args) as client:
        key = client.get_key(args.name)
        version = args.version or key.current_version
        principal = client.whoami().principal
        operations = client.list_approvals(include_decided=True).operations
        used = {bundle.id for bundle in client.list_export_bundles(key.id)}
        ready, waiting = usable_grant(
            operations, used, principal, key.id, version, int(time.time() * 1000)
        )
        op = ready or waiting
        if op is None:
            op = client.request_export(key.id, version=version, ttl_seconds=args.ttl)
        if op.state == EXECUTED:  # approved (or no approvals required): use the grant
            fetch_export(client, args, op.id, args.to, inputs)
            return 0
    approve = f"keymgr approvals approve {op.id}"
    rerun = rerun_command(args)
    if args.json:
        print_json(
            {
                "state": "approval-needed",
                "operation": to_dict(op),
                "approve_command": approve,
                "rerun_command": rerun,
            }
        )
        return EXIT_APPROVAL_NEEDED
    filed = "waits" if waiting is not None else "was filed"
    print(
        f"export of key {key.name!r} version {version} to {args.to} needs approvals: "
        f"request {op.id} {filed} ({len(op.approvals)}/{op.required} approvals)\n"
        f"Another admin approves with: {approve}\n"
        f"Then run again:              {rerun}"
    )
    return EXIT_APPROVAL_NEEDED
