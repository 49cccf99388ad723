"""ExportKey's destination handling: the request's destination and parameters checked
into an ExportPlan, and the export's record (ExportBundle) proposed with the grant's use.

The plan is made, and refused, before the grant is used or any material read.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import rsa

from keymgr.crypto import key_export
from keymgr.server.errors import InvalidArgument
from keymgr.store.keystore_validation import DESTINATION_NAME, DESTINATION_NAME_RULE
from keymgr.v1 import access_pb2, store_pb2

DESTINATIONS = {
    access_pb2.EXPORT_DESTINATION_UNSPECIFIED: key_export.ESCROW,
    access_pb2.EXPORT_DESTINATION_RSA_AES: key_export.RSA_AES,
    access_pb2.EXPORT_DESTINATION_AWS: key_export.AWS,
    access_pb2.EXPORT_DESTINATION_GCP: key_export.GCP,
    access_pb2.EXPORT_DESTINATION_AZURE: key_export.AZURE,
    access_pb2.EXPORT_DESTINATION_OPENBAO: key_export.OPENBAO,
}
DESTINATION_ENUMS = {word: number for number, word in DESTINATIONS.items()}
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
    return key_export.plan(destination, request.algorithm, public_key, request.kek_id)


def bundle_for(plan: key_export.ExportPlan, destination_name: str) -> store_pb2.ExportBundle:
    """The proposer's part of the record; the state machine adds key, approvers, time."""
    return store_pb2.ExportBundle(
        destination=plan.destination,
        algorithm=plan.algorithm,
        wrapping_key_sha256=plan.fingerprint,
        kek_id=plan.kek_id,
        destination_name=destination_name,
    )


def audit_line(plan: key_export.ExportPlan, destination_name: str, approvers: list[str]) -> str:
    where = f"{plan.destination}:{destination_name}" if destination_name else plan.destination
    kek = f", kek {plan.kek_id}" if plan.kek_id else ""
    return (
        f"export to {where} ({plan.algorithm}{kek}), wrapping key sha256 "
        f"{plan.fingerprint.hex()}, approved by {','.join(approvers) or '-'}"
    )
