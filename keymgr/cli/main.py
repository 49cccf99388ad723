"""Entry point of the `keymgr` command: parse, dispatch, one-line errors."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from keymgr import __version__
from keymgr.cli import (
    access_cmd,
    audit_cmd,
    batch_cmd,
    bench_cmd,
    config_cmd,
    crypto_cmd,
    dev_cmd,
    drill_cmd,
    gateway_cmd,
    keys_cmd,
    kms_cmd,
    operator_cmd,
    pki_cmd,
    report_cmd,
    secrets_cmd,
    server_cmd,
    tde_cmd,
    volume_cmd,
)
from keymgr.cli.common import EXIT_FAILURE, EXIT_USAGE, CliError
from keymgr.client import KeymgrError


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line and exit 1 (argparse's default is 2)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="keymgr", description="keymgr: a replicated key manager")
    parser.add_argument("--version", action="version", version=f"keymgr {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in (
        server_cmd,
        config_cmd,
        dev_cmd,
        pki_cmd,
        operator_cmd,
        keys_cmd,
        crypto_cmd,
        batch_cmd,
        access_cmd,
        secrets_cmd,
        report_cmd,
        audit_cmd,
        bench_cmd,
        volume_cmd,
        tde_cmd,
        gateway_cmd,
        kms_cmd,
        drill_cmd,
    ):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except CliError as exc:
        print(f"keymgr: {exc}", file=sys.stderr)
        return exc.code
    except KeymgrError as exc:
        print(f"keymgr: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"keymgr: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:
        if os.environ.get("KEYMGR_DEBUG"):
            raise
        print(f"keymgr: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
