"""Shared by the BYOK tests (import, export, OpenBao): the client envelope v2 opened
outside keymgr, written from docs/architecture.md, so material is checked by an
independent path; the cloud's side of an export (its RSA key, its unwrap); a cluster
where exports need two admins."""

from __future__ import annotations

import uuid
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding

from keymgr.client import Client
from keymgr.ops.devcluster import LocalCluster
from keymgr.v1 import store_pb2
from tests.integration.conftest import _spec
from tests.integration.helpers import principal

OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
EXECUTED = store_pb2.OPERATION_STATE_EXECUTED
PENDING = store_pb2.OPERATION_STATE_PENDING


def open_envelope_v2(secret: bytes, blob: bytes, context: bytes = b"") -> bytes:
    """docs/architecture.md, "Ciphertext formats", client envelope format v2, written
    from the document: K_msg = HMAC-SHA256(K, label ‖ salt ‖ AAD ‖ 0x01)."""
    assert blob[0] == 2
    header, salt, nonce, sealed = blob[:21], blob[21:53], blob[53:65], blob[65:]
    aad = header + context
    mac = hmac.HMAC(secret, hashes.SHA256())
    mac.update(b"keymgr/envelope/v2\0" + salt + aad + b"\x01")
    return AESGCM(mac.finalize()).decrypt(nonce, sealed, aad)


def two_admin_cluster(root: Path) -> LocalCluster:
    """A running cluster (audit files under `root`) where an export needs two admins:
    alice (the cluster's admin) asks, bob approves. The caller closes it."""
    spec = _spec()
    spec.audit_files = {node.id: str(root / f"audit-{node.id}.log") for node in spec.nodes}
    local = LocalCluster(root, spec)
    try:
        local.bring_up()
        with local.client() as alice:
            assert alice.set_roles(principal("admin", "bob"), ["admin"]).state == EXECUTED
            assert alice.set_approval_rule("export-key", 2).state == EXECUTED
    except BaseException:
        local.close()
        raise
    return local


def audit_bytes(local: LocalCluster) -> bytes:
    return b"".join(Path(path).read_bytes() for path in local.spec.audit_files.values())


def approved_export(alice: Client, bob: Client, name: str, version: int = 0) -> str:
    """The id of an export grant for `name` that alice asked for and bob approved."""
    operation = alice.request_export(name, version=version)
    assert operation.state == PENDING
    assert bob.approve(operation.id).state == EXECUTED
    return operation.id


def approved_grant(alice: Client, bob: Client) -> tuple[str, bytes, str]:
    """(grant id, a keymgr ciphertext, key name) for a fresh key, approved by bob."""
    name = f"exp-{uuid.uuid4().hex[:8]}"
    alice.create_key(name)
    blob = alice.encrypt(name, b"made inside keymgr", consistent=True)
    return approved_export(alice, bob, name), blob, name


@cache
def rsa_key(bits: int) -> rsa.RSAPrivateKey:
    """The cloud's wrapping key pair (made once per size: RSA-4096 takes a while)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def pem(private: Any) -> bytes:
    return bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def fingerprint(private: Any) -> bytes:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(
        private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return digest.finalize()


def unwrap_rsa_aes(private: rsa.RSAPrivateKey, payload: bytes, pad: padding.OAEP) -> bytes:
    """CKM_RSA_AES_KEY_WRAP undone as the destination does: OAEP-decrypt the first
    modulus-size bytes, then AES key unwrap with padding (RFC 5649) of the rest."""
    size = private.key_size // 8
    ephemeral = private.decrypt(payload[:size], pad)
    assert len(ephemeral) == 32
    return aes_key_unwrap_with_padding(ephemeral, payload[size:])
