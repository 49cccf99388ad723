"""Kubernetes KMS v2 plugin: `KeyManagementService` on a unix socket, backed by the cluster.

The API server hands us DEKs to wrap: Encrypt is the cluster's Encrypt under one named
key, Decrypt is its Decrypt (ciphertexts are self-describing, so old ones decrypt after
any number of rotations). `key_id` is "<key id>/v<version>" of the version that
encrypts now, so it changes exactly when the key rotates, which is how the API server
learns about a rotation. Status encrypts and decrypts a probe: healthz is "ok" only
when a node answered, and a node answers crypto calls only when it is unsealed and in
contact with a Raft leader (the serving gate), i.e. quorum-connected.

The socket is owner-only; its gRPC server ends a connection that has not finished its
HTTP/2 preface within 5 s, holds at most 256 connections (more are refused) and 64
calls (more get RESOURCE_EXHAUSTED at once) and takes messages of at most 64 KiB.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc

from keymgr.client import Client, InvalidArgument, KeymgrError, NotFound, RetryableError
from keymgr.crypto import envelope
from keymgr.k8s_kms_v2 import api_pb2, api_pb2_grpc
from keymgr.listen_limits import KMS_PLUGIN, raise_open_file_limit

log = logging.getLogger(__name__)

CONTEXT = {"k8s-kms": "v2"}  # bound to every ciphertext: only this plugin opens them
PROBE = b"keymgr-kms-healthz"


def _status(exc: KeymgrError) -> grpc.StatusCode:
    if isinstance(exc, RetryableError):
        return grpc.StatusCode.UNAVAILABLE
    if isinstance(exc, InvalidArgument):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(exc, NotFound):
        return grpc.StatusCode.NOT_FOUND
    return grpc.StatusCode.FAILED_PRECONDITION


def key_id_of(blob: bytes) -> str:
    header = envelope.read_unverified_header(blob)
    return f"{header.key_id}/v{header.key_version}"


class KmsPlugin(api_pb2_grpc.KeyManagementServiceServicer):
    def __init__(self, client: Client, key_name: str) -> None:
        self._client = client
        self._key = key_name
        self._lock = threading.Lock()  # the client's failover order is not thread-safe
        self._last_key_id = ""

    def _encrypt(self, plaintext: bytes) -> tuple[bytes, str]:
        with self._lock:
            blob = self._client.encrypt(self._key, plaintext, context=CONTEXT)
        key_id = key_id_of(blob)
        self._last_key_id = key_id
        return blob, key_id

    def Status(self, request: api_pb2.StatusRequest, context: Any) -> api_pb2.StatusResponse:
        try:
            blob, key_id = self._encrypt(PROBE)
            with self._lock:
                healthy = self._client.decrypt(blob, context=CONTEXT) == PROBE
            healthz = "ok" if healthy else "probe did not decrypt to itself"
        except KeymgrError as exc:
            key_id = self._last_key_id or "unknown"
            healthz = f"keymgr unavailable: {str(exc).splitlines()[0]}"
        return api_pb2.StatusResponse(version="v2", healthz=healthz, key_id=key_id)

    def Encrypt(self, request: api_pb2.EncryptRequest, context: Any) -> api_pb2.EncryptResponse:
        if not request.plaintext:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "plaintext: must not be empty")
        try:
            blob, key_id = self._encrypt(request.plaintext)
        except KeymgrError as exc:
            log.warning("encrypt (uid %s) failed: %s", request.uid, exc)
            context.abort(_status(exc), str(exc).splitlines()[0])
        return api_pb2.EncryptResponse(ciphertext=blob, key_id=key_id)

    def Decrypt(self, request: api_pb2.DecryptRequest, context: Any) -> api_pb2.DecryptResponse:
        if not request.ciphertext:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "ciphertext: must not be empty")
        try:
            with self._lock:
                plaintext = self._client.decrypt(request.ciphertext, context=CONTEXT)
        except KeymgrError as exc:
            log.warning("decrypt (uid %s) failed: %s", request.uid, exc)
            context.abort(_status(exc), str(exc).splitlines()[0])
        return api_pb2.DecryptResponse(plaintext=plaintext)


def serve(client: Client, key_name: str, socket_path: Path) -> grpc.Server:
    """Starts the plugin on `socket_path` (owner-only; a missing directory is made
    owner-only too); returns the running server. OSError names a directory it cannot
    make."""
    socket_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()
    raise_open_file_limit(KMS_PLUGIN.max_connections)
    server = grpc.server(  # bounds and what they defend: keymgr/listen_limits.py
        futures.ThreadPoolExecutor(max_workers=8),
        options=KMS_PLUGIN.options(),
        maximum_concurrent_rpcs=KMS_PLUGIN.max_concurrent_rpcs,
    )
    api_pb2_grpc.add_KeyManagementServiceServicer_to_server(  # type: ignore[no-untyped-call]
        KmsPlugin(client, key_name), server
    )
    old = os.umask(0o177)
    try:
        server.add_insecure_port(f"unix://{socket_path}")
        server.start()
    finally:
        os.umask(old)
    return server
