"""Rotating the root key and re-keying the unseal shares (split-key kind "rotate-root").

The requesting node makes a new root key R' and a new unseal key split into new
shares, and re-wraps under R' what R protects in the replicated state: each keyring
term key (unchanged, so no key version and no ciphertext changes) and a link, R'
wrapped by R, by which every node that holds an older root key follows. It also adds a
fresh keyring term under R' for material made afterwards. All of that is ciphertext;
it waits in the pending operation until M admins approve, and the state machine
installs it exactly once. The new shares go to the requester, once; they open nothing
until the operation has run, and the old ones open nothing in the state after it.
"""

from __future__ import annotations

import re
import secrets

from keymgr.crypto.aead import KEY_SIZE, wipe
from keymgr.crypto.barrier import (
    root_successor_aad,
    unwrap_term_key,
    wrap_root_key,
    wrap_term_key,
)
from keymgr.node_errors import FailedPrecondition, InvalidArgument, Unavailable
from keymgr.raft.proposer import now_ms
from keymgr.seal.shamir import new_shamir_init
from keymgr.server.approvals import request_approval
from keymgr.server.auth import Caller
from keymgr.server.context import NodeContext
from keymgr.store.access import state_word
from keymgr.v1 import operator_pb2, store_pb2

MAX_SHARES = 16  # as at init
OPERATION_ID = re.compile(r"[0-9a-f]{16,32}")


def _shares_and_threshold(
    request: operator_pb2.RotateRootRequest, init: store_pb2.InitCluster
) -> tuple[int, int]:
    shares = request.secret_shares or init.secret_shares
    if not 1 <= shares <= MAX_SHARES:
        raise InvalidArgument("secret_shares", f"must be between 1 and {MAX_SHARES}, got {shares}")
    threshold = request.secret_threshold or min(init.secret_threshold, shares)
    if not 1 <= threshold <= shares:
        raise InvalidArgument(
            "secret_threshold", f"must be between 1 and secret_shares ({shares}), got {threshold}"
        )
    return shares, threshold


def _rewrapped_terms(
    old_root: bytes, new_root: bytearray, terms: tuple[store_pb2.KeyringTerm, ...]
) -> list[store_pb2.KeyringTerm]:
    return [
        store_pb2.KeyringTerm(
            term=t.term,
            wrapped_key=wrap_term_key(
                new_root, t.term, unwrap_term_key(old_root, t.term, t.wrapped_key)
            ),
            created_at_ms=t.created_at_ms,
        )
        for t in terms
    ]


def build_rotation(
    old_root: bytes,
    generation: int,
    terms: tuple[store_pb2.KeyringTerm, ...],
    shares: int,
    threshold: int,
    now_ms: int,
) -> tuple[list[str], store_pb2.RotateRoot]:
    """(new share texts, the replicated record) for rotating `old_root` of `generation`.
    The new root key never leaves this function unwrapped."""
    new_root = bytearray(secrets.token_bytes(KEY_SIZE))
    next_term = terms[-1].term + 1
    try:
        texts, wrapped_root, digests = new_shamir_init(bytes(new_root), shares, threshold)
        rotation = store_pb2.RotateRoot(
            from_generation=generation,
            shamir_wrapped_root_key=wrapped_root,
            secret_shares=shares,
            secret_threshold=threshold,
            share_digests=digests,
            root_successor=wrap_root_key(old_root, new_root, root_successor_aad(generation + 1)),
            keyring=_rewrapped_terms(old_root, new_root, terms),
            new_term=store_pb2.KeyringTerm(
                term=next_term,
                wrapped_key=wrap_term_key(new_root, next_term, secrets.token_bytes(KEY_SIZE)),
                created_at_ms=now_ms,
            ),
        )
    finally:
        wipe(new_root)
    return texts, rotation


async def request_root_rotation(
    node: NodeContext, caller: Caller, request: operator_pb2.RotateRootRequest
) -> operator_pb2.RotateRootResponse:
    """Builds the rotation on this (unsealed, serving) node and asks for approval."""
    node.check_serving()
    init = node.store.init_cluster()
    if init is None:
        raise FailedPrecondition("cluster is not initialized: run `keymgr operator init`")
    shares, threshold = _shares_and_threshold(request, init)
    if request.operation_id and not OPERATION_ID.fullmatch(request.operation_id):
        raise InvalidArgument("operation_id", "must be 16 to 32 lowercase hex digits")
    old_root, generation = node.seal.current_root_key()
    view_generation, terms = node.store.root_view()
    if view_generation != generation:
        raise Unavailable("the root key is being rotated now; retry")
    texts, rotation = build_rotation(old_root, generation, terms, shares, threshold, now_ms())
    operation = await request_approval(
        node,
        caller,
        "rotate_root",
        rotation,
        ttl_s=request.ttl_seconds,
        operation_id=request.operation_id,
        summary=(
            f"rotate the root key (generation {generation} -> {generation + 1}) and re-key "
            f"the unseal shares ({threshold} of {shares}); the new shares went to "
            f"{caller.principal}"
        ),
    )
    recorded = operation.command.rotate_root.shamir_wrapped_root_key
    if recorded != rotation.shamir_wrapped_root_key:  # an earlier request with this id
        raise FailedPrecondition(
            f"operation_id: {operation.id} is already used by an earlier request; the shares "
            f"of this call are void. If `keymgr approvals list` shows {operation.id} as a "
            "pending rotate-root whose shares you do not have, reject it"
        )
    if operation.state == store_pb2.OPERATION_STATE_FAILED:
        raise FailedPrecondition(
            f"root rotation refused: {operation.result.error.message}; the new shares are void"
        )
    return operator_pb2.RotateRootResponse(
        unseal_shares=texts,
        secret_threshold=threshold,
        operation_id=operation.id,
        operation_state=state_word(operation.state),
        approvals_required=operation.required,
        root_generation=generation + 1,
    )
