"""Field checks for state machine commands and snapshots.

The servicers validate requests too, but the state machine cannot trust them: a
command in the log was written by whichever node led at the time, possibly an older
or buggy version. Every check here is pure and cheap (it runs in the Raft tick thread).
Messages name the field and never echo key material or wrapped material.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence

from keymgr.v1 import keys_pb2, store_pb2

KEY_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
# Same alphabet as the API; fullmatch (not `$`) so that a trailing newline is refused.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.:-][A-Za-z0-9_.:/-]{0,127}")
MAX_LABELS = 64
MAX_LABEL_TEXT = 256
MAX_DESCRIPTION = 1024
# Wrapped material is small (a 32-byte key plus framing); the bound keeps a faulty
# proposer from bloating every replica and snapshot.
MAX_WRAPPED = 64 * 1024
# The API allows 128 characters; servicers derive `<id>/retry-N` for internal retries.
MAX_REQUEST_ID = 256
MAX_SHARES = 255
ROOT_LINKS_KEPT = 256  # root rotations a node can follow without shares
MAX_ADMINS = 64
MAX_PRINCIPAL = 1024
_TOKEN_PREFIX = "k1\n"

INVALID_ARGUMENT = store_pb2.ERROR_CODE_INVALID_ARGUMENT
NOT_FOUND = store_pb2.ERROR_CODE_NOT_FOUND
ALREADY_EXISTS = store_pb2.ERROR_CODE_ALREADY_EXISTS
FAILED_PRECONDITION = store_pb2.ERROR_CODE_FAILED_PRECONDITION
CONFLICT = store_pb2.ERROR_CODE_CONFLICT

STATE_WORDS: Mapping[keys_pb2.KeyState, str] = {
    keys_pb2.KEY_STATE_ENABLED: "enabled",
    keys_pb2.KEY_STATE_DISABLED: "disabled",
    keys_pb2.KEY_STATE_PENDING_DELETION: "pending deletion",
    keys_pb2.KEY_STATE_DESTROYED: "destroyed",
}


class CommandRefused(Exception):
    """A command the state machine refuses; becomes a CommandError result, never escapes."""

    def __init__(self, code: store_pb2.ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(field: str, problem: str) -> CommandRefused:
    return CommandRefused(INVALID_ARGUMENT, f"{field}: {problem}")


def looks_like_key_id(value: str) -> bool:
    return KEY_ID_PATTERN.fullmatch(value) is not None


def key_id(field: str, value: str) -> str:
    if not value:
        raise invalid(field, "must not be empty")
    if not looks_like_key_id(value):
        raise invalid(field, "must be 32 lowercase hex digits")
    return value


def key_name(field: str, value: str) -> str:
    if not value:
        raise invalid(field, "must not be empty")
    if len(value) > 128:
        raise invalid(field, f"at most 128 characters, got {len(value)}")
    if NAME_PATTERN.fullmatch(value) is None:
        raise invalid(
            field, "may hold only letters, digits and _ . : / - and must not start with /"
        )
    # A name shaped like an id would be shadowed by (or shadow) a key id in lookups.
    if looks_like_key_id(value):
        raise invalid(field, "must not look like a key id (32 lowercase hex digits)")
    return value


def labels(field: str, value: Mapping[str, str]) -> None:
    if len(value) > MAX_LABELS:
        raise invalid(field, f"at most {MAX_LABELS} labels, got {len(value)}")
    for name, text in value.items():
        if not name or len(name) > MAX_LABEL_TEXT or len(text) > MAX_LABEL_TEXT:
            raise invalid(
                field, f"label keys are 1..{MAX_LABEL_TEXT} chars, values at most {MAX_LABEL_TEXT}"
            )


def description(field: str, value: str) -> None:
    if len(value) > MAX_DESCRIPTION:
        raise invalid(field, f"at most {MAX_DESCRIPTION} characters, got {len(value)}")


def wrapped(field: str, value: bytes) -> None:
    if not value:
        raise invalid(field, "must not be empty")
    if len(value) > MAX_WRAPPED:
        raise invalid(field, f"at most {MAX_WRAPPED} bytes, got {len(value)}")


def purpose(field: str, value: keys_pb2.KeyPurpose) -> keys_pb2.KeyPurpose:
    if value == keys_pb2.KEY_PURPOSE_UNSPECIFIED:
        return keys_pb2.KEY_PURPOSE_ENCRYPT
    if value not in keys_pb2.KeyPurpose.values():
        raise invalid(field, f"unknown purpose {value}")
    return value


def request_id(value: str) -> None:
    if len(value) > MAX_REQUEST_ID:
        raise invalid("request_id", f"at most {MAX_REQUEST_ID} characters, got {len(value)}")


def require_state(key: keys_pb2.Key, allowed: tuple[int, ...], action: str) -> None:
    """FAILED_PRECONDITION naming the key's state unless it is one of `allowed`."""
    if key.state not in allowed:
        raise CommandRefused(
            FAILED_PRECONDITION, f"key {key.name!r} is {STATE_WORDS[key.state]}: cannot {action}"
        )


def command_envelope(command: store_pb2.Command) -> None:
    """Checks the fields every command carries."""
    request_id(command.request_id)
    if command.time_ms <= 0:
        raise invalid("time_ms", "must be a positive unix time in milliseconds")
    if len(command.principal) > MAX_PRINCIPAL:
        raise invalid("principal", f"at most {MAX_PRINCIPAL} characters")


def keyring_term(field: str, term: store_pb2.KeyringTerm) -> None:
    if term.term < 1:
        raise invalid(f"{field}.term", "must be at least 1")
    wrapped(f"{field}.wrapped_key", term.wrapped_key)


def shamir_record(
    field: str, wrapped_root: bytes, shares: int, threshold: int, digests: Sequence[bytes]
) -> None:
    """The Shamir part of an init record or a root rotation: one rule for both."""
    wrapped(f"{field}.shamir_wrapped_root_key", wrapped_root)
    if not 1 <= shares <= MAX_SHARES:
        raise invalid(f"{field}.secret_shares", f"must be 1..{MAX_SHARES}, got {shares}")
    if not 1 <= threshold <= shares:
        raise invalid(f"{field}.secret_threshold", f"must be 1..{shares}, got {threshold}")
    if len(digests) != shares:
        raise invalid(f"{field}.share_digests", f"must hold one digest per share ({shares})")
    if any(not digest or len(digest) > 64 for digest in digests):
        raise invalid(f"{field}.share_digests", "digests are 1..64 bytes")


def rotate_root(rotate: store_pb2.RotateRoot) -> None:
    shamir_record(
        "rotate_root",
        rotate.shamir_wrapped_root_key,
        rotate.secret_shares,
        rotate.secret_threshold,
        rotate.share_digests,
    )
    wrapped("rotate_root.root_successor", rotate.root_successor)
    for i, term in enumerate(rotate.keyring):
        keyring_term(f"rotate_root.keyring[{i}]", term)
    if not rotate.HasField("new_term"):
        raise invalid("rotate_root.new_term", "must be set")
    keyring_term("rotate_root.new_term", rotate.new_term)


def init_cluster(init: store_pb2.InitCluster) -> None:
    shamir_record(
        "init_cluster",
        init.shamir_wrapped_root_key,
        init.secret_shares,
        init.secret_threshold,
        init.share_digests,
    )
    if not 1 <= len(init.admins) <= MAX_ADMINS:
        raise invalid("init_cluster.admins", f"must name 1..{MAX_ADMINS} admins")
    if any(not admin or len(admin) > MAX_PRINCIPAL for admin in init.admins):
        raise invalid("init_cluster.admins", f"admins are 1..{MAX_PRINCIPAL} characters")
    if init.root_generation or init.root_links or init.root_rotated_at_ms:
        raise invalid("init_cluster.root_generation", "a new cluster starts at generation 0")
    if not init.HasField("first_term"):
        raise invalid("init_cluster.first_term", "must be set")
    keyring_term("init_cluster.first_term", init.first_term)


HSM_NOT_EXPORTABLE = "HSM-held keys cannot be exported"
NOT_EXPORTABLE = "the key was created non-exportable: its material never leaves the cluster"


def material_expired(key_name: str, version: int) -> str:
    """The one message for every use of an imported version whose material expired."""
    return f"version {version} of key {key_name!r}: imported material expired; import it again"


EXPORT_DESTINATIONS = frozenset({"escrow", "rsa-aes", "aws", "gcp", "azure", "openbao"})
MAX_EXPORT_TEXT = 1024
DESTINATION_NAME = re.compile(r"[A-Za-z0-9._:/@-]{0,128}")
DESTINATION_NAME_RULE = "0..128 of letters, digits and . _ : / @ -"
# What an export allows the destination to do with the key (ExportBundle.usage).
EXPORT_USAGES = ("encrypt-decrypt", "wrap-unwrap", "generate-verify-mac")


def export_bundle(field: str, bundle: store_pb2.ExportBundle) -> None:
    """What a proposer may put in an export record: where, how, to which key. The key,
    version, approvers and time come from the state machine's own grant and clock."""
    if bundle.destination not in EXPORT_DESTINATIONS:
        raise invalid(f"{field}.destination", f"one of {sorted(EXPORT_DESTINATIONS)}")
    if not bundle.algorithm or len(bundle.algorithm) > 64:
        raise invalid(f"{field}.algorithm", "1..64 characters")
    if len(bundle.wrapping_key_sha256) != 32:
        raise invalid(f"{field}.wrapping_key_sha256", "must be 32 bytes (SHA-256)")
    if len(bundle.kek_id) > MAX_EXPORT_TEXT:
        raise invalid(f"{field}.kek_id", f"at most {MAX_EXPORT_TEXT} characters")
    if (bundle.destination == "azure") != bool(bundle.kek_id):
        raise invalid(f"{field}.kek_id", "set for azure exports only")
    if not DESTINATION_NAME.fullmatch(bundle.destination_name):
        raise invalid(f"{field}.destination_name", DESTINATION_NAME_RULE)
    if bundle.usage and bundle.usage not in EXPORT_USAGES:  # empty: recorded before usage
        raise invalid(f"{field}.usage", f"one of {' | '.join(EXPORT_USAGES)}")


def snapshot_key(key_id_: str, stored: store_pb2.StoredKey) -> None:
    """Checks one stored key of a snapshot; raises ValueError (restore's contract)."""
    key = stored.key
    if key.id != key_id_ or not looks_like_key_id(key_id_):
        raise ValueError("snapshot key record is filed under the wrong id")
    if key.state not in STATE_WORDS:
        raise ValueError(f"snapshot key {key_id_} has an unknown state")
    awaiting_import = key.origin == keys_pb2.KEY_ORIGIN_EXTERNAL and key.current_version == 0
    if (key.current_version < 1 and not awaiting_import) or len(
        key.versions
    ) != key.current_version:
        raise ValueError(f"snapshot key {key_id_} has inconsistent versions")
    if key.state == keys_pb2.KEY_STATE_DESTROYED:
        if stored.wrapped_material or stored.HasField("pending_import"):
            raise ValueError(f"snapshot key {key_id_} is destroyed but holds material")
    elif (
        not awaiting_import
        and key.current_version not in stored.wrapped_material
        and not key.versions[key.current_version - 1].material_expired
    ):
        raise ValueError(f"snapshot key {key_id_} lacks material for its current version")
    if key.state == keys_pb2.KEY_STATE_PENDING_DELETION and key.deletion_time_ms <= 0:
        raise ValueError(f"snapshot key {key_id_} is pending deletion without a time")


def snapshot_header(state: store_pb2.StoreState) -> None:
    """Checks init, keyring and active term agree; raises ValueError (restore's contract)."""
    ring = state.keyring
    if any(later.term != earlier.term + 1 for earlier, later in itertools.pairwise(ring)):
        raise ValueError("snapshot keyring terms are not consecutive")
    if state.HasField("init") != bool(ring):
        raise ValueError("snapshot has a keyring without init, or init without a keyring")
    if ring and ring[0].term < 1:
        raise ValueError("snapshot keyring starts below term 1")
    if state.active_term != (ring[-1].term if ring else 0):
        raise ValueError("snapshot active term is not the newest keyring term")
    if not ring and state.keys:
        raise ValueError("snapshot has keys but no init record")
    if state.HasField("init"):
        problem = root_links_problem(state.init)
        if problem:
            raise ValueError(f"snapshot init record: {problem}")


def root_links_problem(init: store_pb2.InitCluster) -> str:
    """Why the init record's root links cannot be followed, or "" if they can: one link
    per generation, consecutive, ending at the current one, at most ROOT_LINKS_KEPT."""
    generation, links = init.root_generation, init.root_links
    if len(links) > min(generation, ROOT_LINKS_KEPT):
        return f"{len(links)} root links for root generation {generation}"
    expected = list(range(generation - len(links) + 1, generation + 1))
    if [link.generation for link in links] != expected:
        return "root links are not consecutive up to the root generation"
    if generation and not links:
        return "a rotated root key without its link"
    if any(not link.wrapped or len(link.wrapped) > MAX_WRAPPED for link in links):
        return f"a root link must be 1..{MAX_WRAPPED} bytes"
    return ""


def snapshot_requests(state: store_pb2.StoreState, limit: int) -> OrderedDict[str, bytes]:
    """The request window of a snapshot (id -> encoded result, oldest first)."""
    recent: OrderedDict[str, bytes] = OrderedDict()
    for record in state.recent_requests:
        if not record.request_id or record.request_id in recent:
            raise ValueError("snapshot request window has an empty or repeated id")
        if record.result.WhichOneof("result") is None:
            raise ValueError("snapshot request window has an empty result")
        recent[record.request_id] = record.result.SerializeToString(deterministic=True)
    if len(recent) > limit:
        raise ValueError(f"snapshot request window exceeds {limit} entries")
    return recent


def encode_page_token(last: tuple[str, str]) -> str:
    """Opaque ListKeys token naming the last (name, id) returned."""
    text = f"{_TOKEN_PREFIX}{last[0]}\n{last[1]}".encode()
    return base64.urlsafe_b64encode(text).decode("ascii").rstrip("=")


def decode_page_token(token: str) -> tuple[str, str]:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise ValueError("page token is not one ListKeys returned") from None
    prefix, _, rest = text.partition(_TOKEN_PREFIX)
    name, _, key_id_ = rest.partition("\n")
    if prefix or not name or not looks_like_key_id(key_id_):
        raise ValueError("page token is not one ListKeys returned")
    return name, key_id_


# --- key import (BYOK) -------------------------------------------------------------

MAX_PUBLIC_KEY = 1024  # a 4096-bit SubjectPublicKeyInfo is 550 bytes
MAX_IMPORT_VALIDITY_MS = 24 * 3600 * 1000
DIGEST_BYTES = 36  # ">I" keyring term + HMAC-SHA256


def create_origin(create: store_pb2.CreateKey) -> bool:
    """Checks origin and material of a CreateKey; True for a key awaiting import."""
    if create.origin == keys_pb2.KEY_ORIGIN_EXTERNAL:
        if create.wrapped_material:
            raise invalid("create_key.wrapped_material", "must be empty for origin EXTERNAL")
        if create.rotation_period_s:
            raise invalid(
                "create_key.rotation_period_s", "must be 0 for origin EXTERNAL (import instead)"
            )
        return True
    if create.origin not in (keys_pb2.KEY_ORIGIN_UNSPECIFIED, keys_pb2.KEY_ORIGIN_KEYMGR):
        raise invalid("create_key.origin", f"unknown origin {create.origin}")
    wrapped("create_key.wrapped_material", create.wrapped_material)
    return False


def prepare_import(prepare: store_pb2.PrepareImport, time_ms: int) -> None:
    key_id("prepare_import.key_id", prepare.key_id)
    token_id("prepare_import.token_id", prepare.token_id)
    if not prepare.public_key or len(prepare.public_key) > MAX_PUBLIC_KEY:
        raise invalid("prepare_import.public_key", f"must be 1..{MAX_PUBLIC_KEY} bytes")
    wrapped("prepare_import.wrapped_private_key", prepare.wrapped_private_key)
    if not time_ms < prepare.expires_at_ms <= time_ms + MAX_IMPORT_VALIDITY_MS:
        raise invalid(
            "prepare_import.expires_at_ms", "must be after time_ms and at most 24 hours later"
        )


def token_id(field: str, value: str) -> None:
    if not looks_like_key_id(value):  # the same shape: 32 lowercase hex digits
        raise invalid(field, "must be 32 lowercase hex digits")


def import_material(imp: store_pb2.ImportMaterial) -> None:
    key_id("import_material.key_id", imp.key_id)
    token_id("import_material.token_id", imp.token_id)
    if imp.version < 1:
        raise invalid("import_material.version", "must be at least 1")
    if len(imp.material_digest) != DIGEST_BYTES:
        raise invalid("import_material.material_digest", f"must be {DIGEST_BYTES} bytes")


def importable(key: keys_pb2.Key, field: str) -> None:
    """Only live keys of origin EXTERNAL take imported material."""
    if key.origin != keys_pb2.KEY_ORIGIN_EXTERNAL:
        raise CommandRefused(
            FAILED_PRECONDITION,
            f"{field}: key {key.name!r} has origin KEYMGR: only keys created with origin "
            "EXTERNAL take imported material",
        )
    require_state(key, (keys_pb2.KEY_STATE_ENABLED, keys_pb2.KEY_STATE_DISABLED), "import")


def pending_token(stored: store_pb2.StoredKey, token: str, time_ms: int) -> None:
    """The key's live import token must be `token`, and unexpired at `time_ms`."""
    pending = stored.pending_import
    if not stored.HasField("pending_import") or pending.token_id != token:
        raise CommandRefused(
            FAILED_PRECONDITION,
            "import_token: not the key's live import token (already used, replaced by a "
            "newer one, or never issued): call GetImportParameters again",
        )
    if time_ms >= pending.expires_at_ms:
        raise CommandRefused(
            FAILED_PRECONDITION,
            "import_token: expired: call GetImportParameters again",
        )


def same_material(stored: store_pb2.StoredKey, imp: store_pb2.ImportMaterial) -> None:
    """Re-import into an existing version: only that version's own imported material."""
    version = imp.version
    if version > stored.key.current_version:
        raise invalid(
            "import_material.version",
            f"must be at most {stored.key.current_version + 1} (the next version)",
        )
    expired = stored.key.versions[version - 1].material_expired
    if imp.wrapped_material and not expired:
        raise invalid("import_material.wrapped_material", "must be empty for a re-import")
    if stored.import_digests.get(version) != imp.material_digest:
        raise CommandRefused(
            FAILED_PRECONDITION,
            f"wrapped_key_material: differs from the material imported as version {version}",
        )
