"""`keymgr datakey|encrypt|decrypt|reencrypt`: binary values travel as base64."""

from __future__ import annotations

import argparse
import base64
import binascii
import sys
from typing import Any

from keymgr.cli.common import (
    EXIT_USAGE,
    CliError,
    add_connection_flags,
    client_from,
    parse_context,
    print_fields,
    print_json,
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _read_input(value: str | None, flag: str) -> bytes:
    """A base64 argument, or '-' for raw bytes on stdin."""
    if value is None or value == "-":
        return sys.stdin.buffer.read()
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise CliError(f"{flag}: not valid base64", code=EXIT_USAGE) from None


def register(subparsers: Any) -> None:
    datakey = subparsers.add_parser(
        "datakey",
        help="generate a data key under a key",
        description="Example: keymgr datakey orders --context table=t1",
    )
    datakey.add_argument("key_name", metavar="KEY")
    datakey.add_argument("--context", action="append", metavar="K=V")
    datakey.add_argument("--bytes", type=int, default=32)
    datakey.add_argument("--without-plaintext", action="store_true")
    add_connection_flags(datakey)
    datakey.set_defaults(func=run_datakey)

    encrypt = subparsers.add_parser(
        "encrypt",
        help="encrypt up to 64 KiB under a key",
        description="Example: echo -n secret | keymgr encrypt orders --context a=b",
    )
    encrypt.add_argument("key_name", metavar="KEY")
    encrypt.add_argument("--plaintext", help="base64; default: raw bytes from stdin")
    encrypt.add_argument("--context", action="append", metavar="K=V")
    add_connection_flags(encrypt)
    encrypt.set_defaults(func=run_encrypt)

    decrypt = subparsers.add_parser(
        "decrypt",
        help="decrypt a ciphertext (no key name needed)",
        description="Example: keymgr decrypt --ciphertext AbC... --context a=b",
    )
    decrypt.add_argument("--ciphertext", help="base64; default: raw bytes from stdin")
    decrypt.add_argument("--context", action="append", metavar="K=V")
    decrypt.add_argument("--raw", action="store_true", help="write plaintext bytes to stdout")
    add_connection_flags(decrypt)
    decrypt.set_defaults(func=run_decrypt)

    reencrypt = subparsers.add_parser(
        "reencrypt", help="re-encrypt under a key's current version or another key"
    )
    reencrypt.add_argument("--ciphertext", help="base64; default: raw bytes from stdin")
    reencrypt.add_argument("--context", action="append", metavar="K=V")
    reencrypt.add_argument("--to-key", default="", help="destination key (default: same key)")
    reencrypt.add_argument(
        "--to-context",
        action="append",
        metavar="K=V",
        help="destination context (default: the source context)",
    )
    add_connection_flags(reencrypt)
    reencrypt.set_defaults(func=run_reencrypt)


def run_datakey(args: argparse.Namespace) -> int:
    context = parse_context(args.context)
    with client_from(args) as client:
        data_key = client.generate_data_key(
            args.key_name,
            context=context,
            number_of_bytes=args.bytes,
            without_plaintext=args.without_plaintext,
        )
    fields = {
        "key_id": data_key.key_id,
        "key_version": data_key.key_version,
        "ciphertext": _b64(data_key.ciphertext_blob),
    }
    if not args.without_plaintext:
        fields["plaintext"] = _b64(data_key.plaintext)
    if args.json:
        print_json(fields)
    else:
        print_fields(fields.items())
    return 0


def run_encrypt(args: argparse.Namespace) -> int:
    plaintext = _read_input(args.plaintext, "--plaintext")
    with client_from(args) as client:
        blob = client.encrypt(args.key_name, plaintext, context=parse_context(args.context))
    if args.json:
        print_json({"ciphertext": _b64(blob)})
    else:
        print(_b64(blob))
    return 0


def run_decrypt(args: argparse.Namespace) -> int:
    blob = _read_input(args.ciphertext, "--ciphertext")
    with client_from(args) as client:
        plaintext = client.decrypt(blob, context=parse_context(args.context))
    if args.raw:
        sys.stdout.buffer.write(plaintext)
    elif args.json:
        print_json({"plaintext": _b64(plaintext)})
    else:
        print(_b64(plaintext))
    return 0


def run_reencrypt(args: argparse.Namespace) -> int:
    blob = _read_input(args.ciphertext, "--ciphertext")
    destination = parse_context(args.to_context, "--to-context") if args.to_context else None
    with client_from(args) as client:
        response = client.re_encrypt(
            blob,
            source_context=parse_context(args.context),
            destination_key_name=args.to_key,
            destination_context=destination,
        )
    fields = {
        "ciphertext": _b64(response.ciphertext_blob),
        "key_id": response.key_id,
        "key_version": response.key_version,
        "source_key_id": response.source_key_id,
        "source_key_version": response.source_key_version,
    }
    if args.json:
        print_json(fields)
    else:
        print_fields(fields.items())
    return 0
