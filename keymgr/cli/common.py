"""What every CLI command shares: flags for reaching the cluster, output, errors.

Exit codes, as OpenBao's CLI: 0 success, 1 usage error, 2 the operation failed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table

from keymgr.client import Client, Credentials

EXIT_USAGE = 1
EXIT_FAILURE = 2

Handler = Callable[[argparse.Namespace], int]


class CliError(Exception):
    """A one-line failure message for the user; exit code 2 (or 1 for usage)."""

    def __init__(self, message: str, *, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


def non_negative_int(text: str) -> int:
    """argparse type for counts and durations: a clear usage error, not a protobuf one."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value <= 0xFFFFFFFF:
        raise argparse.ArgumentTypeError(f"must be between 0 and {0xFFFFFFFF}, got {value}")
    return value


_DURATION = re.compile(r"(\d+)([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> int:
    """argparse type: "90", "90s", "15m", "1h", "7d" -> seconds."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected a duration like 30s, 15m, 1h or 7d, got {text!r}"
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


def add_connection_flags(
    parser: argparse.ArgumentParser, *, client_key_flag: str = "--key"
) -> None:
    """`client_key_flag`: commands whose `--key` names a managed key use `--client-key`."""
    group = parser.add_argument_group("cluster connection (or KEYMGR_* variables)")
    group.add_argument(
        "--address",
        default=os.environ.get("KEYMGR_ADDR", ""),
        help="comma-separated node addresses host:port (KEYMGR_ADDR)",
    )
    group.add_argument(
        "--ca",
        default=os.environ.get("KEYMGR_CACERT", ""),
        help="cluster CA certificate (KEYMGR_CACERT)",
    )
    group.add_argument(
        "--cert",
        default=os.environ.get("KEYMGR_CLIENT_CERT", ""),
        help="client certificate (KEYMGR_CLIENT_CERT)",
    )
    group.add_argument(
        client_key_flag,
        dest="key",
        default=os.environ.get("KEYMGR_CLIENT_KEY", ""),
        help="client private key (KEYMGR_CLIENT_KEY)",
    )
    group.add_argument("--timeout", type=float, default=5.0, help="per-call timeout, seconds")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def endpoints(args: argparse.Namespace) -> list[str]:
    addresses = [a.strip() for a in args.address.split(",") if a.strip()]
    if not addresses:
        raise CliError("--address: no node address given (or set KEYMGR_ADDR)", code=EXIT_USAGE)
    for address in addresses:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise CliError(f"--address: expected host:port, got {address!r}", code=EXIT_USAGE)
    return addresses


_FLAG_NAMES = {"key": "key (or --client-key)"}


def client_from(args: argparse.Namespace) -> Client:
    return Client(endpoints(args), credentials=credentials_from(args), timeout=args.timeout)


def credentials_from(args: argparse.Namespace) -> Credentials:
    """The mTLS files named by --ca/--cert/--key (or KEYMGR_*), each checked to exist."""
    paths = {}
    for flag in ("ca", "cert", "key"):
        value = getattr(args, flag)
        if not value:
            raise CliError(
                f"--{_FLAG_NAMES.get(flag, flag)}: required (or set the KEYMGR_* variable)",
                code=EXIT_USAGE,
            )
        path = Path(value)
        if not path.is_file():
            raise CliError(
                f"{_source(args, flag)}: file not found: {_shown(path)}", code=EXIT_USAGE
            )
        paths[flag] = path
    return Credentials(ca=paths["ca"], cert=paths["cert"], key=paths["key"])


_ENV_NAMES = {"ca": "KEYMGR_CACERT", "cert": "KEYMGR_CLIENT_CERT", "key": "KEYMGR_CLIENT_KEY"}


def _source(args: argparse.Namespace, flag: str) -> str:
    """Where a path came from, as the user set it: the flag, or the KEYMGR_* variable
    when the flag was not given (so the error points at what to fix)."""
    env_name = _ENV_NAMES[flag]
    value = getattr(args, flag)
    spellings = ("--key", "--client-key") if flag == "key" else (f"--{flag}",)
    argv = sys.argv[1:]
    given_as_flag = any(  # `--ca X` or `--ca=X` with this very value
        (word in spellings and argv[i + 1 : i + 2] == [value])
        or any(word == f"{s}={value}" for s in spellings)
        for i, word in enumerate(argv)
    )
    if not given_as_flag and os.environ.get(env_name) == value:
        return env_name
    return f"--{_FLAG_NAMES.get(flag, flag)}"


def _shown(path: Path) -> str:
    """A relative path with the directory it was looked up in (the CLI was run elsewhere)."""
    return str(path) if path.is_absolute() else f"{path} (relative to {Path.cwd()})"


def to_dict(message: Message) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)


def print_json(value: Any, out: TextIO | None = None) -> None:
    print(json.dumps(value, indent=2, sort_keys=True), file=out or sys.stdout)


def print_table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], out: TextIO | None = None
) -> None:
    cells = [[str(h) for h in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for row in cells:
        print(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(),
            file=out or sys.stdout,
        )


def print_rich_table(
    title: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    left: Sequence[str] = (),
    width: int = 160,
) -> Console:
    """A report table (columns right-aligned but `left`), at `width` when not a terminal;
    returns the console so the report can go on below it."""
    table = Table(title=title)
    for header in headers:
        table.add_column(header, justify="left" if header in left else "right")
    for row in rows:
        table.add_row(*row)
    console = Console()
    if not console.is_terminal:
        console = Console(width=width)
    console.print(table)
    return console


def print_fields(pairs: Iterable[tuple[str, object]], out: TextIO | None = None) -> None:
    print_table(("Key", "Value"), pairs, out)


def parse_context(items: Sequence[str] | None, flag: str = "--context") -> dict[str, str]:
    """`k=v` pairs into an encryption context."""
    context: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CliError(f"{flag}: expected key=value, got {item!r}", code=EXIT_USAGE)
        context[name] = value
    return context


def format_time_ms(ms: int) -> str:
    """Unix milliseconds as RFC 3339 UTC seconds, "-" for unset."""
    if not ms:
        return "-"
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
