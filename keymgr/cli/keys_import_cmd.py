"""`keymgr keys import-params` and `keymgr keys import`: bringing your own key (BYOK)."""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from keymgr.cli.common import (
    CliError,
    add_connection_flags,
    client_from,
    duration,
    format_time_ms,
    print_json,
    to_dict,
)
from keymgr.private_files import owner_only_append

ALGORITHMS = ("RSA_AES_KEY_WRAP_SHA_256", "RSAES_OAEP_SHA_256")


def register(commands: Any) -> None:
    params = commands.add_parser(
        "import-params",
        help="an RSA wrapping public key and an import token for a key of origin external",
        description="Example: keymgr keys import-params byok --out-public-key wrap.pem "
        "--out-token token.txt",
    )
    params.add_argument("name", help="key name or id")
    params.add_argument(
        "--bits",
        type=int,
        default=0,
        choices=(0, 3072, 4096),
        help="wrapping key size (default 3072)",
    )
    params.add_argument(
        "--validity",
        type=int,
        default=0,
        metavar="SECONDS",
        help="token lifetime, 60..86400 (default 24 h)",
    )
    params.add_argument(
        "--out-public-key",
        type=Path,
        metavar="FILE",
        help="write the wrapping public key (PEM) here",
    )
    params.add_argument(
        "--out-token", type=Path, metavar="FILE", help="write the import token here"
    )
    add_connection_flags(params)
    params.set_defaults(func=run_import_params)

    imp = commands.add_parser(
        "import",
        help="import wrapped AES-256 material as a new version of a key of origin external",
        description="Example: keymgr keys import byok --wrapped payload.bin --token token.txt "
        "--expires-in 30d",
    )
    imp.add_argument("name", help="key name or id")
    imp.add_argument(
        "--wrapped", type=Path, required=True, metavar="FILE", help="the wrapped material (binary)"
    )
    imp.add_argument(
        "--token",
        type=Path,
        required=True,
        metavar="FILE",
        help="the file import-params wrote with --out-token",
    )
    imp.add_argument("--algorithm", choices=ALGORITHMS, default=ALGORITHMS[0])
    imp.add_argument(
        "--version",
        type=int,
        default=0,
        help="0 = a new version; an existing one only takes its own material",
    )
    expiry = imp.add_mutually_exclusive_group()
    expiry.add_argument(
        "--expires-in",
        type=duration,
        metavar="DURATION",
        help="erase the imported material after this long, e.g. 90s, 12h, "
        "30d (default: never); import it again to use it after that",
    )
    expiry.add_argument(
        "--valid-to",
        type=rfc3339_ms,
        metavar="RFC3339",
        help="erase the imported material at this time, e.g. "
        "2027-01-31T00:00:00Z (as AWS KMS ValidTo)",
    )
    add_connection_flags(imp)
    imp.set_defaults(func=run_import)


def _read(path: Path, flag: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"{flag}: cannot read {path}: {exc.strerror}") from None


def rfc3339_ms(text: str) -> int:
    """argparse type: an RFC 3339 time with its offset -> unix ms."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an RFC 3339 time like 2027-01-31T00:00:00Z, got {text!r}"
        ) from None
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the time zone (Z or +hh:mm): {text!r}")
    return int(when.timestamp() * 1000)


def expiry_ms(args: argparse.Namespace) -> int:
    """--expires-in (from this machine's clock) or --valid-to as unix ms; 0 = never."""
    if args.expires_in is not None:
        if args.expires_in <= 0:
            raise CliError("--expires-in: must be more than 0")
        return int(time.time() * 1000) + int(args.expires_in) * 1000
    valid_to: int = args.valid_to or 0
    return valid_to


def run_import_params(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        reply = client.get_import_parameters(
            args.name, wrapping_key_bits=args.bits, validity_seconds=args.validity
        )
    if args.out_public_key:
        args.out_public_key.write_text(reply.public_key_pem)
    if args.out_token:
        with owner_only_append(args.out_token, truncate=True) as out:
            out.write(reply.import_token.encode() + b"\n")
    if args.json:
        print_json(to_dict(reply))
        return 0
    if not args.out_public_key:
        print(reply.public_key_pem, end="")
    if not args.out_token:
        print(f"Import token: {reply.import_token}")
    print(
        f"Wrapping key: RSA {reply.wrapping_key_bits}; token expires "
        f"{format_time_ms(reply.expires_at_ms)}"
    )
    return 0


def run_import(args: argparse.Namespace) -> int:
    payload = _read(args.wrapped, "--wrapped")
    token = _read(args.token, "--token").decode("ascii", "replace").strip()
    expires_at_ms = expiry_ms(args)
    with client_from(args) as client:
        key = client.import_key_material(
            args.name,
            import_token=token,
            wrapped_key_material=payload,
            algorithm=args.algorithm,
            version=args.version,
            expires_at_ms=expires_at_ms,
        )
    from keymgr.cli.keys_cmd import print_key  # keys_cmd registers this module

    print_key(key, args.json)
    return 0
