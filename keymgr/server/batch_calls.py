"""BatchEncrypt, BatchDecrypt, BatchGenerateDataKey: many items in one call.

Why: a gRPC call costs the node far more CPU than the AES-GCM in it, so an application
that needs many keys at once pays that cost once per batch instead of once per key.

What is per batch and what per item: the read gate (sealed, stale, lagging node), the
caller's `keymgr-min-index`, a LINEARIZABLE barrier and the item count are checked once
and fail the whole call. Everything else is the single call's own path
(`crypto_ops.*Item.checked` then `.run`) run for each item, so each item is validated,
authorized for its own key and context, and answered with its own result or error.
Each item notes its key in its own audit target; the call's one audit line then names
every item's key, version and outcome (`audit_target.note_batch`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import grpc

from keymgr.node_errors import InvalidArgument, NodeError, status_for
from keymgr.server import batch_memo
from keymgr.server.audit_target import AuditTarget, BatchEntry, audit_target, note_batch
from keymgr.server.auth import Caller, caller_of
from keymgr.server.context import NodeContext
from keymgr.server.crypto_ops import DataKeyItem, DecryptItem, EncryptItem, read_consistency
from keymgr.server.rpc import node_error_for, rpc
from keymgr.v1 import keys_pb2

log = logging.getLogger(__name__)

MAX_BATCH_ITEMS = 1000
YIELD_EVERY = 100  # items between yields to the event loop, so other calls are served

T = TypeVar("T")
R = TypeVar("R")


def check_item_count(count: int) -> None:
    if not 1 <= count <= MAX_BATCH_ITEMS:
        raise InvalidArgument("items", f"1..{MAX_BATCH_ITEMS} items per call, got {count}")


def item_error(exc: NodeError) -> keys_pb2.ItemError:
    code, message = status_for(exc)
    return keys_pb2.ItemError(code=code.value[0], message=message)


def _internal(name: str, index: int) -> tuple[grpc.StatusCode, keys_pb2.ItemError]:
    ref = uuid.uuid4().hex[:12]
    log.exception("internal error in %s item %d (ref=%s)", name, index, ref)
    code = grpc.StatusCode.INTERNAL
    return code, keys_pb2.ItemError(code=code.value[0], message=f"internal error (ref={ref})")


async def run_items(
    name: str, items: Sequence[T], work: Callable[[int, T], R]
) -> list[R | keys_pb2.ItemError]:
    """`work(index, item)` for every item, each noting its key in the items' audit
    target (cleared before each item); one item's failure becomes its ItemError and the
    others carry on."""
    outcomes: list[R | keys_pb2.ItemError] = []
    entries: list[BatchEntry] = []
    target = AuditTarget()
    token = audit_target.set(target)
    memo = batch_memo.start()
    try:
        for index, item in enumerate(items):
            if index and not index % YIELD_EVERY:
                batch_memo.stop(memo)  # the state may change while other calls run
                await asyncio.sleep(0)
                memo = batch_memo.start()
            target.key_id = target.key_version = None
            entries.append(_run_one(name, index, item, work, outcomes, target))
    finally:
        batch_memo.stop(memo)
        audit_target.reset(token)
    note_batch(entries)
    return outcomes


def _run_one(
    name: str,
    index: int,
    item: T,
    work: Callable[[int, T], R],
    outcomes: list[R | keys_pb2.ItemError],
    target: AuditTarget,
) -> BatchEntry:
    """One item; appends its outcome; its audit entry (what it noted in `target`)."""
    code = grpc.StatusCode.OK
    try:
        outcomes.append(work(index, item))
    except Exception as exc:
        mapped = node_error_for(exc)  # the same table as a single call's
        if mapped is not None:
            code = mapped.code
            outcomes.append(item_error(mapped))
        else:
            code, error = _internal(name, index)
            outcomes.append(error)
    return (target.key_id, target.key_version, code.name)


def fill_results(results: Any, outcomes: Sequence[object]) -> None:
    """Each outcome as the next `results` entry: `error` for an ItemError, else `ok`."""
    for outcome in outcomes:
        result = results.add()
        if isinstance(outcome, keys_pb2.ItemError):
            result.error.CopyFrom(outcome)
        else:
            result.ok.CopyFrom(outcome)


def _at(index: int) -> str:
    return f"items[{index}]."


class BatchCryptoCalls:
    """The batch RPCs of the KeyManagement service (mixed into its servicer)."""

    _node: NodeContext

    async def _batch_start(
        self, context: grpc.aio.ServicerContext, count: int, consistency: int
    ) -> Caller:
        """The batch-level checks, once per call: caller, item count, read gate, barrier."""
        caller = caller_of(context)
        check_item_count(count)
        self._node.check_serving()
        await read_consistency(self._node, consistency)
        return caller

    @rpc
    async def BatchEncrypt(
        self, request: keys_pb2.BatchEncryptRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.BatchEncryptResponse:
        caller = await self._batch_start(context, len(request.items), request.consistency)

        def one(index: int, item: keys_pb2.BatchEncryptItem) -> keys_pb2.EncryptResponse:
            return EncryptItem.checked(
                item.key_name, item.plaintext, item.encryption_context, _at(index)
            ).run(self._node, caller)

        response = keys_pb2.BatchEncryptResponse()
        fill_results(response.results, await run_items("BatchEncrypt", request.items, one))
        return response

    @rpc
    async def BatchDecrypt(
        self, request: keys_pb2.BatchDecryptRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.BatchDecryptResponse:
        caller = await self._batch_start(context, len(request.items), request.consistency)

        def one(index: int, item: keys_pb2.BatchDecryptItem) -> keys_pb2.DecryptResponse:
            return DecryptItem.checked(
                item.ciphertext_blob, item.encryption_context, _at(index)
            ).run(self._node, caller)

        response = keys_pb2.BatchDecryptResponse()
        fill_results(response.results, await run_items("BatchDecrypt", request.items, one))
        return response

    @rpc
    async def BatchGenerateDataKey(
        self, request: keys_pb2.BatchGenerateDataKeyRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.BatchGenerateDataKeyResponse:
        caller = await self._batch_start(context, len(request.items), request.consistency)

        def one(
            index: int, item: keys_pb2.BatchGenerateDataKeyItem
        ) -> keys_pb2.GenerateDataKeyResponse:
            return DataKeyItem.checked(
                item.key_name,
                item.encryption_context,
                item.number_of_bytes,
                item.without_plaintext,
                _at(index),
            ).run(self._node, caller)

        response = keys_pb2.BatchGenerateDataKeyResponse()
        fill_results(response.results, await run_items("BatchGenerateDataKey", request.items, one))
        return response
