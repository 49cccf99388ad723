"""One Status, Encrypt and Decrypt round trip against a KMS v2 plugin's socket, as the
Kubernetes API server makes them: a way to check a plugin (ours or another) without a
Kubernetes cluster."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import grpc

from keymgr.k8s_kms_v2 import api_pb2, api_pb2_grpc


class ProbeFailed(Exception):
    """The plugin did not answer as the API server needs; the message says where."""


@dataclass(frozen=True)
class ProbeResult:
    version: str
    healthz: str
    key_id: str
    ciphertext_bytes: int


def probe(socket_path: Path, *, timeout: float = 10.0) -> ProbeResult:
    """Status must say v2/ok; a random 32-byte DEK must encrypt under the key_id Status
    named and decrypt back to itself."""
    if not socket_path.exists():
        raise ProbeFailed(f"{socket_path}: no such socket (is the plugin running?)")
    with grpc.insecure_channel(f"unix://{socket_path.resolve()}") as channel:
        kms = api_pb2_grpc.KeyManagementServiceStub(channel)  # type: ignore[no-untyped-call]
        try:
            status = kms.Status(api_pb2.StatusRequest(), timeout=timeout)
            if status.version != "v2" or status.healthz != "ok":
                raise ProbeFailed(
                    f"Status: version {status.version!r}, healthz {status.healthz!r} "
                    "(the API server needs v2 and ok)"
                )
            dek = secrets.token_bytes(32)
            sealed = kms.Encrypt(
                api_pb2.EncryptRequest(plaintext=dek, uid="keymgr-kms-probe"), timeout=timeout
            )
            if dek in sealed.ciphertext:
                raise ProbeFailed("Encrypt: the ciphertext contains the plaintext")
            opened = kms.Decrypt(
                api_pb2.DecryptRequest(
                    ciphertext=sealed.ciphertext, uid="keymgr-kms-probe", key_id=sealed.key_id
                ),
                timeout=timeout,
            )
        except grpc.RpcError as exc:
            raise ProbeFailed(f"{exc.code().name}: {exc.details()}") from None
    if opened.plaintext != dek:
        raise ProbeFailed("Decrypt: did not return the plaintext Encrypt was given")
    if sealed.key_id != status.key_id:
        raise ProbeFailed(f"Encrypt used key_id {sealed.key_id!r}, Status said {status.key_id!r}")
    return ProbeResult(status.version, status.healthz, sealed.key_id, len(sealed.ciphertext))
