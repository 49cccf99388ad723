"""`keymgr batch-encrypt|batch-decrypt|batch-datakey`: many items, JSON lines in and out.

Input: one JSON object per line (a file, or stdin with `-`); binary values as base64.
Output: one JSON object per input item, in order, with `"ok": true` and the result, or
`"ok": false` and the item's error. Items go to the cluster `--batch-size` at a time.
Exit 0 when every item succeeded, 2 when any failed (every line is still printed), 1
for bad input (the message names the line and field).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO, TypeVar

from keymgr.cli.common import EXIT_FAILURE, EXIT_USAGE, CliError, add_connection_flags, client_from
from keymgr.client import (
    Client,
    DataKey,
    DataKeyItem,
    Decrypted,
    DecryptItem,
    Encrypted,
    EncryptItem,
    ItemResult,
)

MAX_BATCH = 1000
T = TypeVar("T")
Line = dict[str, Any]


def register(subparsers: Any) -> None:
    commands = (
        (
            "batch-encrypt",
            "encrypt many items in batches",
            '{"key": "orders", "plaintext": "<base64>", "context": {"table": "t1"}}',
            run_encrypt,
        ),
        (
            "batch-decrypt",
            "decrypt many ciphertexts in batches",
            '{"ciphertext": "<base64>", "context": {"table": "t1"}}',
            run_decrypt,
        ),
        (
            "batch-datakey",
            "generate many data keys in batches",
            '{"key": "orders", "context": {"table": "t1"}, "bytes": 32, '
            '"without_plaintext": false}',
            run_datakey,
        ),
    )
    for name, summary, example, handler in commands:
        parser = subparsers.add_parser(
            name,
            help=summary,
            description=f"Reads JSON lines such as\n  {example}\nand prints one JSON line "
            "per item, in order. batch-encrypt output feeds batch-decrypt.\n\n"
            f"Example: keymgr {name} items.jsonl > results.jsonl\n\n"
            "Exit codes: 0 every item succeeded, 2 some item failed, 1 bad input.",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.add_argument("input", nargs="?", default="-", help="JSON lines file; - = stdin")
        parser.add_argument(
            "--batch-size",
            type=_batch_size,
            default=MAX_BATCH,
            help=f"items per call, 1..{MAX_BATCH}",
        )
        add_connection_flags(parser)
        parser.set_defaults(func=handler)


def _batch_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= MAX_BATCH:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_BATCH}, got {value}")
    return value


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- input ---------------------------------------------------------------------------


def _lines(path: str) -> list[Line]:
    if path == "-":
        return _parse(sys.stdin)
    try:
        with open(path, encoding="utf-8") as stream:
            return _parse(stream)
    except UnicodeDecodeError:
        raise CliError(f"{path}: not UTF-8 text", code=EXIT_USAGE) from None


def _parse(stream: TextIO) -> list[Line]:
    out: list[Line] = []
    for number, raw in enumerate(stream, start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise CliError(f"line {number}: not JSON ({exc.msg})", code=EXIT_USAGE) from None
        if not isinstance(value, dict):
            raise CliError(f"line {number}: expected a JSON object", code=EXIT_USAGE)
        value["__line"] = number
        out.append(value)
    if not out:
        raise CliError("no items in the input", code=EXIT_USAGE)
    return out


def _usage(line: Line, field: str, problem: str) -> CliError:
    return CliError(f"line {line['__line']}: {field}: {problem}", code=EXIT_USAGE)


def _text(line: Line, field: str) -> str:
    value = line.get(field)
    if not isinstance(value, str) or not value:
        raise _usage(line, field, "required, a string")
    return value


def _binary(line: Line, field: str) -> bytes:
    try:
        return base64.b64decode(_text(line, field), validate=True)
    except (binascii.Error, ValueError):
        raise _usage(line, field, "not valid base64") from None


def _context(line: Line) -> dict[str, str]:
    value = line.get("context") or {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _usage(line, "context", "expected an object of strings")
    return value


def _int(line: Line, field: str) -> int:
    value = line.get(field, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF:
        raise _usage(line, field, "expected a whole number")
    return value


# --- running -------------------------------------------------------------------------


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _run(
    args: argparse.Namespace,
    items: Sequence[T],
    call: Callable[[Client, Sequence[T]], list[ItemResult[Any]]],
    show: Callable[[T, Any], Line],
) -> int:
    failed = 0
    index = 0
    with client_from(args) as client:
        for chunk in _chunks(items, args.batch_size):
            for item, result in zip(chunk, call(client, chunk), strict=True):
                if result.error is None:
                    line = {"index": index, "ok": True, **show(item, result.value)}
                else:
                    failed += 1
                    error = result.error
                    line = {
                        "index": index,
                        "ok": False,
                        "error": type(error).__name__,
                        "code": error.code.name if error.code else "",
                        "message": str(error),
                    }
                print(json.dumps(line, sort_keys=True), flush=False)
                index += 1
    sys.stdout.flush()
    if failed:
        print(f"keymgr: {failed} of {len(items)} items failed", file=sys.stderr)
        return EXIT_FAILURE
    return 0


def run_encrypt(args: argparse.Namespace) -> int:
    items = [
        EncryptItem(
            key_name=_text(line, "key"),
            plaintext=_binary(line, "plaintext"),
            context=_context(line),
        )
        for line in _lines(args.input)
    ]

    def show(item: EncryptItem, value: Encrypted) -> Line:
        return {
            "ciphertext": _b64(value.ciphertext_blob),
            "key_id": value.key_id,
            "key_version": value.key_version,
            "context": dict(item.context or {}),
        }

    return _run(args, items, lambda c, chunk: c.batch_encrypt(chunk), show)


def run_decrypt(args: argparse.Namespace) -> int:
    items = [
        DecryptItem(ciphertext_blob=_binary(line, "ciphertext"), context=_context(line))
        for line in _lines(args.input)
    ]

    def show(item: DecryptItem, value: Decrypted) -> Line:
        return {
            "plaintext": _b64(value.plaintext),
            "key_id": value.key_id,
            "key_version": value.key_version,
        }

    return _run(args, items, lambda c, chunk: c.batch_decrypt(chunk), show)


def run_datakey(args: argparse.Namespace) -> int:
    items = []
    for line in _lines(args.input):
        without = line.get("without_plaintext", False)
        if not isinstance(without, bool):
            raise _usage(line, "without_plaintext", "expected true or false")
        items.append(
            DataKeyItem(
                key_name=_text(line, "key"),
                context=_context(line),
                number_of_bytes=_int(line, "bytes"),
                without_plaintext=without,
            )
        )

    def show(item: DataKeyItem, value: DataKey) -> Line:
        shown: Line = {
            "ciphertext": _b64(value.ciphertext_blob),
            "key_id": value.key_id,
            "key_version": value.key_version,
            "context": dict(item.context or {}),
        }
        if not item.without_plaintext:
            shown["plaintext"] = _b64(value.plaintext)
        return shown

    return _run(args, items, lambda c, chunk: c.batch_generate_data_key(chunk), show)
