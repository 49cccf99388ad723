"""`keymgr report byok`: keys whose current version has not reached every destination
it was exported to before (after a rotation or a new import), one line per (key,
destination), exit 2 when any, so a rotation can be pushed out and monitored."""

from __future__ import annotations

import argparse
import time
from typing import Any

from keymgr.cli.common import add_connection_flags, client_from, format_time_ms, print_json
from keymgr.client import NotFound
from keymgr.ops.byok_coverage import checked, missing_pushes
from keymgr.v1 import store_pb2

EXIT_MISSING = 2


def register(commands: Any) -> None:
    byok = commands.add_parser(
        "byok",
        help="keys whose current version was not exported to every destination it went to",
        description="A destination counts for a key once any version of the key was "
        "exported to it (keymgr keys destinations NAME). Prints one line per (key, "
        "destination) still on an older version. Exit code 2 when any (for monitoring).",
    )
    add_connection_flags(byok)
    byok.set_defaults(func=run_byok)


def run_byok(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        keys = [key for key in client.iter_keys() if checked(key)]
        bundles: dict[str, list[store_pb2.ExportBundle]] = {}
        for key in keys:
            try:
                bundles[key.id] = client.list_export_bundles(key.id)
            except NotFound:  # deleted since it was listed: nothing to push
                bundles[key.id] = []
    missing = missing_pushes(keys, bundles)
    exported = sum(1 for key in keys if bundles[key.id])
    if args.json:
        print_json(
            {
                "generated_at_ms": int(time.time() * 1000),
                "keys_exported": exported,
                "missing": [m.as_dict() for m in missing],
            }
        )
    elif not missing:
        print(f"{exported} exported keys: every destination has the current version")
    else:
        for m in missing:
            print(
                f"{m.key_name}  v{m.current_version} not sent to {m.where}  (it has "
                f"v{m.last_version}, exported {format_time_ms(m.last_exported_at_ms)} to "
                f"wrapping-key-sha256={m.last_wrapping_key_sha256.hex()})"
            )
    return EXIT_MISSING if missing else 0
