"""Secrets: versioned KV v2 secrets under managed keys (skeleton; being filled in)."""

from __future__ import annotations

from keymgr.server.context import NodeContext
from keymgr.v1 import secrets_pb2_grpc


class SecretsServicer(secrets_pb2_grpc.SecretsServicer):  # type: ignore[misc]
    def __init__(self, node: NodeContext) -> None:
        self._node = node
