"""Key export (BYOK out of keymgr): material wrapped as each destination imports it.

Every format is the CKM_RSA_AES_KEY_WRAP layout (RSA-OAEP of an ephemeral AES-256 key,
then RFC 5649 AES key wrap with padding of the material) or plain RSA-OAEP, framed the
way AWS KMS, Google Cloud KMS, Azure Key Vault and OpenBao transit document their
import (docs/guide-byok.md, "Export"). Only the wrapped payload ever leaves.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from hashlib import sha256

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from keymgr.crypto.key_import import (
    EPHEMERAL_KEY_BYTES,
    RSA_AES_KEY_WRAP_SHA_256,
    RSAES_OAEP_SHA_256,
    oaep,
)

ESCROW, RSA_AES, AWS, GCP, AZURE, OPENBAO = "escrow", "rsa-aes", "aws", "gcp", "azure", "openbao"
GCP_METHODS = {"RSA_OAEP_3072_SHA256_AES_256": 3072, "RSA_OAEP_4096_SHA256_AES_256": 4096}
AZURE_ENC = "CKM_RSA_AES_KEY_WRAP"
AZURE_GENERATOR = "keymgr export; v1"
OPENBAO_ALGORITHM = "RSA_OAEP_SHA_256_AES_256_KWP"
CLOUD_KEY_BITS = (3072, 4096)  # keymgr's floor is 3072; the clouds stop at 4096
OPENBAO_KEY_BITS = (4096,)  # transit/wrapping_key is always RSA-4096


class ExportRefused(ValueError):
    """The request cannot be served for this destination; `field` names the culprit."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class ExportPlan:
    """What an export will do, decided (and refused) before any material is touched."""

    destination: str
    algorithm: str
    public_key: rsa.RSAPublicKey
    kek_id: str = ""

    @property
    def fingerprint(self) -> bytes:
        return wrapping_key_sha256(self.public_key)


def wrapping_key_sha256(public_key: rsa.RSAPublicKey) -> bytes:
    """SHA-256 of the SubjectPublicKeyInfo DER: the fingerprint a bundle record keeps."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return sha256(der).digest()


def plan(
    destination: str, algorithm: str, public_key: rsa.RSAPublicKey, kek_id: str = ""
) -> ExportPlan:
    """Checks the algorithm and wrapping key size `destination` documents; ExportRefused."""
    bits = public_key.key_size
    if destination == ESCROW:
        _only(algorithm, RSAES_OAEP_SHA_256)
        return ExportPlan(ESCROW, RSAES_OAEP_SHA_256, public_key)
    if destination == RSA_AES:
        _only(algorithm, RSA_AES_KEY_WRAP_SHA_256)
        return ExportPlan(RSA_AES, RSA_AES_KEY_WRAP_SHA_256, public_key)
    if destination == AWS:
        chosen = algorithm or RSA_AES_KEY_WRAP_SHA_256
        if chosen not in (RSA_AES_KEY_WRAP_SHA_256, RSAES_OAEP_SHA_256):
            raise ExportRefused(
                "algorithm",
                f"aws takes {RSA_AES_KEY_WRAP_SHA_256} or {RSAES_OAEP_SHA_256}, got {chosen!r}",
            )
        _bits("wrapping_public_key", "aws", bits, CLOUD_KEY_BITS)
        return ExportPlan(AWS, chosen, public_key)
    if destination == GCP:
        if algorithm not in GCP_METHODS:
            raise ExportRefused(
                "algorithm", f"gcp takes the import job's method, one of {sorted(GCP_METHODS)}"
            )
        if bits != GCP_METHODS[algorithm]:
            raise ExportRefused(
                "wrapping_public_key",
                f"{algorithm} needs an RSA-{GCP_METHODS[algorithm]} import job key, got RSA-{bits}",
            )
        return ExportPlan(GCP, algorithm, public_key)
    if destination == AZURE:
        _only(algorithm, AZURE_ENC)
        if not kek_id.strip():
            raise ExportRefused("kek_id", "azure needs the key-exchange key's id (kid)")
        if len(kek_id) > 1024 or any(ord(c) < 0x21 for c in kek_id):
            raise ExportRefused("kek_id", "at most 1024 printable characters, no spaces")
        _bits("wrapping_public_key", "azure", bits, CLOUD_KEY_BITS)
        return ExportPlan(AZURE, AZURE_ENC, public_key, kek_id)
    if destination == OPENBAO:
        _only(algorithm, OPENBAO_ALGORITHM)
        _bits("wrapping_public_key", "openbao", bits, OPENBAO_KEY_BITS)
        return ExportPlan(OPENBAO, OPENBAO_ALGORITHM, public_key)
    raise ExportRefused("destination", f"unknown destination {destination!r}")


def _only(algorithm: str, fixed: str) -> None:
    if algorithm and algorithm != fixed:
        raise ExportRefused("algorithm", f"this destination takes only {fixed} (or empty)")


def _bits(field: str, destination: str, bits: int, allowed: tuple[int, ...]) -> None:
    if bits not in allowed:
        sizes = " or ".join(f"RSA-{b}" for b in allowed)
        raise ExportRefused(field, f"{destination} needs an {sizes} wrapping key, got RSA-{bits}")


def rsa_aes_wrap(public_key: rsa.RSAPublicKey, material: bytes, pad: padding.OAEP) -> bytes:
    """CKM_RSA_AES_KEY_WRAP: RSA-OAEP(ephemeral AES-256 key) ‖ AES-KWP(ephemeral, material)."""
    ephemeral = bytearray(os.urandom(EPHEMERAL_KEY_BYTES))
    try:
        return public_key.encrypt(bytes(ephemeral), pad) + aes_key_wrap_with_padding(
            bytes(ephemeral), material
        )
    finally:
        ephemeral[:] = bytes(len(ephemeral))


def azure_oaep() -> padding.OAEP:
    """The Key Vault BYOK specification wraps the ephemeral AES key with RSA-OAEP, SHA-1."""
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)


def wrap(export: ExportPlan, material: bytes) -> bytes:
    """The payload exactly as `export.destination` imports it (see the module docstring)."""
    if export.algorithm == RSAES_OAEP_SHA_256:
        return export.public_key.encrypt(material, oaep())
    if export.destination == AZURE:
        blob = rsa_aes_wrap(export.public_key, material, azure_oaep())
        return azure_byok(export.kek_id, blob)
    blob = rsa_aes_wrap(export.public_key, material, oaep())
    if export.destination == OPENBAO:
        return base64.b64encode(blob)
    return blob


def azure_byok(kek_id: str, blob: bytes) -> bytes:
    """The .byok key transfer blob (JSON) Key Vault and Managed HSM import."""
    document = {
        "schema_version": "1.0.0",
        "header": {"kid": kek_id, "alg": "dir", "enc": AZURE_ENC},
        "ciphertext": base64.urlsafe_b64encode(blob).rstrip(b"=").decode("ascii"),
        "generator": AZURE_GENERATOR,
    }
    return json.dumps(document, indent=2).encode("utf-8") + b"\n"
