"""`keymgr volume format|unlock|rotate|rewrap|serve-socket`: the volume agent.

Here `--key` names the managed key that wraps volume keys; the client's own private
key is `--client-key` (or KEYMGR_CLIENT_KEY).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from keymgr.agents.cryptsetup import Cryptsetup, CryptsetupError
from keymgr.agents.volume import ROTATE_STEPS, VolumeAgent, VolumeError, VolumeToken
from keymgr.agents.volume_socket import KeySocketServer, check_volume_name
from keymgr.cli.common import (
    EXIT_USAGE,
    CliError,
    add_connection_flags,
    client_from,
    print_fields,
    print_json,
)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host-id", default="", help="this host's id (default: hostname)")
    parser.add_argument(
        "--fast-kdf",
        action="store_true",
        help="pbkdf2 with 1000 iterations (tests only: keyslots become cheap to attack)",
    )
    parser.add_argument("--cryptsetup", default="cryptsetup", help="cryptsetup binary")
    add_connection_flags(parser, client_key_flag="--client-key")


def register(subparsers: Any) -> None:
    volume = subparsers.add_parser(
        "volume",
        help="volume agent: LUKS2 volumes whose keys come from the cluster",
        description="Keys go to cryptsetup on a pipe only. Example: keymgr volume format "
        "disk.img --key volumes --volume-id vol-1",
    )
    sub = volume.add_subparsers(dest="volume_command", required=True)

    fmt = sub.add_parser("format", help="luksFormat with a new volume key; store its wrap")
    fmt.add_argument("device", metavar="DEVICE_OR_IMAGE", type=Path)
    fmt.add_argument("--key", dest="key_name", required=True, help="managed key that wraps")
    fmt.add_argument("--volume-id", default="", help="default: the file name without its suffix")
    fmt.add_argument("--force", action="store_true", help="overwrite an existing LUKS header")
    _common(fmt)
    fmt.set_defaults(func=run_format)

    unlock = sub.add_parser("unlock", help="unwrap the key and open the volume")
    unlock.add_argument("device", metavar="DEVICE_OR_IMAGE", type=Path)
    unlock.add_argument("--name", default="", help="device-mapper name (default: volume id)")
    unlock.add_argument(
        "--test-passphrase",
        action="store_true",
        help="verify the key only (no device-mapper needed)",
    )
    _common(unlock)
    unlock.set_defaults(func=run_unlock)

    rotate = sub.add_parser("rotate", help="new volume key in a new keyslot, old slot killed")
    rotate.add_argument("device", metavar="DEVICE_OR_IMAGE", type=Path)
    rotate.add_argument("--key", dest="key_name", default="", help="default: the same key")
    rotate.add_argument("--crash-after", choices=ROTATE_STEPS, default="", help=argparse.SUPPRESS)
    _common(rotate)
    rotate.set_defaults(func=run_rotate)

    rewrap = sub.add_parser("rewrap", help="re-wrap the volume key under the current version")
    rewrap.add_argument("device", metavar="DEVICE_OR_IMAGE", type=Path)
    _common(rewrap)
    rewrap.set_defaults(func=run_rewrap)

    serve = sub.add_parser(
        "serve-socket", help="answer systemd crypttab's AF_UNIX key-file requests"
    )
    serve.add_argument("path", metavar="PATH", type=Path)
    serve.add_argument(
        "--volume",
        action="append",
        default=[],
        metavar="NAME=DEVICE",
        help="crypttab volume name -> device or image (repeatable); other names get nothing",
    )
    _common(serve)
    serve.set_defaults(func=run_serve)


def _agent(args: argparse.Namespace, crash_after: str = "") -> VolumeAgent:
    return VolumeAgent(
        client_from(args),
        Cryptsetup(binary=args.cryptsetup, fast_kdf=args.fast_kdf),
        host_id=args.host_id,
        crash_after=crash_after,
    )


def _report(args: argparse.Namespace, device: Path, token: VolumeToken, what: str) -> int:
    fields = {
        "device": str(device),
        "volume_id": token.volume_id,
        "host_id": token.host_id,
        "key_id": token.key_id,
        "key_version": token.key_version,
        "token_id": token.token_id,
        "result": what,
    }
    if args.json:
        print_json(fields)
    else:
        print_fields(fields.items())
    return 0


def _guard(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """cryptsetup and agent failures become one-line CLI errors."""

    def wrapped(args: argparse.Namespace) -> int:
        try:
            code: int = run(args)
            return code
        except (VolumeError, CryptsetupError) as exc:
            raise CliError(str(exc)) from None

    return wrapped


@_guard
def run_format(args: argparse.Namespace) -> int:
    volume_id = args.volume_id or args.device.stem
    token = _agent(args).format(args.device, args.key_name, volume_id, force=args.force)
    return _report(args, args.device, token, "formatted")


@_guard
def run_unlock(args: argparse.Namespace) -> int:
    agent = _agent(args)
    if args.test_passphrase:
        token = agent.unlock(args.device, verify_only=True)
        return _report(args, args.device, token, "key verified")
    name = args.name
    if not name:
        raise CliError("--name: required unless --test-passphrase", code=EXIT_USAGE)
    token = agent.unlock(args.device, name=name)
    return _report(args, args.device, token, f"opened as /dev/mapper/{name}")


@_guard
def run_rotate(args: argparse.Namespace) -> int:
    token = _agent(args, args.crash_after).rotate(args.device, key_name=args.key_name)
    return _report(args, args.device, token, "rotated")


@_guard
def run_rewrap(args: argparse.Namespace) -> int:
    token = _agent(args).rewrap(args.device)
    return _report(args, args.device, token, "rewrapped")


@_guard
def run_serve(args: argparse.Namespace) -> int:
    devices: dict[str, Path] = {}
    for item in args.volume:
        name, sep, device = item.partition("=")
        if not sep or not name or not device:
            raise CliError(f"--volume: expected NAME=DEVICE, got {item!r}", code=EXIT_USAGE)
        try:
            devices[check_volume_name(name)] = Path(device)
        except ValueError as exc:
            raise CliError(f"--volume: {exc}", code=EXIT_USAGE) from None
    if not devices:
        raise CliError("--volume: name at least one volume", code=EXIT_USAGE)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = KeySocketServer(_agent(args), args.path, devices)
    server.bind()
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    print(f"serving volume keys on {args.path}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.stop()
    return 0
