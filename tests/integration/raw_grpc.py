"""Raw gRPC calls to one node: any bytes as the body, under any client certificate (the
bad-input, audit-bound and fuzz tests send what no SDK would)."""

from __future__ import annotations

import grpc

from keymgr.ops.devcluster import LocalCluster
from tests.integration.clients_support import agent_cert

GARBAGE = b"\xff\xff\xff\xff"  # a tag with field number 0: no message decodes from it


def identity(data: bytes) -> bytes:
    return data


def channel(
    cluster: LocalCluster, node_id: str, name: str = "admin", kind: str = "admin"
) -> grpc.Channel:
    """A channel to `node_id` with the cluster's admin certificate, or with `name`'s
    certificate of `kind` (issued if missing); no message size limit on this side."""
    if name == "admin":
        cert, key = cluster.certs / "admin.pem", cluster.certs / "admin-key.pem"
    else:
        cert, key = agent_cert(cluster, name, kind)
    creds = grpc.ssl_channel_credentials(
        root_certificates=cluster.credentials.ca.read_bytes(),
        private_key=key.read_bytes(),
        certificate_chain=cert.read_bytes(),
    )
    return grpc.secure_channel(
        cluster.node(node_id).api,
        creds,
        options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)],
    )


def method(ch: grpc.Channel, path: str) -> grpc.UnaryUnaryMultiCallable:
    return ch.unary_unary(path, request_serializer=identity, response_deserializer=identity)


def call(
    ch: grpc.Channel, path: str, body: bytes, timeout: float = 10.0
) -> tuple[grpc.StatusCode, str]:
    """(status code, details) of one call with `body` as the raw request."""
    try:
        method(ch, path)(body, timeout=timeout)
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""
