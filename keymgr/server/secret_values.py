"""A secret version's value: checked JSON object in, envelope under the mount's key out.

The node encrypts a value before proposing it (only ciphertext reaches Raft, the
journal, dumps and snapshots) with the client-facing envelope (format v2) under the
mount's managed key; the encryption context binds mount, path and version, so a
ciphertext moved to another place or version does not open. Values never appear in an
error message: problems name the field and, at most, a size.
"""

from __future__ import annotations

import json
from typing import Any

from keymgr.crypto import envelope
from keymgr.crypto.errors import DecryptionFailed, MalformedCiphertext
from keymgr.node_errors import FailedPrecondition, InvalidArgument, NotFound
from keymgr.server.audit_target import note_key
from keymgr.server.context import NodeContext
from keymgr.server.crypto_ops import require_enabled
from keymgr.store.secrets_validation import MAX_VALUE_BYTES
from keymgr.v1 import store_pb2


def secret_context(mount: str, path: str, version: int) -> dict[str, str]:
    """The encryption context (AAD) of a value: where it is stored, which version."""
    return {
        "keymgr:secret-mount": mount,
        "keymgr:secret-path": path,
        "keymgr:secret-version": str(version),
    }


MAX_DEPTH = 64  # nesting of objects and arrays (a merge patch recurses through it)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_object(field: str, data: bytes) -> dict[str, Any]:
    """The JSON object in `data` (UTF-8, no NaN/Infinity, nested at most MAX_DEPTH), at
    most MAX_VALUE_BYTES; else InvalidArgument."""
    if len(data) > MAX_VALUE_BYTES:
        raise InvalidArgument(field, f"{len(data)} bytes, more than {MAX_VALUE_BYTES}")
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidArgument(field, "not valid JSON (UTF-8)") from None
    if not isinstance(value, dict):
        raise InvalidArgument(field, "must be a JSON object")
    if _depth(value) > MAX_DEPTH:
        raise InvalidArgument(field, f"nested more than {MAX_DEPTH} levels")
    return value


def _depth(value: Any) -> int:
    """How deeply objects and arrays nest in `value` (iterative: no recursion limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def encode(field: str, value: dict[str, Any]) -> bytes:
    """The stored form of a value (compact JSON), size-checked."""
    data = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    if len(data) > MAX_VALUE_BYTES:
        raise InvalidArgument(field, f"result is {len(data)} bytes, more than {MAX_VALUE_BYTES}")
    return data


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch of `target` by `patch` (neither is changed)."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = merge_patch(out.get(name), value)
    return out


def mount_key(node: NodeContext, mount: store_pb2.SecretMount) -> store_pb2.StoredKey:
    """The enabled key that protects the mount's values."""
    stored = node.lookup(mount.key_id)
    if stored is None:
        raise FailedPrecondition(f"mount {mount.name!r}: its key no longer exists")
    require_enabled(stored)
    return stored


def seal(
    node: NodeContext, mount: store_pb2.SecretMount, path: str, version: int, data: bytes
) -> bytes:
    stored = mount_key(node, mount)
    key_version = stored.key.current_version
    note_key(stored.key.id, key_version)
    material = node.materials.material(stored, key_version)
    context = secret_context(mount.name, path, version)
    return envelope.seal(material, stored.key.id, key_version, data, context)


def open_value(
    node: NodeContext, mount: store_pb2.SecretMount, path: str, version: int, blob: bytes
) -> bytes:
    """The value of a stored version (its envelope names the key version that sealed it)."""
    try:
        header = envelope.read_unverified_header(blob)
    except MalformedCiphertext:
        raise FailedPrecondition(
            f"{mount.name}/{path} v{version}: stored value is damaged"
        ) from None
    stored = node.lookup(header.key_id)
    if stored is not None:
        node.materials.require_unexpired(stored, header.key_version)
    if stored is None or header.key_version not in stored.wrapped_material:
        raise NotFound(f"{mount.name}/{path} v{version}: the key that sealed it is gone")
    require_enabled(stored)
    note_key(stored.key.id, header.key_version)
    material = node.materials.material(stored, header.key_version)
    try:
        return envelope.open(material, blob, secret_context(mount.name, path, version))
    except (DecryptionFailed, MalformedCiphertext):
        raise FailedPrecondition(
            f"{mount.name}/{path} v{version}: stored value does not authenticate"
        ) from None
