"""The operator RPCs for backup and DR restore: SaveSnapshot streams a MAC'd consistent
cut in chunks, RestoreSnapshot takes one into a fresh cluster with the backed-up
cluster's unseal shares. Part of `OperatorServicer` (a mixin); the file format is
`keymgr.raft.snapshot_file`."""

from __future__ import annotations

import asyncio
import time
import uuid

import grpc

from keymgr.crypto.aead import wipe
from keymgr.crypto.errors import DecryptionFailed, InvalidShare
from keymgr.node_errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from keymgr.raft import snapshot_file
from keymgr.raft.node import RaftError
from keymgr.raft.proposer import now_ms
from keymgr.seal.shamir import ShareCollector
from keymgr.server.auth import caller_of
from keymgr.server.context import NodeContext
from keymgr.server.rpc import rpc
from keymgr.v1 import operator_pb2, store_pb2

CHUNK_BYTES = 256 * 1024
SNAPSHOT_TTL_S = 300.0
MAX_UPLOAD_BYTES = 512 * 1024 * 1024


class SnapshotRpcs:
    _node: NodeContext
    _snapshots: dict[str, tuple[float, bytes, int, int]]  # id -> (t, file, idx, keys)
    _uploads: dict[str, tuple[float, bytearray]]

    def _expire(self) -> None:
        now = time.monotonic()
        for sid in [k for k, v in self._snapshots.items() if now - v[0] > SNAPSHOT_TTL_S]:
            del self._snapshots[sid]
        for uid in [k for k, v in self._uploads.items() if now - v[0] > SNAPSHOT_TTL_S]:
            del self._uploads[uid]

    async def _take_snapshot(self) -> tuple[bytes, int, int]:
        """A consistent cut: read barrier, then the state read in the Raft thread, MAC'd
        with the root key of the cut's generation (a rotation may land in between)."""
        node = self._node
        node.seal.root_key()  # Sealed: fail before the barrier
        await node.read_barrier()

        def cut(core: object) -> tuple[bytes, int, int]:
            applied = int(core.raftLastApplied)  # type: ignore[attr-defined]
            return node.store.snapshot(), applied, node.store.root_generation

        for _ in range(3):
            try:
                state, applied, generation = await asyncio.to_thread(
                    node.raft.call_in_tick, cut, 10.0
                )
            except RaftError as exc:
                raise Unavailable(f"cannot take a snapshot now: {exc}") from exc
            root, root_generation = node.seal.current_root_key()
            if root_generation == generation:
                break
        else:
            raise Unavailable("the root key is being rotated; take the snapshot again")
        keys = sum(node.store.key_counts().values())
        data = snapshot_file.encode(
            state,
            root,
            node=node.config.node.id,
            applied_index=applied,
            keys=keys,
            created_ms=now_ms(),
        )
        return data, applied, keys

    @rpc
    async def SaveSnapshot(
        self, request: operator_pb2.SaveSnapshotRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.SnapshotChunk:
        self._node.admin_caller(context)
        self._node.check_serving()
        self._expire()
        sid = request.snapshot_id
        if not sid:
            if request.offset:
                raise InvalidArgument("offset", "must be 0 when no snapshot_id is given")
            data, applied, keys = await self._take_snapshot()
            sid = uuid.uuid4().hex
            self._snapshots[sid] = (time.monotonic(), data, applied, keys)
        entry = self._snapshots.get(sid)
        if entry is None:
            raise NotFound(f"snapshot_id: no snapshot {sid!r} (expired?); start again")
        _, data, applied, keys = entry
        if request.offset > len(data):
            raise InvalidArgument("offset", f"beyond the end ({len(data)} bytes)")
        chunk = data[request.offset : request.offset + CHUNK_BYTES]
        if request.offset + len(chunk) >= len(data):
            self._snapshots.pop(sid, None)
        return operator_pb2.SnapshotChunk(
            snapshot_id=sid,
            offset=request.offset,
            total_size=len(data),
            data=chunk,
            applied_index=applied,
            keys=keys,
        )

    @rpc
    async def RestoreSnapshot(
        self, request: operator_pb2.RestoreSnapshotRequest, context: grpc.aio.ServicerContext
    ) -> operator_pb2.RestoreSnapshotResponse:
        caller = caller_of(context)  # no admins yet: the unseal shares are the authority
        node = self._node
        if node.store.initialized:
            raise FailedPrecondition(
                "cluster is already initialized: restore needs a fresh, uninitialised cluster"
            )
        if not request.upload_id:
            raise InvalidArgument("upload_id", "must not be empty")
        self._expire()
        _, buffer = self._uploads.setdefault(request.upload_id, (time.monotonic(), bytearray()))
        if request.offset != len(buffer):
            raise InvalidArgument("offset", f"expected {len(buffer)}, got {request.offset}")
        if len(buffer) + len(request.data) > MAX_UPLOAD_BYTES:
            self._uploads.pop(request.upload_id, None)
            raise InvalidArgument("data", f"snapshot larger than {MAX_UPLOAD_BYTES} bytes")
        buffer.extend(request.data)
        if not request.final:
            return operator_pb2.RestoreSnapshotResponse(received=len(buffer))
        self._uploads.pop(request.upload_id, None)
        parsed = snapshot_file.parse(bytes(buffer))  # SnapshotFileError: INVALID_ARGUMENT
        state = store_pb2.StoreState()
        try:
            state.ParseFromString(parsed.state)
        except Exception:
            raise InvalidArgument("file", "snapshot state does not decode") from None
        if not state.HasField("init"):
            raise InvalidArgument("file", "snapshot has no init record")
        root = self._root_from_shares(state.init, list(request.shares))
        try:
            snapshot_file.verify(parsed, root)
        except snapshot_file.SnapshotFileError:
            wipe(root)
            raise
        command = store_pb2.Command(
            request_id=uuid.uuid4().hex,
            principal=caller.principal,
            restore_state=store_pb2.RestoreState(state=parsed.state),
        )
        try:
            await node.proposer.submit(command)
        except Exception:
            wipe(root)
            raise
        await asyncio.to_thread(
            node.seal.install_new_root_key, root, generation=state.init.root_generation
        )
        node.materials.clear()
        header = parsed.header
        applied = header.get("applied_index")
        return operator_pb2.RestoreSnapshotResponse(
            received=len(buffer),
            restored=True,
            keys=len(state.keys),
            source_applied_index=applied if isinstance(applied, int) else 0,
        )

    @staticmethod
    def _root_from_shares(init: store_pb2.InitCluster, shares: list[str]) -> bytearray:
        try:
            collector = ShareCollector(init)
        except ValueError as exc:
            raise InvalidArgument("file", f"snapshot init record: {exc}") from exc
        try:
            for share in shares:
                collector.submit(share.strip())
                if collector.complete:
                    return collector.take_root_key()
        except InvalidShare as exc:
            collector.reset()
            raise InvalidArgument("shares", str(exc)) from exc
        except DecryptionFailed as exc:
            raise InvalidArgument("shares", "the shares do not open this snapshot") from exc
        collector.reset()
        raise InvalidArgument(
            "shares", f"need {collector.threshold} distinct unseal shares of the backed-up cluster"
        )
