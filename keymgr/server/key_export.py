"""ExportKey's destination handling: the request's destination and parameters checked
into an ExportPlan, and the export's record (ExportBundle) proposed with the grant's use.

The plan is made, and refused, before the grant is used or any material read.

Usage: what the destination may do with the key, stated by the exporter (or derived
from the key's purpose) and recorded with the export. None of the import payloads
carries it (AWS and Google set it when the key is created, Azure in the import request's
`key_ops`, OpenBao by the imported key's `type`), so each destination takes only the
usages its own settings can express for a 256-bit symmetric key.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import rsa

from keymgr.crypto import key_export
from keymgr.node_errors import InvalidArgument
from keymgr.store.keystore_validation import (
    DESTINATION_NAME,
    DESTINATION_NAME_RULE,
    EXPORT_USAGES,
)
from keymgr.v1 import access_pb2, keys_pb2, store_pb2

DESTINATIONS = {
    access_pb2.EXPORT_DESTINATION_UNSPECIFIED: key_export.ESCROW,
    access_pb2.EXPORT_DESTINATION_RSA_AES: key_export.RSA_AES,
    access_pb2.EXPORT_DESTINATION_AWS: key_export.AWS,
    access_pb2.EXPORT_DESTINATION_GCP: key_export.GCP,
    access_pb2.EXPORT_DESTINATION_AZURE: key_export.AZURE,
    access_pb2.EXPORT_DESTINATION_OPENBAO: key_export.OPENBAO,
}
DESTINATION_ENUMS = {word: number for number, word in DESTINATIONS.items()}

USAGES = EXPORT_USAGES
ENCRYPT_DECRYPT, WRAP_UNWRAP, GENERATE_VERIFY_MAC = EXPORT_USAGES
USAGES_BY_DESTINATION = {
    key_export.ESCROW: USAGES,
    key_export.RSA_AES: USAGES,
    key_export.AWS: (ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC),  # KeyUsage of the KMS key
    key_export.GCP: (ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC),  # purpose of the CryptoKey
    key_export.AZURE: (ENCRYPT_DECRYPT, WRAP_UNWRAP),  # key_ops of the imported key
    key_export.OPENBAO: (ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC),  # type aes256-gcm96|hmac
}
WRAPPING_PURPOSES = (keys_pb2.KEY_PURPOSE_TDE, keys_pb2.KEY_PURPOSE_VOLUME)
MAX_IMPORT_TOKEN = 8192  # AWS import tokens are about 1.6 KB


def plan_for(
    request: access_pb2.ExportKeyRequest, public_key: rsa.RSAPublicKey
) -> key_export.ExportPlan:
    """The checked export plan; InvalidArgument naming the field otherwise (the plan's
    own ExportRefused names it too: the error table in server/rpc.py maps it)."""
    destination = DESTINATIONS.get(request.destination)
    if destination is None:
        raise InvalidArgument("destination", f"unknown destination {request.destination}")
    if request.import_token and destination != key_export.AWS:
        raise InvalidArgument("import_token", "only aws exports carry an import token")
    if len(request.import_token) > MAX_IMPORT_TOKEN:
        raise InvalidArgument("import_token", f"at most {MAX_IMPORT_TOKEN} bytes")
    if request.kek_id and destination != key_export.AZURE:
        raise InvalidArgument("kek_id", "only azure exports name a key-exchange key")
    if not DESTINATION_NAME.fullmatch(request.destination_name):
        raise InvalidArgument("destination_name", DESTINATION_NAME_RULE)
    if request.usage and request.usage not in USAGES_BY_DESTINATION[destination]:
        raise InvalidArgument(
            "usage",
            f"{destination} takes {' | '.join(USAGES_BY_DESTINATION[destination])}, "
            f"got {request.usage[:64]!r}",
        )
    return key_export.plan(destination, request.algorithm, public_key, request.kek_id)


def usage_for(requested: str, destination: str, purpose: int) -> str:
    """The requested usage (checked by `plan_for`), else the key purpose's own: key
    wrapping for TDE and volume keys where the destination can say so, else encryption."""
    if requested:
        return requested
    if purpose in WRAPPING_PURPOSES and WRAP_UNWRAP in USAGES_BY_DESTINATION[destination]:
        return WRAP_UNWRAP
    return ENCRYPT_DECRYPT


def bundle_for(
    plan: key_export.ExportPlan, destination_name: str, usage: str
) -> store_pb2.ExportBundle:
    """The proposer's part of the record; the state machine adds key, approvers, time."""
    return store_pb2.ExportBundle(
        usage=usage,
        destination=plan.destination,
        algorithm=plan.algorithm,
        wrapping_key_sha256=plan.fingerprint,
        kek_id=plan.kek_id,
        destination_name=destination_name,
    )


def audit_line(
    plan: key_export.ExportPlan, destination_name: str, approvers: list[str], usage: str
) -> str:
    where = f"{plan.destination}:{destination_name}" if destination_name else plan.destination
    kek = f", kek {plan.kek_id}" if plan.kek_id else ""
    return (
        f"export to {where} ({plan.algorithm}{kek}) for {usage}, wrapping key sha256 "
        f"{plan.fingerprint.hex()}, approved by {','.join(approvers) or '-'}"
    )
