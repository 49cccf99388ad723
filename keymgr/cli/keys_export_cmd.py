"""`keymgr keys destinations NAME`: where a key's material was exported to (the bundle
records the cluster keeps: destination, wrapping-key fingerprint, approvers, time)."""

from __future__ import annotations

import argparse
from typing import Any

from keymgr.cli.common import add_connection_flags, client_from, format_time_ms, print_json, to_dict
from keymgr.v1 import store_pb2


def register(commands: Any) -> None:
    destinations = commands.add_parser(
        "destinations",
        help="every export of a key: destination, usage, wrapping key fingerprint, approvers, time",
        description="Example: keymgr keys destinations orders",
    )
    destinations.add_argument("name", help="key name or id")
    add_connection_flags(destinations)
    destinations.set_defaults(func=run_destinations)


def where(bundle: store_pb2.ExportBundle) -> str:
    """`aws`, or `aws:prod-eu` when the export named which one."""
    if bundle.destination_name:
        return f"{bundle.destination}:{bundle.destination_name}"
    return bundle.destination


def run_destinations(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        bundles = client.list_export_bundles(args.name)
    if args.json:
        print_json([to_dict(bundle) for bundle in bundles])
        return 0
    if not bundles:
        print(f"{args.name}: never exported")
        return 0
    for b in bundles:
        kek = f" kek={b.kek_id}" if b.kek_id else ""
        print(
            f"{format_time_ms(b.exported_at_ms)}  v{b.version}  {where(b):<8} "
            f"{b.algorithm}  usage={b.usage or '-'}  "
            f"wrapping-key-sha256={b.wrapping_key_sha256.hex()}{kek}  "
            f"by={b.exported_by} approvers={','.join(b.approvers) or '-'}  record={b.id}"
        )
    return 0
