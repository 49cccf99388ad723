"""`keymgr secrets ...`: versioned secrets, read like OpenBao's `bao kv`.

A secret is named `<mount>/<path>` (`secret/apps/web`) or `-mount=secret apps/web`.
Data is given as `key=value` pairs, `key=@file` (the file's text), or `-` (a JSON
object on stdin). `-version`, `-cas`, `-field`, `-mount` work with one dash or two.
`--token` (or KEYMGR_TOKEN) makes the calls as a token's principal.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from keymgr.cli.common import (
    EXIT_USAGE,
    CliError,
    add_connection_flags,
    client_from,
    duration,
    format_time_ms,
    non_negative_int,
    print_fields,
    print_json,
    print_table,
)
from keymgr.client import (
    Client,
    MountConfig,
    Secret,
    SecretMetadata,
    SecretsClient,
    SecretVersion,
    TokenInfo,
)


def version_list(text: str) -> list[int]:
    """argparse type: "1,2,3" -> [1, 2, 3]."""
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected versions like 1,2,3, got {text!r}") from None
    if not numbers or any(n < 1 for n in numbers):
        raise argparse.ArgumentTypeError(f"versions are whole numbers from 1, got {text!r}")
    return numbers


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


# --- parser ---------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser, *, client_key_flag: str = "--key") -> None:
    add_connection_flags(parser, client_key_flag=client_key_flag)
    parser.add_argument(
        "--token",
        default=os.environ.get("KEYMGR_TOKEN", ""),
        help="act as this token's principal (KEYMGR_TOKEN)",
    )
    parser.add_argument(
        "-format", "--format", choices=["table", "json"], default="table", help="output format"
    )


def _mount_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-mount",
        "--mount",
        default="",
        help="the mount; then the path is given without it (as bao kv -mount)",
    )


def _named(parser: argparse.ArgumentParser, what: str = "secret") -> None:
    _mount_flag(parser)
    parser.add_argument("path", help=f"<mount>/<path> of the {what} (or the path with -mount)")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "secrets",
        help="versioned secrets (KV v2) under managed keys",
        description="Examples:\n  keymgr secrets put secret/apps/web password=s3cr3t\n"
        "  keymgr secrets get -field=password secret/apps/web\n"
        "  keymgr secrets get -mount=secret -version=1 apps/web",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="secrets_command", required=True)

    enable = commands.add_parser("enable", help="create a mount (admins)")
    enable.add_argument("mount")
    enable.add_argument(
        "--key",
        dest="key_name",
        default="",
        help="managed key for its values (default: new key secrets-<mount>)",
    )
    enable.add_argument("--max-versions", type=non_negative_int, default=0)
    _common(enable, client_key_flag="--client-key")
    enable.set_defaults(func=run_enable)

    mounts = commands.add_parser("mounts", help="list mounts")
    _common(mounts)
    mounts.set_defaults(func=run_mounts)

    for name, helptext in (
        ("put", "write a new version"),
        ("patch", "merge new fields into the current version"),
    ):
        sub = commands.add_parser(name, help=helptext)
        _named(sub)
        sub.add_argument(
            "-cas",
            "--cas",
            type=non_negative_int,
            default=None,
            help="write only if the current version is this (0: only if absent)",
        )
        sub.add_argument("data", nargs="*", help="key=value, key=@file, or - for JSON on stdin")
        _common(sub)
        sub.set_defaults(func=run_put if name == "put" else run_patch)

    get = commands.add_parser("get", help="read a version")
    _named(get)
    get.add_argument(
        "-version", "--version", type=non_negative_int, default=0, help="version (default: current)"
    )
    get.add_argument("-field", "--field", default="", help="print only this field's value")
    _common(get)
    get.set_defaults(func=run_get)

    listing = commands.add_parser("list", help="list a folder's entries")
    _named(listing, "folder")
    _common(listing)
    listing.set_defaults(func=run_list)

    for name, helptext, required in (
        ("delete", "soft-delete versions (default: the current one)", False),
        ("undelete", "restore soft-deleted versions", True),
        ("destroy", "remove versions for good", True),
    ):
        sub = commands.add_parser(name, help=helptext)
        _named(sub)
        sub.add_argument(
            "-versions",
            "--versions",
            type=version_list,
            required=required,
            default=[],
            help="comma-separated versions, e.g. 1,2",
        )
        _common(sub)
        sub.set_defaults(func=run_versions, action=name)

    metadata = commands.add_parser("metadata", help="a path's metadata")
    meta_commands = metadata.add_subparsers(dest="metadata_command", required=True)
    meta_get = meta_commands.add_parser("get", help="show metadata and versions")
    _named(meta_get)
    _common(meta_get)
    meta_get.set_defaults(func=run_metadata_get)
    meta_put = meta_commands.add_parser("put", help="change settings or custom metadata")
    _named(meta_put)
    _settings_flags(meta_put)
    meta_put.add_argument(
        "-custom-metadata",
        "--custom-metadata",
        action="append",
        metavar="K=V",
        help="custom metadata entry (replaces all), repeatable",
    )
    _common(meta_put)
    meta_put.set_defaults(func=run_metadata_put)
    meta_delete = meta_commands.add_parser("delete", help="delete the path and all versions")
    _named(meta_delete)
    _common(meta_delete)
    meta_delete.set_defaults(func=run_metadata_delete)

    config = commands.add_parser("config", help="a mount's settings")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    config_get = config_commands.add_parser("get", help="show a mount's settings")
    config_get.add_argument("mount")
    _common(config_get)
    config_get.set_defaults(func=run_config_get)
    config_put = config_commands.add_parser("put", help="change a mount's settings (admins)")
    config_put.add_argument("mount")
    _settings_flags(config_put)
    _common(config_put)
    config_put.set_defaults(func=run_config_put)

    token = commands.add_parser("token", help="tokens that stand for a principal")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="issue a token (admins; shown once)")
    create.add_argument("--principal", required=True, help="spiffe://keymgr/<kind>/<name>")
    create.add_argument("--ttl", type=duration, required=True, help="e.g. 1h, 30m, 7d")
    create.add_argument("--display-name", default="")
    _common(create)
    create.set_defaults(func=run_token_create)
    token_list = token_commands.add_parser("list", help="every token's public record (admins)")
    _common(token_list)
    token_list.set_defaults(func=run_token_list)
    revoke = token_commands.add_parser("revoke", help="revoke a token by accessor (admins)")
    revoke.add_argument("accessor")
    _common(revoke)
    revoke.set_defaults(func=run_token_revoke)
    lookup = token_commands.add_parser("lookup", help="the token given with --token")
    _common(lookup)
    lookup.set_defaults(func=run_token_lookup)


def _settings_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-max-versions", "--max-versions", type=non_negative_int, default=None)
    parser.add_argument("-cas-required", "--cas-required", type=_bool, default=None)
    parser.add_argument(
        "-delete-version-after",
        "--delete-version-after",
        type=duration,
        default=None,
        help="e.g. 0 (never), 1h, 30d",
    )


# --- helpers --------------------------------------------------------------------------


def _json_out(args: argparse.Namespace) -> bool:
    return bool(args.json) or args.format == "json"


def _secrets(args: argparse.Namespace, client: Client) -> SecretsClient:
    api = client.secrets
    return api.with_token(args.token) if args.token else api


def split_name(args: argparse.Namespace, *, folder: bool = False) -> tuple[str, str]:
    """(mount, path) from `-mount=m path` or `m/path`; a folder gets a trailing "/"."""
    name = args.path.strip()
    if args.mount:
        mount, path = args.mount.strip("/"), name.strip("/") if folder else name
    else:
        mount, _, path = name.partition("/")
        if not mount:
            raise CliError(f"path: expected <mount>/<path>, got {name!r}", code=EXIT_USAGE)
    if folder:
        path = path.strip("/")
        return mount, f"{path}/" if path else ""
    if not path:
        raise CliError(f"path: {name!r} names no secret (expected <mount>/<path>)", code=EXIT_USAGE)
    return mount, path


def parse_data(items: Sequence[str]) -> dict[str, Any]:
    """key=value / key=@file pairs, or "-" alone for a JSON object on stdin."""
    if list(items) == ["-"]:
        try:
            value = json.loads(sys.stdin.read())
        except ValueError as exc:
            raise CliError(
                f"stdin: not valid JSON ({exc.__class__.__name__})", code=EXIT_USAGE
            ) from None
        if not isinstance(value, dict):
            raise CliError("stdin: must be a JSON object", code=EXIT_USAGE)
        return value
    if not items:
        raise CliError(
            "data: give key=value pairs, key=@file, or - for JSON on stdin", code=EXIT_USAGE
        )
    data: dict[str, Any] = {}
    for number, item in enumerate(items, 1):
        name, sep, value = item.partition("=")
        if not sep or not name:  # never echoed: it may be a value typed without its key
            raise CliError(f"data: argument {number} is not key=value", code=EXIT_USAGE)
        if value.startswith("@"):
            path = Path(value[1:])
            try:
                value = path.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise CliError(
                    f"data: {name}: cannot read {path}: "
                    f"{getattr(exc, 'strerror', None) or exc.__class__.__name__}",
                    code=EXIT_USAGE,
                ) from None
        data[name] = value
    return data


def _time(seconds: float) -> str:
    return format_time_ms(int(seconds * 1000))


def _version_dict(v: SecretVersion) -> dict[str, Any]:
    return {
        "version": v.version,
        "created_time": v.created_time,
        "deletion_time": v.deletion_time,
        "destroyed": v.destroyed,
    }


def _print_version(v: SecretVersion, as_json: bool) -> None:
    if as_json:
        print_json(_version_dict(v))
        return
    print_fields(
        [
            ("version", v.version),
            ("created_time", _time(v.created_time)),
            ("deletion_time", _time(v.deletion_time) if v.deletion_time else "n/a"),
            ("destroyed", str(v.destroyed).lower()),
        ]
    )


def _mount_dict(m: MountConfig) -> dict[str, Any]:
    return {
        "mount": m.mount,
        "key_name": m.key_name,
        "max_versions": m.max_versions,
        "cas_required": m.cas_required,
        "delete_version_after_s": m.delete_version_after_s,
    }


def _token_dict(t: TokenInfo) -> dict[str, Any]:
    return {
        "accessor": t.accessor,
        "principal": t.principal,
        "display_name": t.display_name,
        "created_time": t.created_time,
        "expire_time": t.expire_time,
        "revoked": t.revoked,
    }


# --- commands -------------------------------------------------------------------------


def run_enable(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        mount = _secrets(args, client).enable_mount(
            args.mount, key_name=args.key_name, max_versions=args.max_versions
        )
    if _json_out(args):
        print_json(_mount_dict(mount))
    else:
        print(f"Success! Enabled secrets mount {mount.mount!r} (key {mount.key_name}).")
    return 0


def run_mounts(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        mounts = _secrets(args, client).list_mounts()
    if _json_out(args):
        print_json([_mount_dict(m) for m in mounts])
    else:
        print_table(
            ("Mount", "Key", "Max versions", "CAS required", "Delete after (s)"),
            [
                (
                    m.mount,
                    m.key_name,
                    m.max_versions,
                    str(m.cas_required).lower(),
                    m.delete_version_after_s,
                )
                for m in mounts
            ],
        )
    return 0


def run_put(args: argparse.Namespace) -> int:
    mount, path = split_name(args)
    data = parse_data(args.data)
    with client_from(args) as client:
        version = _secrets(args, client).put(mount, path, data, cas=args.cas)
    _print_version(version, _json_out(args))
    return 0


def run_patch(args: argparse.Namespace) -> int:
    mount, path = split_name(args)
    data = parse_data(args.data)
    with client_from(args) as client:
        version = _secrets(args, client).patch(mount, path, data, cas=args.cas)
    _print_version(version, _json_out(args))
    return 0


def run_get(args: argparse.Namespace) -> int:
    mount, path = split_name(args)
    with client_from(args) as client:
        secret = _secrets(args, client).get(mount, path, version=args.version)
    if args.field:
        return _print_field(secret, args.field)
    if _json_out(args):
        print_json(
            {
                "data": secret.data,
                "metadata": {
                    **_version_dict(secret.version),
                    "custom_metadata": secret.custom_metadata,
                },
            }
        )
        return 0
    print("======= Metadata =======")
    _print_version(secret.version, False)
    if secret.data is None:
        state = "destroyed" if secret.version.destroyed else "deleted"
        print(f"\n(version {secret.version.version} is {state}: no data)")
        return 2
    print("\n========= Data =========")
    print_fields(sorted((k, _text(v)) for k, v in secret.data.items()))
    return 0


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _print_field(secret: Secret, field: str) -> int:
    if secret.data is None:
        raise CliError(f"version {secret.version.version} is deleted or destroyed: no data")
    if field not in secret.data:
        raise CliError(f"-field: no field {field!r} in {secret.mount}/{secret.path}")
    print(_text(secret.data[field]))
    return 0


def run_list(args: argparse.Namespace) -> int:
    mount, prefix = split_name(args, folder=True)
    with client_from(args) as client:
        keys = _secrets(args, client).list(mount, prefix)
    if _json_out(args):
        print_json(keys)
    else:
        print("Keys\n----")
        for key in keys:
            print(key)
    return 0


def run_versions(args: argparse.Namespace) -> int:
    mount, path = split_name(args)
    with client_from(args) as client:
        api = _secrets(args, client)
        if args.action == "delete":
            api.delete(mount, path, args.versions)
        elif args.action == "undelete":
            api.undelete(mount, path, args.versions)
        else:
            api.destroy(mount, path, args.versions)
    done = {"delete": "deleted", "undelete": "undeleted", "destroy": "destroyed"}[args.action]
    which = ",".join(map(str, args.versions)) or "current"
    print(f"Success! Data {done} (versions: {which}) at: {mount}/{path}")
    return 0


def _metadata_dict(m: SecretMetadata) -> dict[str, Any]:
    return {
        "current_version": m.current_version,
        "oldest_version": m.oldest_version,
        "max_versions": m.max_versions,
        "cas_required": m.cas_required,
        "delete_version_after_s": m.delete_version_after_s,
        "created_time": m.created_time,
        "updated_time": m.updated_time,
        "custom_metadata": m.custom_metadata,
        "versions": {str(n): _version_dict(v) for n, v in m.versions.items()},
    }


def run_metadata_get(args: argparse.Namespace) -> int:
    mount, path = split_name(args)
    with client_from(args) as client:
        meta = _secrets(args, client).read_metadata(mount, path)
    if _json_out(args):
        print_json(_metadata_dict(meta))
        return 0
    print_fields(
        [
            ("current_version", meta.current_version),
            ("oldest_version", meta.oldest_version),
            ("max_versions", meta.max_versions),
            ("cas_required", str(meta.cas_required).lower()),
            ("delete_version_after", f"{meta.delete_version_after_s}s"),
            ("created_time", _time(meta.created_time)),
            ("updated_time", _time(meta.updated_time)),
            ("custom_metadata", json.dumps(meta.custom_metadata, sort_keys=True)),
        ]
    )
    print()
    print_table(
        ("Version", "Created", "Deleted", "Destroyed"),
        [
            (
                v.version,
                _time(v.created_time),
                _time(v.deletion_time) if v.deletion_time else "-",
                str(v.destroyed).lower(),
            )
            for v in meta.versions.values()
        ],
    )
    return 0


def run_metadata_put(args: argparse.Namespace) -> int:
    mount, path = split_name(args)
    custom = None
    if args.custom_metadata is not None:
        custom = {}
        for item in args.custom_metadata:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise CliError("-custom-metadata: expected key=value", code=EXIT_USAGE)
            custom[name] = value
    with client_from(args) as client:
        _secrets(args, client).write_metadata(
            mount,
            path,
            max_versions=args.max_versions,
            cas_required=args.cas_required,
            delete_version_after_s=args.delete_version_after,
            custom_metadata=custom,
        )
    print(f"Success! Metadata written at: {mount}/{path}")
    return 0


def run_metadata_delete(args: argparse.Namespace) -> int:
    mount, path = split_name(args)
    with client_from(args) as client:
        _secrets(args, client).delete_metadata(mount, path)
    print(f"Success! Metadata and all versions deleted at: {mount}/{path}")
    return 0


def _print_mount(mount: MountConfig, as_json: bool) -> None:
    if as_json:
        print_json(_mount_dict(mount))
    else:
        print_fields(sorted(_mount_dict(mount).items()))


def run_config_get(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        mount = _secrets(args, client).read_config(args.mount)
    _print_mount(mount, _json_out(args))
    return 0


def run_config_put(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        mount = _secrets(args, client).write_config(
            args.mount,
            max_versions=args.max_versions,
            cas_required=args.cas_required,
            delete_version_after_s=args.delete_version_after,
        )
    _print_mount(mount, _json_out(args))
    return 0


def run_token_create(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        issued = _secrets(args, client).create_token(
            args.principal, args.ttl, display_name=args.display_name
        )
    if _json_out(args):
        print_json({"token": issued.token, **_token_dict(issued.info)})
    else:
        print_fields(
            [
                ("token", issued.token),
                ("accessor", issued.info.accessor),
                ("principal", issued.info.principal),
                ("expire_time", _time(issued.info.expire_time)),
            ]
        )
        print("\nThe token is shown once: keep it now.")
    return 0


def run_token_list(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        tokens = _secrets(args, client).list_tokens()
    if _json_out(args):
        print_json([_token_dict(t) for t in tokens])
    else:
        print_table(
            ("Accessor", "Principal", "Name", "Expires", "Revoked"),
            [
                (
                    t.accessor,
                    t.principal,
                    t.display_name or "-",
                    _time(t.expire_time),
                    str(t.revoked).lower(),
                )
                for t in tokens
            ],
        )
    return 0


def run_token_revoke(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        _secrets(args, client).revoke_token(args.accessor)
    print(f"Success! Revoked token {args.accessor}")
    return 0


def run_token_lookup(args: argparse.Namespace) -> int:
    if not args.token:
        raise CliError("--token: required (or set KEYMGR_TOKEN)", code=EXIT_USAGE)
    with client_from(args) as client:
        info = _secrets(args, client).lookup_token()
    if _json_out(args):
        print_json(_token_dict(info))
    else:
        print_fields(sorted((k, v) for k, v in _token_dict(info).items()))
    return 0
