"""`keymgr operator init|unseal|seal|status|step-down|rotate|rotate-root|join-token|join|
migrate-seal|snapshot|raft`."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

from keymgr.cli.common import (
    EXIT_USAGE,
    CliError,
    add_connection_flags,
    client_from,
    endpoints,
    non_negative_int,
    print_fields,
    print_json,
    print_table,
    to_dict,
)
from keymgr.client import KeymgrError, may_have_been_applied
from keymgr.v1 import operator_pb2

ROLE_WORDS = {
    operator_pb2.NODE_ROLE_LEADER: "leader",
    operator_pb2.NODE_ROLE_FOLLOWER: "follower",
    operator_pb2.NODE_ROLE_CANDIDATE: "candidate",
    operator_pb2.NODE_ROLE_UNREACHABLE: "unreachable",
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("operator", help="initialise, unseal and inspect the cluster")
    commands = parser.add_subparsers(dest="operator_command", required=True)

    init = commands.add_parser(
        "init",
        help="initialise a new cluster",
        description="Initialise the cluster; prints the unseal shares ONCE.\n\n"
        "Example: keymgr operator init --shares 5 --threshold 3",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    init.add_argument(
        "--shares", type=non_negative_int, default=5, help="number of unseal shares (1-16)"
    )
    init.add_argument(
        "--threshold", type=non_negative_int, default=3, help="shares needed to unseal"
    )
    add_connection_flags(init)
    init.set_defaults(func=run_init)

    unseal = commands.add_parser(
        "unseal",
        help="submit one unseal share to one node",
        description="Submit a share; prompted for when not given (keeps it out of argv "
        "and shell history).\n\nExample: keymgr operator unseal --address 127.0.0.1:7002",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    unseal.add_argument("share", nargs="?", help="the share (prompted for if omitted)")
    unseal.add_argument("--reset", action="store_true", help="discard shares submitted so far")
    add_connection_flags(unseal)
    unseal.set_defaults(func=run_unseal)

    seal = commands.add_parser("seal", help="seal one node (drops its root key)")
    add_connection_flags(seal)
    seal.set_defaults(func=run_seal)

    status = commands.add_parser("status", help="seal status of one node and the cluster")
    add_connection_flags(status)
    status.set_defaults(func=run_status)

    step_down = commands.add_parser("step-down", help="make the leader hand over leadership")
    step_down.add_argument("--to", default="", help="node id to hand leadership to")
    add_connection_flags(step_down)
    step_down.set_defaults(func=run_step_down)

    rotate = commands.add_parser("rotate", help="add a new keyring term (barrier key)")
    add_connection_flags(rotate)
    rotate.set_defaults(func=run_rotate)

    rotate_root = commands.add_parser(
        "rotate-root",
        help="new root key and new unseal shares (split-key: needs admin approvals)",
        description="Requests a new root key and re-keys the unseal shares. Prints the NEW "
        "shares ONCE, to you: they unseal nodes only after the operation has run (at "
        "once when one approval is enough, else when `keymgr approvals approve ID` "
        "reaches the quorum); from then on the old shares open nothing. Unsealed nodes, "
        "and nodes with their own seal, follow without operators.\n\n"
        "Example: keymgr operator rotate-root --shares 5 --threshold 3",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rotate_root.add_argument(
        "--shares", type=non_negative_int, default=0, help="new number of shares (default: same)"
    )
    rotate_root.add_argument(
        "--threshold", type=non_negative_int, default=0, help="new threshold (default: same)"
    )
    rotate_root.add_argument(
        "--ttl", type=non_negative_int, default=0, help="seconds to wait for approvals (24 h)"
    )
    add_connection_flags(rotate_root)
    rotate_root.set_defaults(func=run_rotate_root)

    snapshot = commands.add_parser("snapshot", help="back up and restore the cluster state")
    snap = snapshot.add_subparsers(dest="snapshot_command", required=True)
    save = snap.add_parser(
        "save",
        help="write a consistent, MAC'd snapshot of the replicated state (admin)",
        description="Example: keymgr operator snapshot save backup.kms",
    )
    save.add_argument("file", help="where to write the snapshot (must not exist)")
    add_connection_flags(save)
    save.set_defaults(func=run_snapshot_save)
    restore = snap.add_parser(
        "restore",
        help="restore a snapshot onto a fresh (uninitialised) cluster",
        description="Needs the original cluster's unseal shares (threshold of them), one "
        "per line in --shares-file or prompted for. The node restored to is unsealed; "
        "unseal the others with the same shares.\n\n"
        "Example: keymgr operator snapshot restore backup.kms --shares-file shares.txt "
        "--address 127.0.0.1:8001",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    restore.add_argument("file", help="the snapshot file")
    restore.add_argument("--shares-file", default="", help="file with unseal shares, one a line")
    add_connection_flags(restore)
    restore.set_defaults(func=run_snapshot_restore)

    raft = commands.add_parser("raft", help="Raft membership: list, add, remove, transfer")
    rc = raft.add_subparsers(dest="raft_command", required=True)
    lp = rc.add_parser("list-peers", help="members, zones, leader, placement warnings")
    add_connection_flags(lp)
    lp.set_defaults(func=run_list_peers)
    ap = rc.add_parser(
        "add-peer",
        help="add a voter (start it afterwards with every member in its peers)",
        description="One change at a time. Example: keymgr operator raft add-peer node4 "
        "--api 127.0.0.1:7004 --raft 127.0.0.1:7104 --zone zone-d",
    )
    ap.add_argument("id", help="the new node's id")
    ap.add_argument("--api", required=True, help="its API address host:port")
    ap.add_argument("--raft", required=True, help="its Raft address host:port")
    ap.add_argument("--zone", default="", help="its zone label")
    add_connection_flags(ap)
    ap.set_defaults(func=run_add_peer)
    rp = rc.add_parser(
        "remove-peer",
        help="remove a voter (admin; transfer leadership first to remove the leader)",
    )
    rp.add_argument("id", help="the node id to remove")
    add_connection_flags(rp)
    rp.set_defaults(func=run_remove_peer)
    tl = rc.add_parser("transfer-leader", help="hand leadership to another voter")
    tl.add_argument("--to", default="", help="node id (default: the most caught-up)")
    add_connection_flags(tl)
    tl.set_defaults(func=run_step_down)

    token = commands.add_parser(
        "join-token",
        help="make a one-use join token for a member (needs approval: authorize-join)",
        description="Prints the token ONCE; it works after its approval request is "
        "executed.\n\nExample: keymgr operator join-token node3 --ttl 600",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    token.add_argument("node_id", help="the member that may join with it")
    token.add_argument("--ttl", type=int, default=0, help="seconds it stays valid (1 h)")
    add_connection_flags(token)
    token.set_defaults(func=run_join_token)

    join = commands.add_parser(
        "join",
        help="make one sealed node fetch the root key from a peer (secure join)",
        description="The token is prompted for when not given.\n\n"
        "Example: keymgr operator join --address 127.0.0.1:7003",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    join.add_argument("token", nargs="?", help="the join token (prompted for if omitted)")
    add_connection_flags(join)
    join.set_defaults(func=run_join)

    migrate = commands.add_parser(
        "migrate-seal",
        help="request (needs approval: migrate-seal) or run a node's seal migration",
        description="Request: keymgr operator migrate-seal --node node3 --to pkcs11\n"
        "Run (after approval and after editing the node's seal config):\n"
        "  keymgr operator migrate-seal --run MIGRATION_ID --address 127.0.0.1:7003",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    migrate.add_argument("--node", default="", help="the node whose seal moves")
    migrate.add_argument("--to", default="", choices=["", "shamir", "file", "pkcs11"])
    migrate.add_argument(
        "--run",
        default="",
        metavar="MIGRATION_ID",
        help="run an approved migration on the node at --address",
    )
    add_connection_flags(migrate)
    migrate.set_defaults(func=run_migrate_seal)


def _single(args: argparse.Namespace) -> str:
    addresses = endpoints(args)
    if len(addresses) != 1:
        raise CliError("--address: this command talks to exactly one node", code=EXIT_USAGE)
    return addresses[0]


def _print_seal(status: operator_pb2.SealStatusResponse, as_json: bool) -> None:
    if as_json:
        print_json(to_dict(status))
        return
    print_fields(
        [
            ("Node", status.node_id),
            ("Seal Type", status.seal_type),
            ("Initialized", str(status.initialized).lower()),
            ("Sealed", str(status.sealed).lower()),
            ("Total Shares", status.shares),
            ("Threshold", status.threshold),
            # progress means something only while shares are being collected
            *(
                [("Unseal Progress", f"{status.progress}/{status.threshold}")]
                if status.sealed
                else []
            ),
            *([("Reason", status.reason)] if status.reason else []),
            *([("Seal Error", status.seal_error)] if status.seal_error else []),
            ("Root Key Generation", status.root_generation),
        ]
    )


def run_init(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        response = client.init(shares=args.shares, threshold=args.threshold)
    if args.json:
        print_json(to_dict(response))
        return 0
    for i, share in enumerate(response.unseal_shares, 1):
        print(f"Unseal Share {i}: {share}")
    print(f"\nRoot admin: {response.root_admin}")
    print(
        f"\nThe cluster is initialised. Give each share to a different operator; any "
        f"{response.secret_threshold} of them unseal a node. They are not shown again."
    )
    return 0


def run_unseal(args: argparse.Namespace) -> int:
    address = _single(args)
    share = args.share
    if not share and not args.reset:
        share = getpass.getpass("Unseal share: ") if sys.stdin.isatty() else sys.stdin.readline()
        share = share.strip()
        if not share:
            raise CliError("share: none given", code=EXIT_USAGE)
    with client_from(args) as client:
        status = client.unseal(share or "", endpoint=address, reset=args.reset)
    _print_seal(status, args.json)
    return 0


def run_seal(args: argparse.Namespace) -> int:
    address = _single(args)
    with client_from(args) as client:
        status = client.seal(endpoint=address)
    _print_seal(status, args.json)
    return 0


def run_status(args: argparse.Namespace) -> int:
    addresses = endpoints(args)
    with client_from(args) as client:
        seal = client.seal_status(endpoint=addresses[0])
        cluster = client.cluster_status(endpoint=addresses[0]) if seal.initialized else None
    if args.json:
        print_json({"seal": to_dict(seal), "cluster": to_dict(cluster) if cluster else None})
        return 0
    _print_seal(seal, False)
    if cluster is not None and cluster.warnings:
        print()
        for warning in cluster.warnings:
            print(f"WARNING: {warning}")
    if cluster is not None:
        print()
        print_table(
            (
                "Node",
                "Zone",
                "API",
                "Raft",
                "Role",
                "Term",
                "Commit",
                "Applied",
                "Lag",
                "Caught up",
                "Seal",
                "Sealed",
                "Serving",
                "Note",
            ),
            [
                (
                    n.node_id,
                    n.zone,
                    n.api_address,
                    n.raft_address,
                    ROLE_WORDS.get(n.role, "?"),
                    n.term,
                    n.commit_index,
                    n.applied_index,
                    n.lag,
                    _caught_up(n),
                    n.seal_type,
                    str(n.sealed).lower(),
                    str(n.serving).lower(),
                    n.error,
                )
                for n in cluster.nodes
            ],
        )
    return 0


def _caught_up(node: operator_pb2.NodeStatus) -> str:
    """How old the node's view may be ("never" if it has not confirmed it caught up)."""
    if node.role == operator_pb2.NODE_ROLE_UNREACHABLE:
        return ""
    if node.seconds_since_caught_up < 0:
        return "never"
    return f"{node.seconds_since_caught_up:.2f}s ago"


def run_step_down(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        status = client.cluster_status()
        leader = next((n for n in status.nodes if n.role == operator_pb2.NODE_ROLE_LEADER), None)
        if leader is None:
            raise CliError("no leader to step down")
        response = client.step_down(target_node_id=args.to, endpoint=leader.api_address)
    if args.json:
        print_json(to_dict(response))
    else:
        print(f"{response.previous_leader_id} stepped down")
    return 0


def run_rotate(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        term = client.rotate_keyring()
    if args.json:
        print_json({"active_term": term})
    else:
        print(f"Keyring rotated: active term {term}")
    return 0


def run_rotate_root(args: argparse.Namespace) -> int:
    operation_id = uuid.uuid4().hex
    with client_from(args) as client:
        try:
            response = client.rotate_root(
                shares=args.shares,
                threshold=args.threshold,
                ttl_seconds=args.ttl,
                operation_id=operation_id,
            )
        except KeymgrError as exc:
            if not may_have_been_applied(exc):
                raise
            raise CliError(
                f"{exc}. The reply with the new shares is lost: `keymgr approvals list` shows "
                f"operation {operation_id}; if it is pending, reject it; if it executed, the "
                "old shares no longer unseal: run rotate-root again while nodes are unsealed"
            ) from None
    if args.json:
        print_json(to_dict(response))
        return 0
    for i, share in enumerate(response.unseal_shares, 1):
        print(f"Unseal Share {i}: {share}")
    print(f"\nOperation: {response.operation_id} ({response.operation_state})")
    if response.operation_state == "executed":
        print(
            f"\nThe root key is rotated (generation {response.root_generation}). Give each "
            f"share to a different operator; any {response.secret_threshold} of them unseal "
            "a node. The old shares no longer do. These are not shown again."
        )
    else:
        print(
            f"\nWaiting for {response.approvals_required} admin approvals "
            f"(`keymgr approvals approve {response.operation_id}`). Until it runs, the old "
            "shares stay valid and these open nothing. They are not shown again."
        )
    return 0


def _progress(label: str) -> Progress:
    return Progress(
        TextColumn(label),
        BarColumn(),
        DownloadColumn(),
        transient=False,
        console=None,
        disable=not sys.stderr.isatty(),
    )


def run_snapshot_save(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if path.exists():
        raise CliError(f"file: {path} exists; refusing to overwrite it", code=EXIT_USAGE)
    with _progress("downloading snapshot") as progress, client_from(args) as client:
        task = progress.add_task("save", total=None)

        def show(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        data, meta = client.save_snapshot(on_progress=show)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    summary = {
        "file": str(path),
        "bytes": len(data),
        "keys": meta.keys,
        "applied_index": meta.applied_index,
    }
    if args.json:
        print_json(summary)
    else:
        print(
            f"Snapshot saved: {path} ({len(data)} bytes, {meta.keys} keys, "
            f"Raft index {meta.applied_index})"
        )
    return 0


def _read_shares(args: argparse.Namespace) -> list[str]:
    if args.shares_file:
        return [
            line.strip() for line in Path(args.shares_file).read_text().splitlines() if line.strip()
        ]
    if not sys.stdin.isatty():
        return [line.strip() for line in sys.stdin if line.strip()]
    shares: list[str] = []
    while True:
        share = getpass.getpass(f"Unseal share {len(shares) + 1} (empty to finish): ").strip()
        if not share:
            return shares
        shares.append(share)


def run_snapshot_restore(args: argparse.Namespace) -> int:
    address = _single(args)
    data = Path(args.file).read_bytes()
    shares = _read_shares(args)
    if not shares:
        raise CliError(
            "shares: none given (the backed-up cluster's unseal shares)", code=EXIT_USAGE
        )
    with _progress("uploading snapshot") as progress, client_from(args) as client:
        task = progress.add_task("restore", total=len(data))
        response = client.restore_snapshot(
            data,
            shares,
            endpoint=address,
            on_progress=lambda done, total: progress.update(task, completed=done),
        )
    if args.json:
        print_json(to_dict(response))
    else:
        print(
            f"Restored {response.keys} keys (source Raft index "
            f"{response.source_applied_index}); {address} is unsealed. Unseal the other "
            "nodes with the same shares."
        )
    return 0


def _print_peers(peers: operator_pb2.PeersResponse, as_json: bool) -> None:
    if as_json:
        print_json(to_dict(peers))
        return
    print_table(
        ("Node", "Zone", "API", "Raft", "Leader", "Connected", "Match"),
        [
            (
                p.id,
                p.zone,
                p.api_address,
                p.raft_address,
                str(p.leader).lower(),
                str(p.connected).lower(),
                p.match_index,
            )
            for p in peers.peers
        ],
    )
    for warning in peers.warnings:
        print(f"WARNING: {warning}")


def _leader_endpoint(client: Any) -> str:
    peers = client.list_peers()
    leader = next((p for p in peers.peers if p.leader), None)
    if leader is None or not leader.api_address:
        raise CliError("no leader known: membership cannot change now")
    return str(leader.api_address)


def run_list_peers(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        _print_peers(client.list_peers(), args.json)
    return 0


def run_add_peer(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        peers = client.add_peer(
            args.id, api=args.api, raft=args.raft, zone=args.zone, endpoint=_leader_endpoint(client)
        )
    _print_peers(peers, args.json)
    return 0


def run_remove_peer(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        peers = client.remove_peer(args.id, endpoint=_leader_endpoint(client))
    _print_peers(peers, args.json)
    return 0


def run_join_token(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        response = client.create_join_token(args.node_id, ttl_seconds=args.ttl)
    if args.json:
        print_json(to_dict(response))
        return 0
    print(f"Join token: {response.token}")
    print(
        f"Approval: operation {response.operation_id} is {response.operation_state}; the "
        "token works once it is executed. It is not shown again."
    )
    return 0


def run_join(args: argparse.Namespace) -> int:
    address = _single(args)
    token = args.token
    if not token:
        token = getpass.getpass("Join token: ") if sys.stdin.isatty() else sys.stdin.readline()
        token = token.strip()
        if not token:
            raise CliError("token: none given", code=EXIT_USAGE)
    with client_from(args) as client:
        response = client.join(token, endpoint=address)
    if not args.json:
        print(f"Root key received from {response.peer_id}")
    _print_seal(response.status, args.json)
    return 0


def run_migrate_seal(args: argparse.Namespace) -> int:
    if args.run:
        address = _single(args)
        with client_from(args) as client:
            status = client.migrate_seal(args.run, endpoint=address)
        _print_seal(status, args.json)
        return 0
    if not args.node or not args.to:
        raise CliError("--node and --to are required to request a migration", code=EXIT_USAGE)
    with client_from(args) as client:
        response = client.request_seal_migration(args.node, args.to)
    if args.json:
        print_json(to_dict(response))
    else:
        print(f"Migration {response.migration_id} is {response.operation_state}")
    return 0
