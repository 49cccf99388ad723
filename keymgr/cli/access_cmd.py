"""`keymgr policy|roles|approvals|whoami`: access control and split-key approvals."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keymgr.cli.common import (
    EXIT_USAGE,
    CliError,
    add_connection_flags,
    client_from,
    format_time_ms,
    parse_context,
    print_fields,
    print_json,
    print_table,
    to_dict,
)
from keymgr.client import Client
from keymgr.store.access import ROLES, state_word
from keymgr.v1 import store_pb2


def print_operation(op: store_pb2.PendingOperation, as_json: bool) -> None:
    if as_json:
        print_json(to_dict(op))
        return
    print_fields(
        [
            ("Operation", op.id),
            ("Kind", op.kind),
            ("State", state_word(op.state)),
            ("Summary", op.summary),
            ("Requester", op.requester),
            ("Approvals", f"{len(op.approvals)}/{op.required}: {', '.join(op.approvals)}"),
            ("Expires", format_time_ms(op.expires_at_ms)),
            *([("Result", op.result.error.message)] if op.result.HasField("error") else []),
        ]
    )
    if state_word(op.state) == "pending":
        print(f"\nAnother admin approves with: keymgr approvals approve {op.id}")


DESTINATIONS = ("", "rsa-aes", "aws", "gcp", "azure", "openbao")
USAGES = ("encrypt-decrypt", "wrap-unwrap", "generate-verify-mac")


def add_export_flags(parser: argparse.ArgumentParser) -> None:
    """The destination flags `export fetch` and `keys export-wrapped` share."""
    parser.add_argument(
        "--algorithm",
        default="",
        help="aws: RSA_AES_KEY_WRAP_SHA_256 | RSAES_OAEP_SHA_256; gcp: the "
        "import job's method (RSA_OAEP_3072_SHA256_AES_256, ...)",
    )
    parser.add_argument("--kek-id", default="", help="azure: the key-exchange key's kid")
    parser.add_argument(
        "--destination-name",
        default="",
        metavar="NAME",
        help="which one of that kind (account, project, vault, server), e.g. "
        "prod-eu: `keymgr report byok` counts each name on its own",
    )
    parser.add_argument(
        "--usage",
        choices=USAGES,
        default="",
        help="what the destination may do with the key, recorded with the "
        "export (default: from the key's purpose; which destination takes "
        "which: docs/guide-byok.md)",
    )
    parser.add_argument(
        "--import-token",
        default="",
        metavar="FILE",
        help="aws: GetParametersForImport's ImportToken (binary), passed through",
    )
    parser.add_argument(
        "--out-import-token",
        default="",
        metavar="FILE",
        help="aws: where to write the import token that goes with --out",
    )


def register(subparsers: Any) -> None:
    policy = subparsers.add_parser(
        "policy", help="default-deny access policies (changes need approvals)"
    )
    commands = policy.add_subparsers(dest="policy_command", required=True)
    put = commands.add_parser(
        "put",
        help="create or replace a policy",
        description="Example: keymgr policy put agents --role agent --op generate-data-key "
        "--op decrypt --pattern 'volumes' --context 'volume_id=${principal.name}'",
    )
    put.add_argument("name")
    put.add_argument("--principal", action="append", default=[], help="principal id")
    put.add_argument(
        "--role",
        action="append",
        default=[],
        choices=sorted(ROLES),
    )
    put.add_argument(
        "--op",
        action="append",
        default=[],
        required=True,
        help="encrypt, decrypt, generate-data-key, re-encrypt, describe, manage, "
        "random, volume, tde, secret-read, secret-write, secret-list, secret-delete, "
        "secret-destroy or *",
    )
    put.add_argument(
        "--pattern",
        action="append",
        default=[],
        help="key name pattern (fnmatch), repeatable (this or --path-pattern is required)",
    )
    put.add_argument(
        "--path-pattern",
        action="append",
        default=[],
        help="secret path pattern <mount>/<path> (fnmatch, e.g. secret/apps/web/*), repeatable",
    )
    put.add_argument(
        "--context",
        action="append",
        metavar="K=V",
        help="required encryption context entry (glob value)",
    )
    put.add_argument("--description", default="")
    put.add_argument("--ttl", type=int, default=0, help="seconds to wait for approvals")
    add_connection_flags(put)
    put.set_defaults(func=run_policy_put)
    for name, helptext in (("get", "show a policy"), ("delete", "delete a policy")):
        sub = commands.add_parser(name, help=helptext)
        sub.add_argument("name")
        add_connection_flags(sub)
        sub.set_defaults(func=run_policy_get if name == "get" else run_policy_delete)
    listing = commands.add_parser("list", help="list policies")
    add_connection_flags(listing)
    listing.set_defaults(func=run_policy_list)

    roles = subparsers.add_parser("roles", help="role bindings (changes need approvals)")
    role_commands = roles.add_subparsers(dest="roles_command", required=True)
    set_roles = role_commands.add_parser(
        "set",
        help="replace a principal's roles",
        description="Example: keymgr roles set spiffe://keymgr/agent/vm1 agent",
    )
    set_roles.add_argument("principal")
    set_roles.add_argument("roles", nargs="*")
    add_connection_flags(set_roles)
    set_roles.set_defaults(func=run_roles_set)
    list_roles = role_commands.add_parser("list", help="list role bindings")
    add_connection_flags(list_roles)
    list_roles.set_defaults(func=run_roles_list)

    approvals = subparsers.add_parser("approvals", help="M-of-N approvals of split-key operations")
    approval_commands = approvals.add_subparsers(dest="approvals_command", required=True)
    list_ops = approval_commands.add_parser("list", help="pending operations and rules")
    list_ops.add_argument("--all", action="store_true", help="include decided operations")
    add_connection_flags(list_ops)
    list_ops.set_defaults(func=run_approvals_list)
    for name in ("approve", "reject"):
        sub = approval_commands.add_parser(name, help=f"{name} a pending operation")
        sub.add_argument("operation_id")
        add_connection_flags(sub)
        sub.set_defaults(func=run_decide, approve=name == "approve")
    rule = approval_commands.add_parser("rule", help="approvals needed for an operation kind")
    rule.add_argument(
        "kind",
        choices=[
            "put-policy",
            "delete-policy",
            "set-roles",
            "set-approval-rule",
            "destroy-key",
            "export-key",
        ],
    )
    rule.add_argument("required", type=int)
    add_connection_flags(rule)
    rule.set_defaults(func=run_rule)
    destroy = approval_commands.add_parser(
        "destroy-key", help="destroy a key pending deletion now (needs approvals)"
    )
    destroy.add_argument("name")
    add_connection_flags(destroy)
    destroy.set_defaults(func=run_destroy)

    export = subparsers.add_parser(
        "export",
        help="export one key version (needs approvals; once; RSA-OAEP wrapped)",
        description="Example:\n  keymgr export request orders --version 2\n"
        "  (another admin: keymgr approvals approve ID)\n"
        "  keymgr export fetch ID --public-key me.pub.pem --out orders-v2.bin",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export_commands = export.add_subparsers(dest="export_command", required=True)
    request = export_commands.add_parser("request", help="ask for an export grant")
    request.add_argument("name")
    request.add_argument("--version", type=int, default=0, help="0 = current version")
    add_connection_flags(request)
    request.set_defaults(func=run_export_request)
    fetch = export_commands.add_parser("fetch", help="fetch an approved export, once")
    fetch.add_argument("grant_id")
    fetch.add_argument("--public-key", required=True, help="PEM RSA public key (>= 3072)")
    fetch.add_argument("--out", required=True, help="file for the wrapped key (0600)")
    fetch.add_argument(
        "--destination",
        choices=DESTINATIONS,
        default="",
        help="wrap as this destination imports it (default: RSA-OAEP escrow)",
    )
    add_export_flags(fetch)
    add_connection_flags(fetch)
    fetch.set_defaults(func=run_export_fetch)

    whoami = subparsers.add_parser("whoami", help="the principal of your certificate, its roles")
    add_connection_flags(whoami)
    whoami.set_defaults(func=run_whoami)


def run_policy_put(args: argparse.Namespace) -> int:
    if not args.pattern and not args.path_pattern:
        raise CliError("--pattern or --path-pattern: at least one is required", code=EXIT_USAGE)
    policy = store_pb2.Policy(
        name=args.name,
        principals=args.principal,
        roles=args.role,
        operations=args.op,
        key_patterns=args.pattern,
        path_patterns=args.path_pattern,
        required_context=parse_context(args.context),
        description=args.description,
    )
    with client_from(args) as client:
        print_operation(client.put_policy(policy, ttl_seconds=args.ttl), args.json)
    return 0


def run_policy_get(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        policy = client.get_policy(args.name)
    if args.json:
        print_json(to_dict(policy))
    else:
        _print_policies([policy])
    return 0


def _print_policies(policies: list[store_pb2.Policy]) -> None:
    print_table(
        ("Name", "Subjects", "Operations", "Keys", "Paths", "Required context"),
        [
            (
                p.name,
                ",".join([*p.principals, *(f"role:{r}" for r in p.roles)]),
                ",".join(p.operations),
                ",".join(p.key_patterns) or "-",
                ",".join(p.path_patterns) or "-",
                ",".join(f"{k}={v}" for k, v in sorted(p.required_context.items())) or "-",
            )
            for p in policies
        ],
    )


def run_policy_list(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        policies = client.list_policies()
    if args.json:
        print_json([to_dict(p) for p in policies])
    else:
        _print_policies(policies)
    return 0


def run_policy_delete(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        print_operation(client.delete_policy(args.name), args.json)
    return 0


def run_roles_set(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        print_operation(client.set_roles(args.principal, list(args.roles)), args.json)
    return 0


def run_roles_list(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        bindings = client.list_roles()
    if args.json:
        print_json([to_dict(b) for b in bindings])
    else:
        print_table(("Principal", "Roles"), [(b.principal, ",".join(b.roles)) for b in bindings])
    return 0


def run_approvals_list(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        response = client.list_approvals(include_decided=args.all)
    if args.json:
        print_json(to_dict(response))
        return 0
    print_table(
        ("Operation", "Kind", "State", "Approvals", "Requester", "Expires", "Summary"),
        [
            (
                op.id,
                op.kind,
                state_word(op.state),
                f"{len(op.approvals)}/{op.required}",
                op.requester,
                format_time_ms(op.expires_at_ms),
                op.summary,
            )
            for op in response.operations
        ],
    )
    print()
    print_table(("Kind", "Approvals needed"), [(r.kind, r.required) for r in response.rules])
    return 0


def run_decide(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        op = client.approve(args.operation_id) if args.approve else client.reject(args.operation_id)
    print_operation(op, args.json)
    return 0


def run_rule(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        print_operation(client.set_approval_rule(args.kind, args.required), args.json)
    return 0


def run_destroy(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        print_operation(client.destroy_key(args.name), args.json)
    return 0


def run_export_request(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        print_operation(client.request_export(args.name, version=args.version), args.json)
    return 0


@dataclass(frozen=True)
class ExportInputs:
    """An export's files, read and checked before anything is asked of the cluster."""

    public_key: bytes
    import_token: bytes


def export_inputs(args: argparse.Namespace, public_key_flag: str, public_key: str) -> ExportInputs:
    path = Path(public_key)
    if not path.is_file():
        raise CliError(f"{public_key_flag}: file not found: {path}", code=EXIT_USAGE)
    token = b""
    if args.import_token:
        if not Path(args.import_token).is_file():
            raise CliError(f"--import-token: file not found: {args.import_token}", code=EXIT_USAGE)
        token = Path(args.import_token).read_bytes()
    if bool(args.out_import_token) != bool(token):
        raise CliError("--import-token and --out-import-token go together", code=EXIT_USAGE)
    return ExportInputs(path.read_bytes(), token)


def fetch_export(
    client: Client,
    args: argparse.Namespace,
    grant_id: str,
    destination: str,
    inputs: ExportInputs,
) -> None:
    """Uses the grant once and writes the payload (and AWS's import token) to new files."""
    exported = client.export_key(
        grant_id,
        inputs.public_key,
        destination=destination,
        algorithm=args.algorithm,
        kek_id=args.kek_id,
        import_token=inputs.import_token,
        destination_name=args.destination_name,
        usage=args.usage,
    )
    _write_new(args.out, exported.wrapped_key)
    if args.out_import_token:
        _write_new(args.out_import_token, exported.import_token)
    print(
        f"key {exported.key_id} version {exported.version} written to {args.out} "
        f"({destination or 'escrow'}, {exported.algorithm}; record {exported.bundle_id})"
    )


def run_export_fetch(args: argparse.Namespace) -> int:
    inputs = export_inputs(args, "--public-key", args.public_key)
    with client_from(args) as client:
        fetch_export(client, args, args.grant_id, args.destination, inputs)
    return 0


def _write_new(path: str, data: bytes) -> None:
    """Writes a file that must not exist yet, readable by its owner only."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CliError(f"{path}: exists; refusing to overwrite", code=EXIT_USAGE) from None
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def run_whoami(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        me = client.whoami()
    if args.json:
        print_json(to_dict(me))
    else:
        print_fields([("Principal", me.principal), ("Roles", ",".join(me.roles) or "-")])
    return 0
