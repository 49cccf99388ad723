"""`keymgr pki init|node|client|secret`: a dev CA and certificates for local clusters."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from keymgr import pki
from keymgr.cli.common import EXIT_USAGE, CliError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "pki",
        help="make a dev CA, node and client certificates",
        description="Example:\n  keymgr pki init --dir certs\n"
        "  keymgr pki node node1 --dir certs --host 127.0.0.1\n"
        "  keymgr pki client alice --kind admin --dir certs\n"
        "  keymgr pki secret secrets/cluster-secret",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="pki_command", required=True)
    init = commands.add_parser("init", help="create a CA")
    init.add_argument("--dir", default="certs")
    init.add_argument("--force", action="store_true", help="replace an existing CA")
    init.set_defaults(func=run_init)

    node = commands.add_parser("node", help="issue a node certificate (server + client)")
    node.add_argument("node_id")
    node.add_argument("--dir", default="certs")
    node.add_argument("--host", action="append", help="IP or DNS name (repeatable)")
    node.set_defaults(func=run_node)

    server = commands.add_parser(
        "server", help="issue a TLS server certificate (e.g. for the TDE gateway)"
    )
    server.add_argument("name")
    server.add_argument("--dir", default="certs")
    server.add_argument("--host", action="append", help="IP or DNS name (repeatable)")
    server.set_defaults(func=run_server)

    client = commands.add_parser("client", help="issue a client certificate")
    client.add_argument("name")
    client.add_argument(
        "--kind", default="admin", choices=["admin", "operator", "auditor", "agent", "service"]
    )
    client.add_argument("--dir", default="certs")
    client.set_defaults(func=run_client)

    secret = commands.add_parser("secret", help="create the Raft cluster secret file")
    secret.add_argument("path")
    secret.set_defaults(func=run_secret)


def _ca(directory: str) -> pki.CertificateAuthority:
    path = Path(directory)
    if not (path / "ca.pem").is_file():
        raise CliError(
            f"--dir: no CA in {path} (run `keymgr pki init --dir {path}`)", code=EXIT_USAGE
        )
    return pki.load_ca(path)


def run_init(args: argparse.Namespace) -> int:
    try:
        files = pki.create_ca(Path(args.dir), force=args.force)
    except FileExistsError as exc:
        raise CliError(f"--dir: {exc} (use --force to replace it)") from None
    print(f"CA certificate: {files.cert}\nCA key: {files.key}")
    return 0


def run_node(args: argparse.Namespace) -> int:
    hosts = args.host or ["127.0.0.1", "localhost", "::1"]
    files = pki.issue_node_cert(_ca(args.dir), args.node_id, hosts=hosts)
    print(f"certificate: {files.cert}\nkey: {files.key}")
    return 0


def run_server(args: argparse.Namespace) -> int:
    hosts = args.host or ["127.0.0.1", "localhost", "::1"]
    files = pki.issue_server_cert(_ca(args.dir), args.name, hosts=hosts)
    print(f"certificate: {files.cert}\nkey: {files.key}")
    return 0


def run_client(args: argparse.Namespace) -> int:
    files = pki.issue_client_cert(_ca(args.dir), args.name, kind=args.kind)
    print(f"certificate: {files.cert}\nkey: {files.key}")
    return 0


def run_secret(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.exists():
        raise CliError(f"{path}: exists; refusing to replace a cluster secret")
    path.parent.mkdir(parents=True, exist_ok=True)
    pki.create_cluster_secret(path)
    print(f"cluster secret: {path}")
    return 0
