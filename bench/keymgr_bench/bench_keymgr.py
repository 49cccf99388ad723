"""The keymgr side of `keymgr bench`: async gRPC operations against a local cluster.

Several grpc.aio connections per node, calls spread over them in turn, as many
application instances would connect: a node's serving processes share its port and
each accepts some of the connections. The admin certificate authenticates.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from keymgr.ops.devcluster import LocalCluster
from keymgr.stubs import keys_stub, operator_stub
from keymgr.tls13 import client_channel_options
from keymgr.v1 import keys_pb2, operator_pb2

Op = Callable[[int], Awaitable[None]]

BATCH_ITEMS = 100  # keys per batch call, as the OpenBao side's batch_input


CONNECTIONS_PER_NODE = 8


class _RoundRobinStub:
    """A stub whose every call goes out on the next of several connections."""

    def __init__(self, stubs: list[Any]) -> None:
        self._next = itertools.cycle(stubs)

    def __getattr__(self, method: str) -> Any:
        return getattr(next(self._next), method)


@dataclass
class KeymgrTarget:
    cluster: LocalCluster
    connections: int = CONNECTIONS_PER_NODE
    channels: dict[str, list[grpc.aio.Channel]] = field(default_factory=dict)

    def stub(self, node_id: str) -> Any:
        channels = self.channels.get(node_id)
        if channels is None:
            creds = self.cluster.credentials.channel_credentials()
            own_connection = client_channel_options(own_connection=True)
            channels = [
                grpc.aio.secure_channel(self.cluster.node(node_id).api, creds, own_connection)
                for _ in range(self.connections)
            ]
            self.channels[node_id] = channels
        return _RoundRobinStub([keys_stub(c) for c in channels])

    async def leader_and_follower(self) -> tuple[str, str]:
        first = self.cluster.spec.nodes[0].id
        self.stub(first)
        status = await operator_stub(self.channels[first][0]).ClusterStatus(
            operator_pb2.ClusterStatusRequest(), timeout=5
        )
        leader = status.leader_id
        follower = next(n.node_id for n in status.nodes if n.node_id != leader)
        return leader, follower

    async def close(self) -> None:
        for channels in self.channels.values():
            for channel in channels:
                await channel.close()
        self.channels.clear()


async def keymgr_scenarios(target: KeymgrTarget) -> dict[str, Op]:
    """Scenario name -> operation; the same names as the OpenBao side."""
    leader, follower = await target.leader_and_follower()
    on_leader, on_follower = target.stub(leader), target.stub(follower)
    key = await on_leader.CreateKey(keys_pb2.CreateKeyRequest(name="bench-key"), timeout=10)
    made = await on_leader.GenerateDataKey(
        keys_pb2.GenerateDataKeyRequest(
            key_name=key.key.name, consistency=keys_pb2.CONSISTENCY_LINEARIZABLE
        ),
        timeout=10,
    )
    blob = made.ciphertext_blob
    # the follower must have applied the key before it can decrypt
    await on_follower.Decrypt(
        keys_pb2.DecryptRequest(
            ciphertext_blob=blob, consistency=keys_pb2.CONSISTENCY_LINEARIZABLE
        ),
        timeout=10,
    )
    counter = itertools.count()
    all_nodes = [target.stub(n.id) for n in target.cluster.spec.nodes]

    async def datakey(worker: int) -> None:
        await on_leader.GenerateDataKey(
            keys_pb2.GenerateDataKeyRequest(key_name="bench-key"), timeout=10
        )

    async def datakey_all_nodes(worker: int) -> None:
        await all_nodes[worker % len(all_nodes)].GenerateDataKey(
            keys_pb2.GenerateDataKeyRequest(key_name="bench-key"), timeout=10
        )

    async def decrypt_leader(worker: int) -> None:
        await on_leader.Decrypt(keys_pb2.DecryptRequest(ciphertext_blob=blob), timeout=10)

    async def decrypt_follower(worker: int) -> None:
        await on_follower.Decrypt(keys_pb2.DecryptRequest(ciphertext_blob=blob), timeout=10)

    async def create_key(worker: int) -> None:
        await on_leader.CreateKey(
            keys_pb2.CreateKeyRequest(name=f"bench-{next(counter)}"), timeout=10
        )

    batches = await _batch_ops(on_leader, key.key.name)
    return {
        **batches,
        "datakey": datakey,
        "datakey-all-nodes": datakey_all_nodes,
        "decrypt-leader": decrypt_leader,
        "decrypt-follower": decrypt_follower,
        "create-key": create_key,
    }


async def _batch_ops(stub: Any, key_name: str) -> dict[str, Op]:
    """batch-encrypt, batch-decrypt, batch-datakey: BATCH_ITEMS keys per call, on the
    leader, each item with its own context (as an application batching rows would)."""
    contexts = [{"row": str(i)} for i in range(BATCH_ITEMS)]
    encrypt = keys_pb2.BatchEncryptRequest(
        items=[
            keys_pb2.BatchEncryptItem(key_name=key_name, plaintext=bytes(32), encryption_context=c)
            for c in contexts
        ]
    )
    sealed = await stub.BatchEncrypt(encrypt, timeout=10)
    decrypt = keys_pb2.BatchDecryptRequest(
        items=[
            keys_pb2.BatchDecryptItem(ciphertext_blob=r.ok.ciphertext_blob, encryption_context=c)
            for r, c in zip(sealed.results, contexts, strict=True)
        ]
    )
    datakey = keys_pb2.BatchGenerateDataKeyRequest(
        items=[
            keys_pb2.BatchGenerateDataKeyItem(key_name=key_name, encryption_context=c)
            for c in contexts
        ]
    )

    def call(method: str, request: Any) -> Op:
        async def op(worker: int) -> None:
            response = await getattr(stub, method)(request, timeout=10)
            failed = next((r.error for r in response.results if r.HasField("error")), None)
            if failed is not None:
                raise RuntimeError(f"{method} item failed: {failed.message}")

        return op

    return {
        "batch-encrypt": call("BatchEncrypt", encrypt),
        "batch-decrypt": call("BatchDecrypt", decrypt),
        "batch-datakey": call("BatchGenerateDataKey", datakey),
    }
