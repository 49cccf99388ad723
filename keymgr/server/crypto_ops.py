"""The crypto operations on one item, shared by the single calls and the batch calls.

Each operation is split in two: `checked` validates the request's fields (no node state
needed, so a bad field is INVALID_ARGUMENT even on a sealed node), and `run` looks the
key up, authorizes the caller for it, and seals or opens the envelope. A single call
runs one item; a batch call runs each of its items through the same two steps, with
field names prefixed by the item's position (`items[3].key_name`), so there is one
path per item and one definition of what it checks.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from keymgr.crypto import envelope
from keymgr.crypto.aead import Aead
from keymgr.crypto.errors import DecryptionFailed, MalformedCiphertext
from keymgr.node_errors import DecryptFailed, FailedPrecondition, InvalidArgument, NotFound
from keymgr.server import authz, batch_memo, validation
from keymgr.server.audit_target import note_key
from keymgr.server.auth import Caller
from keymgr.server.context import NodeContext
from keymgr.v1 import keys_pb2, store_pb2

ENABLED = keys_pb2.KEY_STATE_ENABLED
_STATE_WORDS = {
    keys_pb2.KEY_STATE_DISABLED: "disabled",
    keys_pb2.KEY_STATE_PENDING_DELETION: "pending deletion",
    keys_pb2.KEY_STATE_DESTROYED: "destroyed",
}


async def read_consistency(node: NodeContext, consistency: int) -> None:
    """LINEARIZABLE: wait until this node has applied everything committed before now."""
    if consistency == keys_pb2.CONSISTENCY_LINEARIZABLE:
        await node.read_barrier()


def require_enabled(stored: store_pb2.StoredKey) -> None:
    """An enabled key with material (an EXTERNAL key has none until its import)."""
    if stored.key.state != ENABLED:
        word = _STATE_WORDS.get(stored.key.state, "not enabled")
        raise FailedPrecondition(f"key {stored.key.name!r} is {word}")
    if stored.key.current_version < 1:
        raise FailedPrecondition(f"key has no material: import it ({stored.key.name!r})")


@dataclass(slots=True)
class KeyUse:
    """One key as calls use it for one operation: its record, the policies that grant
    the caller that operation on it, and whether its state allows use.

    A batch works this out once per key and operation per memo stretch (`batch_memo`:
    a stretch serves one caller), and its items read these plain attributes instead of
    the protobuf record's. Each item's own context is still checked (`authorize`).
    """

    stored: store_pb2.StoredKey
    key_id: str
    name: str
    current_version: int
    min_decryption_version: int
    grants: tuple[store_pb2.Policy, ...]
    enabled: bool

    @classmethod
    def of(
        cls, node: NodeContext, stored: store_pb2.StoredKey, caller: Caller, operation: str
    ) -> KeyUse:
        key = stored.key
        return cls(
            stored=stored,
            key_id=key.id,
            name=key.name,
            current_version=key.current_version,
            min_decryption_version=key.min_decryption_version,
            grants=node.granting(caller, operation, key.name),
            enabled=key.state == ENABLED and key.current_version >= 1,
        )

    def authorize(self, caller: Caller, operation: str, context: Mapping[str, str]) -> None:
        """The caller may use the key for `operation` with `context`, and the key is
        enabled (in that order: a caller without a policy learns nothing of its state)."""
        if not authz.context_allows(self.grants, caller, context):
            raise authz.denied(caller, operation, self.name)
        if not self.enabled:
            require_enabled(self.stored)  # says which state


def key_in_use(
    node: NodeContext,
    field_name: str,
    name_or_id: str,
    caller: Caller,
    operation: str,
    context: Mapping[str, str],
) -> KeyUse:
    """The named key, if it exists, the caller may use it for `operation` with
    `context`, and it is enabled."""
    use = batch_memo.remembered(
        ("use", name_or_id, operation),
        lambda: KeyUse.of(node, _named_key(node, field_name, name_or_id), caller, operation),
    )
    note_key(use.key_id)
    use.authorize(caller, operation, context)
    return use


def _named_key(node: NodeContext, field_name: str, name_or_id: str) -> store_pb2.StoredKey:
    validation.key_name(field_name, name_or_id)
    return node.find_key(field_name, name_or_id)


def _key_of_blob(node: NodeContext, key_id: str, field: str) -> store_pb2.StoredKey:
    stored = node.lookup(key_id)
    if stored is None:
        raise NotFound(f"{field}: names key {key_id}, which does not exist")
    return stored


def open_envelope(
    node: NodeContext,
    blob: bytes,
    context: dict[str, str],
    caller: Caller,
    operation: str,
    field: str = "ciphertext_blob",
) -> tuple[bytes, store_pb2.StoredKey, int]:
    """Authorizes and opens a self-describing ciphertext: (plaintext, key, version).

    Shared by Decrypt/ReEncrypt and the volume service (whose blobs are wrapped keys).
    """
    validation.ciphertext(field, blob)
    try:
        header = envelope.read_unverified_header(blob)
    except MalformedCiphertext as exc:
        raise InvalidArgument(field, str(exc)) from exc
    key_id, version = header.key_id, header.key_version
    use = batch_memo.remembered(
        ("use", key_id, operation),
        lambda: KeyUse.of(node, _key_of_blob(node, key_id, field), caller, operation),
    )
    note_key(use.key_id)  # a denied call's audit line names the key it asked for
    use.authorize(caller, operation, context)
    # in a batch, once per key version
    material = batch_memo.remembered(
        ("opens", use.key_id, version), lambda: _material_that_opens(node, use, version, field)
    )
    note_key(use.key_id, version)
    try:
        plaintext = envelope.open_parsed(material, blob, header, context)
    except (DecryptionFailed, MalformedCiphertext):
        raise DecryptFailed(field) from None
    return plaintext, use.stored, version


def _material_that_opens(node: NodeContext, use: KeyUse, version: int, field: str) -> Aead:
    """The material of `version`, if the key may decrypt it now: the version is not
    below the key's minimum decryption version, not expired, and exists."""
    if version < use.min_decryption_version:
        raise FailedPrecondition(
            f"key {use.name!r} no longer decrypts version {version} "
            f"(minimum decryption version {use.min_decryption_version})"
        )
    note_key(use.key_id, version)
    node.materials.require_unexpired(use.stored, version)  # before "no version"
    if version not in use.stored.wrapped_material:
        raise NotFound(f"{field}: key {use.name!r} has no version {version}")
    return node.materials.material(use.stored, version)


def seal_under_current(
    node: NodeContext, stored: store_pb2.StoredKey, plaintext: bytes, context: dict[str, str]
) -> tuple[bytes, int]:
    """(envelope of `plaintext` under the key's current version, that version)."""
    return _seal(node, stored, stored.key.id, stored.key.current_version, plaintext, context)


def seal_for(
    node: NodeContext, use: KeyUse, plaintext: bytes, context: dict[str, str]
) -> tuple[bytes, int]:
    """`seal_under_current` for a key in use."""
    return _seal(node, use.stored, use.key_id, use.current_version, plaintext, context)


def _seal(
    node: NodeContext,
    stored: store_pb2.StoredKey,
    key_id: str,
    version: int,
    plaintext: bytes,
    context: dict[str, str],
) -> tuple[bytes, int]:
    note_key(key_id, version)
    material = batch_memo.remembered(  # in a batch, once per key version
        ("seals", key_id, version), lambda: node.materials.material(stored, version)
    )
    return envelope.seal(material, key_id, version, plaintext, context), version


@dataclass(slots=True)  # not frozen: built per item, and frozen init is slower
class EncryptItem:
    key_name: str
    plaintext: bytes
    context: dict[str, str]
    at: str = ""  # field-name prefix: "" for a single call, "items[3]." in a batch

    @classmethod
    def checked(
        cls, key_name: str, plaintext: bytes, context: Mapping[str, str], at: str = ""
    ) -> EncryptItem:
        ctx = validation.encryption_context(f"{at}encryption_context", context)
        return cls(key_name, validation.plaintext(f"{at}plaintext", plaintext), ctx, at)

    def run(self, node: NodeContext, caller: Caller) -> keys_pb2.EncryptResponse:
        use = key_in_use(node, f"{self.at}key_name", self.key_name, caller, "encrypt", self.context)
        blob, version = seal_for(node, use, self.plaintext, self.context)
        return keys_pb2.EncryptResponse(
            ciphertext_blob=blob, key_id=use.key_id, key_version=version
        )


@dataclass(slots=True)
class DecryptItem:
    ciphertext_blob: bytes
    context: dict[str, str]
    at: str = ""

    @classmethod
    def checked(cls, blob: bytes, context: Mapping[str, str], at: str = "") -> DecryptItem:
        return cls(blob, validation.encryption_context(f"{at}encryption_context", context), at)

    def run(self, node: NodeContext, caller: Caller) -> keys_pb2.DecryptResponse:
        plaintext, stored, version = open_envelope(
            node,
            self.ciphertext_blob,
            self.context,
            caller,
            "decrypt",
            field=f"{self.at}ciphertext_blob",
        )
        return keys_pb2.DecryptResponse(
            plaintext=plaintext, key_id=stored.key.id, key_version=version
        )


@dataclass(slots=True)
class DataKeyItem:
    key_name: str
    context: dict[str, str]
    size: int
    without_plaintext: bool
    at: str = ""

    @classmethod
    def checked(
        cls,
        key_name: str,
        context: Mapping[str, str],
        number_of_bytes: int,
        without_plaintext: bool,
        at: str = "",
    ) -> DataKeyItem:
        ctx = validation.encryption_context(f"{at}encryption_context", context)
        size = validation.byte_count(
            f"{at}number_of_bytes", number_of_bytes, default=32, maximum=validation.MAX_RANDOM
        )
        return cls(key_name, ctx, size, without_plaintext, at)

    def run(self, node: NodeContext, caller: Caller) -> keys_pb2.GenerateDataKeyResponse:
        use = key_in_use(
            node, f"{self.at}key_name", self.key_name, caller, "generate-data-key", self.context
        )
        data_key = secrets.token_bytes(self.size)
        blob, version = seal_for(node, use, data_key, self.context)
        return keys_pb2.GenerateDataKeyResponse(
            ciphertext_blob=blob,
            plaintext=b"" if self.without_plaintext else data_key,
            key_id=use.key_id,
            key_version=version,
        )
