"""Importing key material (BYOK): GetImportParameters and ImportKeyMaterial.

The node handling the call makes the RSA wrapping key and proposes it with its private
half barrier-encrypted, so any node can later unwrap with it. ImportKeyMaterial unwraps
on the receiving node and proposes only barrier-encrypted material plus a keyed digest,
exactly as CreateKey and RotateKey do. Every check the state machine makes is made here
first with the API's field names; the state machine repeats them (a token can be spent
by a concurrent call between the two).
"""

from __future__ import annotations

import asyncio
import secrets

from keymgr.crypto import key_import
from keymgr.crypto.barrier import Keyring, import_key_aad, material_aad
from keymgr.crypto.errors import DecryptionFailed
from keymgr.node_errors import FailedPrecondition, InvalidArgument, NodeError
from keymgr.raft.proposer import now_ms
from keymgr.server.audit_target import note_key
from keymgr.store import keystore_validation as check
from keymgr.v1 import keys_pb2, store_pb2

DEFAULT_BITS = 3072
DEFAULT_VALIDITY_S = 24 * 3600
MIN_VALIDITY_S = 60
MIN_EXPIRY_S = 1
MAX_EXPIRY_S = 10 * 365 * 86400
MAX_WRAPPED_PAYLOAD = 4096  # a 4096-bit RSA block plus a wrapped 32-byte key is 552
ALGORITHMS = {
    keys_pb2.WRAPPING_ALGORITHM_RSA_AES_KEY_WRAP_SHA_256: key_import.RSA_AES_KEY_WRAP_SHA_256,
    keys_pb2.WRAPPING_ALGORITHM_RSAES_OAEP_SHA_256: key_import.RSAES_OAEP_SHA_256,
}


def require_importable(stored: store_pb2.StoredKey) -> None:
    """The state machine's own rule (its CommandRefused is mapped by server/rpc.py)."""
    check.importable(stored.key, "name_or_id")


def checked_bits(bits: int) -> int:
    bits = bits or DEFAULT_BITS
    if bits not in key_import.WRAPPING_KEY_BITS:
        raise InvalidArgument("wrapping_key_bits", f"must be 3072 or 4096, got {bits}")
    return bits


def checked_validity(seconds: int) -> int:
    seconds = seconds or DEFAULT_VALIDITY_S
    if not MIN_VALIDITY_S <= seconds <= DEFAULT_VALIDITY_S:
        raise InvalidArgument(
            "validity_seconds", f"must be {MIN_VALIDITY_S}..{DEFAULT_VALIDITY_S}, got {seconds}"
        )
    return seconds


async def prepare_command(
    keyring: Keyring, key_id: str, bits: int, validity_s: int
) -> store_pb2.Command:
    """A Command carrying a fresh wrapping key for `key_id` (principal and id unset)."""
    public, private = await asyncio.to_thread(key_import.new_wrapping_key, bits)
    token_id = secrets.token_hex(16)
    now = now_ms()
    command = store_pb2.Command(time_ms=now)
    command.prepare_import.CopyFrom(
        store_pb2.PrepareImport(
            key_id=key_id,
            token_id=token_id,
            public_key=public,
            wrapped_private_key=keyring.encrypt(private, import_key_aad(key_id, token_id)),
            expires_at_ms=now + validity_s * 1000,
        )
    )
    return command


def parameters_response(stored: store_pb2.StoredKey) -> keys_pb2.GetImportParametersResponse:
    pending = stored.pending_import
    public = pending.public_key
    bits = key_import.public_key_bits(public)
    return keys_pb2.GetImportParametersResponse(
        key_id=stored.key.id,
        public_key=public,
        public_key_pem=key_import.public_pem(public),
        import_token=key_import.make_token(stored.key.id, pending.token_id),
        expires_at_ms=pending.expires_at_ms,
        wrapping_key_bits=bits,
    )


def checked_token(stored: store_pb2.StoredKey, token: str) -> str:
    """The token id of `token`, if it is this key's live, unexpired import token."""
    if not token:
        raise InvalidArgument("import_token", "must not be empty")
    try:
        key_id, token_id = key_import.parse_token(token)
    except ValueError as exc:
        raise InvalidArgument("import_token", str(exc)) from None
    if key_id != stored.key.id:
        raise InvalidArgument(
            "import_token", f"was issued for another key, not {stored.key.name!r}"
        )
    check.pending_token(stored, token_id, now_ms())  # CommandRefused: see server/rpc.py
    return token_id


def checked_algorithm(algorithm: int) -> str:
    name: str | None = ALGORITHMS.get(algorithm)  # type: ignore[call-overload]
    if name is None:
        raise InvalidArgument(
            "algorithm",
            "must be WRAPPING_ALGORITHM_RSA_AES_KEY_WRAP_SHA_256 or "
            f"WRAPPING_ALGORITHM_RSAES_OAEP_SHA_256, got {algorithm}",
        )
    return name


def checked_payload(payload: bytes) -> bytes:
    if not payload:
        raise InvalidArgument("wrapped_key_material", "must not be empty")
    if len(payload) > MAX_WRAPPED_PAYLOAD:
        raise InvalidArgument(
            "wrapped_key_material", f"at most {MAX_WRAPPED_PAYLOAD} bytes, got {len(payload)}"
        )
    return payload


def unwrap(keyring: Keyring, stored: store_pb2.StoredKey, algorithm: str, payload: bytes) -> bytes:
    """The imported material, unwrapped with the key's pending wrapping key."""
    pending = stored.pending_import
    aad = import_key_aad(stored.key.id, pending.token_id)
    try:
        private = keyring.decrypt_secret(pending.wrapped_private_key, aad)
    except DecryptionFailed as exc:
        raise NodeError(
            f"stored wrapping key of key {stored.key.id} does not authenticate"
        ) from exc
    try:  # ImportRejected: INVALID_ARGUMENT naming wrapped_key_material (server/rpc.py)
        return key_import.unwrap_material(private, algorithm, payload)
    finally:
        private[:] = bytes(len(private))


def checked_expiry(expires_at_ms: int, now: int) -> int:
    """The requested expiry of imported material (0 = never); must lie ahead."""
    if expires_at_ms == 0:
        return 0
    if not now + MIN_EXPIRY_S * 1000 <= expires_at_ms <= now + MAX_EXPIRY_S * 1000:
        raise InvalidArgument(
            "expires_at_ms",
            f"must be 0 (never) or {MIN_EXPIRY_S} s to {MAX_EXPIRY_S // 86400} days from "
            f"now, got {expires_at_ms}",
        )
    return expires_at_ms


def import_command(
    keyring: Keyring,
    stored: store_pb2.StoredKey,
    token_id: str,
    version: int,
    material: bytes,
    expires_at_ms: int = 0,
) -> store_pb2.Command:
    """ImportMaterial for `version` (0 = next): new material barrier-encrypted, or for an
    existing imported version only its digest (the state machine compares it), plus the
    material again, encrypted, when that version's material expired and was erased."""
    key = stored.key
    target = version or key.current_version + 1
    imp = store_pb2.ImportMaterial(
        key_id=key.id, token_id=token_id, version=target, expires_at_ms=expires_at_ms
    )
    if target == key.current_version + 1:
        term = keyring.active_term
        imp.wrapped_material = keyring.encrypt(material, material_aad(key.id, target))
    elif 1 <= target <= key.current_version and target in stored.import_digests:
        term = key_import.digest_term(stored.import_digests[target])
        if key.versions[target - 1].material_expired:
            imp.wrapped_material = keyring.encrypt(material, material_aad(key.id, target))
    else:
        raise InvalidArgument(
            "version",
            f"must be 0 (next), {key.current_version + 1}, or an imported version "
            f"of key {key.name!r}, got {version}",
        )
    if term not in keyring:
        raise FailedPrecondition("the keyring term of the imported version's digest is gone")
    imp.material_digest = key_import.material_digest(term, keyring[term], key.id, target, material)
    note_key(key.id, target)
    command = store_pb2.Command()
    command.import_material.CopyFrom(imp)
    return command
