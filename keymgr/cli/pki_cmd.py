"""`keymgr pki init|node|client|secret`: a dev CA and certificates for local clusters."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from keymgr import pki
from keymgr.cli.common import EXIT_USAGE, CliError

_DIR_HELP = "the CA's directory, where NAME.pem and NAME-key.pem go (default: KEYMGR_CACERT's)"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "pki",
        help="make a dev CA, node and client certificates",
        description="Example:\n  keymgr pki init --dir certs\n"
        "  keymgr pki node node1 --dir certs --host 127.0.0.1\n"
        "  keymgr pki client alice --kind admin --dir certs\n"
        "  keymgr pki secret secrets/cluster-secret\n\n"
        "node, server and client use the CA in --dir; without --dir, the directory of\n"
        "KEYMGR_CACERT (the CA of the cluster the CLI points at: dev-cluster/certs after\n"
        "`. dev-cluster/env`), else ./certs.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="pki_command", required=True)
    init = commands.add_parser("init", help="create a CA")
    init.add_argument("--dir", default="certs")
    init.add_argument("--force", action="store_true", help="replace an existing CA")
    init.set_defaults(func=run_init)

    node = commands.add_parser("node", help="issue a node certificate (server + client)")
    node.add_argument("node_id")
    node.add_argument("--dir", default=None, help=_DIR_HELP)
    node.add_argument("--host", action="append", help="IP or DNS name (repeatable)")
    node.set_defaults(func=run_node)

    server = commands.add_parser(
        "server", help="issue a TLS server certificate (e.g. for the TDE gateway)"
    )
    server.add_argument("name")
    server.add_argument("--dir", default=None, help=_DIR_HELP)
    server.add_argument("--host", action="append", help="IP or DNS name (repeatable)")
    server.set_defaults(func=run_server)

    client = commands.add_parser("client", help="issue a client certificate")
    client.add_argument("name")
    client.add_argument(
        "--kind", default="admin", choices=["admin", "operator", "auditor", "agent", "service"]
    )
    client.add_argument("--dir", default=None, help=_DIR_HELP)
    client.set_defaults(func=run_client)

    secret = commands.add_parser("secret", help="create the Raft cluster secret file")
    secret.add_argument("path")
    secret.set_defaults(func=run_secret)


def _ca_dir(given: str | None) -> Path:
    """--dir, else where the cluster CA the CLI uses lives (KEYMGR_CACERT), else certs."""
    if given:
        return Path(given)
    cacert = os.environ.get("KEYMGR_CACERT", "")
    return Path(cacert).parent if cacert else Path("certs")


def _ca(given: str | None) -> pki.CertificateAuthority:
    path = _ca_dir(given)
    cacert = os.environ.get("KEYMGR_CACERT", "")
    if not (path / "ca.pem").is_file() or not (path / "ca-key.pem").is_file():
        # never advise `pki init` here: a new CA is one no running cluster trusts
        where = (
            f"the cluster KEYMGR_CACERT points at has its CA in {Path(cacert).parent.resolve()}"
            if cacert and given
            else "use the directory that holds your cluster's ca.pem and ca-key.pem "
            "(a dev cluster's: dev-cluster/certs, the default after `. dev-cluster/env`)"
        )
        missing = "no CA" if not (path / "ca.pem").is_file() else "no CA key (ca-key.pem)"
        raise CliError(f"--dir: {missing} in {path}: {where}", code=EXIT_USAGE)
    if (
        cacert
        and Path(cacert).is_file()
        and (Path(cacert).read_bytes() != (path / "ca.pem").read_bytes())
    ):
        print(
            f"keymgr: note: the CA in {path} is not the one KEYMGR_CACERT names ({cacert}); "
            "that cluster will not accept what it signs",
            file=sys.stderr,
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
