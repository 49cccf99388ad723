"""Secure join: a new or rebuilt node gets the root key from an unsealed peer.

1. An admin asks any node for a join token for member `node_id` (`CreateJoinToken`).
   The token's secret is shown once; only its SHA-256 goes into an approval request
   (kind `authorize-join`, M of N admins); once approved, the token is replicated as
   authorized, for one use, until it expires.
2. An admin gives the token to the joining node (`Join`). The joiner makes an ephemeral
   X25519 key pair and asks its peers in turn (`ExchangeRootKey`), over mTLS with its
   node certificate.
3. The peer checks: the caller's certificate is a node certificate of a current Raft
   voter (membership from Raft and the replicated member registry) other than itself;
   the token is authorized for exactly that node, unused and unexpired; the peer is
   unsealed. It marks the token used through Raft (single use, on every node), then
   seals the root key to the joiner's key (`keymgr.crypto.join`). Refusals are
   PERMISSION_DENIED and audited like every RPC.
4. The joiner opens the answer (bound to both node ids, the token id and both public
   keys), checks that the root key decrypts the cluster keyring, installs it and seals
   it with its own seal (an HSM, a key file) for the next restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import time

import grpc

from keymgr.crypto.aead import wipe
from keymgr.crypto.errors import DecryptionFailed
from keymgr.crypto.join import PUBLIC_KEY_SIZE, JoinKeyPair, seal_root_key
from keymgr.node_errors import (
    FailedPrecondition,
    InvalidArgument,
    NodeError,
    PermissionDenied,
    Unavailable,
)
from keymgr.raft.proposer import now_ms
from keymgr.server.approvals import (
    NODE_OP_MAX_TTL_S,
    NODE_OP_TTL_S,
    expiry_ms,
    request_approval,
)
from keymgr.server.auth import Caller
from keymgr.server.context import NodeContext
from keymgr.server.peers import Peers
from keymgr.store.access import state_word
from keymgr.v1 import operator_pb2, store_pb2

log = logging.getLogger(__name__)

TOKEN_PREFIX = "kmj1"
EXCHANGE_TIMEOUT_S = 5.0
CATCH_UP_TIMEOUT_S = 120.0  # a joiner replicating a root rotation the peer already has
_TOKEN = re.compile(r"kmj1-([0-9a-f]{16})-([0-9a-f]{64})")


def parse_token(text: str) -> tuple[str, bytes]:
    """(token id, secret); InvalidArgument naming the field for a malformed token."""
    match = _TOKEN.fullmatch(text.strip())
    if match is None:
        raise InvalidArgument("token", "not a join token (kmj1-<id>-<secret>)")
    return match.group(1), bytes.fromhex(match.group(2))


async def create_join_token(
    node: NodeContext, caller: Caller, request: operator_pb2.CreateJoinTokenRequest
) -> operator_pb2.CreateJoinTokenResponse:
    """Makes a token and requests its approval; the secret never enters the state."""
    member = node.member(request.node_id)
    if member is None:
        raise InvalidArgument("node_id", f"{request.node_id!r} is not a member of this cluster")
    expires = expiry_ms(request.ttl_seconds, default_s=NODE_OP_TTL_S, max_s=NODE_OP_MAX_TTL_S)
    token_id, secret = secrets.token_hex(8), secrets.token_bytes(32)
    operation = await request_approval(
        node,
        caller,
        "authorize_join",
        store_pb2.AuthorizeJoin(
            token_id=token_id,
            node_id=member.id,
            secret_digest=hashlib.sha256(secret).digest(),
            expires_at_ms=expires,
        ),
        expires_at_ms=expires,
        summary=f"authorize node {member.id!r} to join",
    )
    return operator_pb2.CreateJoinTokenResponse(
        token=f"{TOKEN_PREFIX}-{token_id}-{secret.hex()}",
        operation_id=operation.id,
        operation_state=state_word(operation.state),
    )


async def exchange_root_key(
    node: NodeContext, caller: Caller, request: operator_pb2.ExchangeRootKeyRequest
) -> operator_pb2.ExchangeRootKeyResponse:
    """The peer's side: check who asks and with what, use the token, seal the root key."""
    me = node.config.node.id
    if caller.kind != "node":
        raise PermissionDenied("only a node certificate may fetch the root key")
    joiner = node.member(caller.name)
    if joiner is None or joiner.id == me:
        raise PermissionDenied(
            f"certificate {caller.principal!r} is not another member of this cluster"
        )
    token_id, secret = parse_token(request.token)
    if len(request.joiner_public_key) != PUBLIC_KEY_SIZE:
        raise InvalidArgument("joiner_public_key", f"must be {PUBLIC_KEY_SIZE} bytes")
    await node.read_barrier()  # see an approval committed through another node
    authorized = node.store.access.joins.get(token_id)
    if (
        authorized is None
        or authorized.token.node_id != joiner.id
        or not hmac.compare_digest(authorized.token.secret_digest, hashlib.sha256(secret).digest())
    ):
        raise PermissionDenied(f"no approved join token for node {joiner.id!r}")
    if authorized.used:
        raise PermissionDenied("join token was already used")
    if authorized.token.expires_at_ms <= now_ms():
        raise PermissionDenied("join token has expired")
    root, generation = node.seal.current_root_key()  # Sealed: the joiner tries another
    try:
        await node.proposer.submit(
            store_pb2.Command(
                request_id=f"join-{token_id}",
                principal=caller.principal,
                consume_join=store_pb2.ConsumeJoin(token_id=token_id, node_id=joiner.id),
            )
        )
    except NodeError as exc:
        if isinstance(exc, Unavailable):
            raise
        raise PermissionDenied(f"join token refused: {exc}") from exc
    peer_public, sealed = seal_root_key(
        root,
        joiner_id=joiner.id,
        peer_id=me,
        token_id=token_id,
        joiner_public=bytes(request.joiner_public_key),
    )
    log.info(
        "sent the root key to joining node %s (token %s), sealed to its key", joiner.id, token_id
    )
    return operator_pb2.ExchangeRootKeyResponse(
        peer_id=me,
        peer_public_key=peer_public,
        sealed_root_key=sealed,
        root_generation=generation,
    )


async def _replicated(node: NodeContext, generation: int) -> bool:
    """Waits (bounded) until this node has applied root generation `generation`: a peer
    may be ahead of a joiner that is still catching up."""
    deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
    while node.store.root_generation < generation:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def join(node: NodeContext, peers: Peers, token: str) -> str:
    """The joiner's side: asks each peer in turn; returns the id of the one that answered."""
    if not node.store.initialized:
        raise FailedPrecondition("cluster is not initialized here yet: wait for Raft")
    if not node.seal.sealed:
        raise FailedPrecondition("this node is already unsealed")
    token_id, _ = parse_token(token)
    me = node.config.node.id
    problems: list[str] = []
    for member in node.members()[1:]:
        if not member.api:
            continue  # a voter whose address this node does not know yet
        pair = JoinKeyPair()
        try:
            answer = await peers.operator(member.api).ExchangeRootKey(
                operator_pb2.ExchangeRootKeyRequest(token=token, joiner_public_key=pair.public),
                timeout=EXCHANGE_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.PERMISSION_DENIED:
                raise PermissionDenied(f"{member.id}: {exc.details()}") from None
            problems.append(f"{member.id}: {exc.details()}")
            continue
        if answer.peer_id != member.id:
            problems.append(f"{member.id}: answered as {answer.peer_id!r}")
            continue
        try:
            root = pair.open(
                joiner_id=me,
                peer_id=member.id,
                token_id=token_id,
                peer_public=bytes(answer.peer_public_key),
                sealed=bytes(answer.sealed_root_key),
            )
        except DecryptionFailed as exc:
            problems.append(f"{member.id}: {exc}")
            continue
        # the token is used now: whatever happens below, no other peer will answer
        if not await _replicated(node, answer.root_generation):
            wipe(root)
            raise Unavailable(
                f"{member.id} sent root generation {answer.root_generation}, which this node "
                f"has not replicated within {CATCH_UP_TIMEOUT_S:g}s; its token is used: let "
                "the node catch up, then ask for a new join token"
            )
        try:
            await asyncio.to_thread(
                node.seal.install_verified_root_key, root, generation=answer.root_generation
            )
        except DecryptionFailed as exc:
            raise Unavailable(
                f"{member.id}: {exc}; the join token is used: ask for a new one"
            ) from None
        log.info(
            "joined: root key received from %s and sealed by this node's %s seal",
            member.id,
            node.seal.seal_type,
        )
        return member.id
    raise Unavailable("no peer could send the root key: " + "; ".join(problems))
