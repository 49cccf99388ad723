"""`keymgr keys create|get|list|rotate|enable|disable|schedule-deletion|cancel-deletion`
(import-params and import: keys_import_cmd)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from keymgr.cli import keys_export_cmd, keys_export_wrapped_cmd, keys_import_cmd
from keymgr.cli.common import (
    add_connection_flags,
    client_from,
    format_time_ms,
    parse_context,
    print_fields,
    print_json,
    print_table,
    to_dict,
)
from keymgr.v1 import keys_pb2

PURPOSES = {
    "encrypt": keys_pb2.KEY_PURPOSE_ENCRYPT,
    "tde": keys_pb2.KEY_PURPOSE_TDE,
    "volume": keys_pb2.KEY_PURPOSE_VOLUME,
    "hsm": keys_pb2.KEY_PURPOSE_HSM,
}


def _state(key: keys_pb2.Key) -> str:
    return keys_pb2.KeyState.Name(key.state).removeprefix("KEY_STATE_").lower()


def _purpose(key: keys_pb2.Key) -> str:
    return keys_pb2.KeyPurpose.Name(key.purpose).removeprefix("KEY_PURPOSE_").lower()


def _origin(origin: int) -> str:
    return "external" if origin == keys_pb2.KEY_ORIGIN_EXTERNAL else "keymgr"


def _exportable(key: keys_pb2.Key) -> str:
    if key.purpose == keys_pb2.KEY_PURPOSE_HSM:
        return "no (HSM-held)"
    return "no (fixed at creation)" if key.non_exportable else "yes, with approvals"


def expiry_word(version: keys_pb2.KeyVersion) -> str:
    """`-` (never), the expiry time, or the expired state of imported material."""
    if version.material_expired:
        return "expired (material erased)"
    if not version.expires_at_ms:
        return "-"
    if version.expires_at_ms <= time.time() * 1000:
        return "expired"
    return format_time_ms(version.expires_at_ms)


def _expiry_note(version: keys_pb2.KeyVersion) -> str:
    word = expiry_word(version)
    if word == "-":
        return ""
    return f" ({word})" if word.startswith("expired") else f" (expires {word})"


def print_key(key: keys_pb2.Key, as_json: bool) -> None:
    if as_json:
        print_json(to_dict(key))
        return
    print_fields(
        [
            ("Name", key.name),
            ("ID", key.id),
            ("Purpose", _purpose(key)),
            ("State", _state(key)),
            ("Origin", _origin(key.origin)),
            ("Exportable", _exportable(key)),
            ("Current Version", key.current_version),
            ("Created", format_time_ms(key.created_at_ms)),
            ("Deletion Time", format_time_ms(key.deletion_time_ms)),
            ("Labels", ",".join(f"{k}={v}" for k, v in sorted(key.labels.items())) or "-"),
            ("Description", key.description or "-"),
            *(
                (f"Version {v.version}", format_time_ms(v.created_at_ms) + _expiry_note(v))
                for v in key.versions
            ),
        ]
    )


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("keys", help="manage keys")
    commands = parser.add_subparsers(dest="keys_command", required=True)

    create = commands.add_parser(
        "create",
        help="create a key",
        description="Example: keymgr keys create orders --purpose encrypt --label team=pay",
    )
    create.add_argument("name")
    create.add_argument("--purpose", choices=sorted(PURPOSES), default="encrypt")
    create.add_argument("--label", action="append", metavar="K=V", help="repeatable")
    create.add_argument("--description", default="")
    create.add_argument(
        "--rotation-period",
        type=int,
        default=0,
        metavar="SECONDS",
        help="rotate automatically every SECONDS (0 = never)",
    )
    create.add_argument(
        "--origin",
        choices=("keymgr", "external"),
        default="keymgr",
        help="external: no material until `keymgr keys import` (BYOK)",
    )
    create.add_argument(
        "--non-exportable",
        action="store_true",
        help="the material never leaves the cluster, not even wrapped (cannot be undone)",
    )
    create.add_argument("--request-id", default=None, help="idempotency key for retries")
    add_connection_flags(create)
    create.set_defaults(func=run_create)
    keys_import_cmd.register(commands)
    keys_export_cmd.register(commands)
    keys_export_wrapped_cmd.register(commands)

    for name, helptext in (
        ("get", "show a key"),
        ("rotate", "add a new key version"),
        ("enable", "enable a key"),
        ("disable", "disable a key"),
        ("cancel-deletion", "cancel a scheduled deletion (the key becomes disabled)"),
    ):
        sub = commands.add_parser(name, help=helptext)
        sub.add_argument("name", help="key name or id")
        add_connection_flags(sub)
        sub.set_defaults(func=run_simple, action=name)

    schedule = commands.add_parser(
        "schedule-deletion",
        help="schedule a key's destruction after a waiting period",
        description="Example: keymgr keys schedule-deletion orders --days 30",
    )
    schedule.add_argument("name")
    window = schedule.add_mutually_exclusive_group()
    window.add_argument("--days", type=int, default=0)
    window.add_argument("--seconds", type=int, default=0)
    add_connection_flags(schedule)
    schedule.set_defaults(func=run_schedule)

    history = commands.add_parser(
        "history", help="every version of a key: when and by whom it was made"
    )
    history.add_argument("name", help="key name or id")
    add_connection_flags(history)
    history.set_defaults(func=run_history)

    rotation = commands.add_parser(
        "set-rotation",
        help="automatic rotation period and minimum decryption version",
        description="Example: keymgr keys set-rotation orders --period 7776000",
    )
    rotation.add_argument("name")
    rotation.add_argument(
        "--period", type=int, default=0, metavar="SECONDS", help="0 = no automatic rotation"
    )
    rotation.add_argument("--min-decryption-version", type=int, default=0)
    add_connection_flags(rotation)
    rotation.set_defaults(func=run_set_rotation)

    listing = commands.add_parser("list", help="list keys")
    listing.add_argument("--page-size", type=int, default=100)
    listing.add_argument("--page-token", default="")
    listing.add_argument("--all", action="store_true", help="follow every page")
    add_connection_flags(listing)
    listing.set_defaults(func=run_list)


def run_create(args: argparse.Namespace) -> int:
    labels = parse_context(args.label, "--label")
    with client_from(args) as client:
        key = client.create_key(
            args.name,
            purpose=PURPOSES[args.purpose],
            labels=labels,
            description=args.description,
            rotation_period_seconds=args.rotation_period,
            origin=args.origin,
            non_exportable=args.non_exportable,
            request_id=args.request_id,
        )
    print_key(key, args.json)
    return 0


def run_simple(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        method = {
            "get": client.get_key,
            "rotate": client.rotate_key,
            "enable": client.enable_key,
            "disable": client.disable_key,
            "cancel-deletion": client.cancel_key_deletion,
        }[args.action]
        key = method(args.name)
    print_key(key, args.json)
    return 0


def run_schedule(args: argparse.Namespace) -> int:
    seconds = args.seconds or args.days * 86400
    with client_from(args) as client:
        key = client.schedule_key_deletion(args.name, pending_window_seconds=seconds)
    print_key(key, args.json)
    return 0


def run_list(args: argparse.Namespace) -> int:
    keys: list[keys_pb2.Key] = []
    token = args.page_token
    with client_from(args) as client:
        while True:
            page, token = client.list_keys(page_size=args.page_size, page_token=token)
            keys.extend(page)
            if not args.all or not token:
                break
    if args.json:
        print_json({"keys": [to_dict(k) for k in keys], "next_page_token": token})
        return 0
    print_table(
        ("Name", "ID", "Purpose", "State", "Version", "Created"),
        [
            (
                k.name,
                k.id,
                _purpose(k),
                _state(k),
                k.current_version,
                format_time_ms(k.created_at_ms),
            )
            for k in keys
        ],
    )
    if token:
        print(f"\nmore: --page-token {token}")
    return 0


def _period(seconds: int) -> str:
    """`none` when the key has no automatic rotation (not `- s`)."""
    return f"{seconds} s" if seconds else "none"


def run_history(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        key = client.get_key(args.name)
    if args.json:
        print_json({"key": key.name, "id": key.id, "versions": [to_dict(v) for v in key.versions]})
        return 0
    print(
        f"{key.name} ({key.id}): current version {key.current_version}, rotation period "
        f"{_period(key.rotation_period_seconds)}, min decryption version "
        f"{key.min_decryption_version or 1}\n"
    )
    print_table(
        ("Version", "Created", "Created by", "Origin", "Expires"),
        [
            (
                v.version,
                format_time_ms(v.created_at_ms),
                v.created_by or "-",
                _origin(v.origin),
                expiry_word(v),
            )
            for v in key.versions
        ],
    )
    return 0


def run_set_rotation(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        key = client.set_key_rotation(
            args.name,
            rotation_period_seconds=args.period,
            min_decryption_version=args.min_decryption_version,
        )
    print_key(key, args.json)
    return 0
