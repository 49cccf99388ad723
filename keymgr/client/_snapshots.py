"""Backup and restore calls (Operator service): a snapshot file moves in chunks, to or
from one node."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import cast

from keymgr.client._exceptions import KeymgrError
from keymgr.client._transport import Transport
from keymgr.v1 import operator_pb2


class SnapshotCalls(Transport):
    """Client methods for saving and restoring the cluster's snapshot file."""

    def save_snapshot(
        self, *, on_progress: Callable[[int, int], None] | None = None, endpoint: str | None = None
    ) -> tuple[bytes, operator_pb2.SnapshotChunk]:
        """The cluster's snapshot file, fetched in chunks from one node; returns
        (file bytes, first chunk's metadata). `on_progress(done, total)` per chunk."""
        first = self._call(
            "operator", "SaveSnapshot", operator_pb2.SaveSnapshotRequest(), endpoint=endpoint
        )
        target = endpoint or self._policy.endpoints[0]  # the same node holds the snapshot
        data = bytearray(first.data)
        if on_progress:
            on_progress(len(data), first.total_size)
        while len(data) < first.total_size:
            chunk = self._call(
                "operator",
                "SaveSnapshot",
                operator_pb2.SaveSnapshotRequest(snapshot_id=first.snapshot_id, offset=len(data)),
                endpoint=target,
            )
            if not chunk.data:
                raise KeymgrError("snapshot download stalled", endpoint=target)
            data.extend(chunk.data)
            if on_progress:
                on_progress(len(data), first.total_size)
        return bytes(data), first

    def restore_snapshot(
        self,
        data: bytes,
        shares: Sequence[str],
        *,
        endpoint: str,
        chunk_bytes: int = 256 * 1024,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> operator_pb2.RestoreSnapshotResponse:
        """Uploads a snapshot file to one node of a fresh cluster and restores it."""
        upload_id = uuid.uuid4().hex
        offset = 0
        while True:
            piece = data[offset : offset + chunk_bytes]
            final = offset + len(piece) >= len(data)
            response = self._call(
                "operator",
                "RestoreSnapshot",
                operator_pb2.RestoreSnapshotRequest(
                    upload_id=upload_id,
                    offset=offset,
                    data=piece,
                    final=final,
                    shares=list(shares) if final else [],
                ),
                endpoint=endpoint,
            )
            offset += len(piece)
            if on_progress:
                on_progress(offset, len(data))
            if final:
                return cast("operator_pb2.RestoreSnapshotResponse", response)
