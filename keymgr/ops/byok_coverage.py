"""Which destinations still hold an old version of a key (`keymgr report byok`).

A destination is registered for a key once any version of the key was exported to it
(the bundle records `keymgr keys destinations` lists); a destination is its kind (aws,
gcp, azure, openbao, rsa-aes, escrow) and the name the export gave it, if any, so two
AWS accounts named apart are two destinations. After a rotation (or a new import) the
key's current version has to be pushed to each of them again; this finds the (key,
destination) pairs where it was not. Pure: keys and bundles in, rows out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from keymgr.v1 import keys_pb2, store_pb2


@dataclass(frozen=True)
class MissingPush:
    """The current version of `key_name` was never exported to this destination."""

    key_name: str
    key_id: str
    current_version: int
    destination: str
    destination_name: str  # "" when the exports did not name which one
    last_version: int  # the newest version that went there
    last_exported_at_ms: int
    last_wrapping_key_sha256: bytes  # the destination key it went to (to find it again)
    last_usage: str  # the usage that export allowed ("" for exports recorded before usage)

    @property
    def where(self) -> str:
        """`aws`, or `aws:prod-eu` for a named one."""
        if self.destination_name:
            return f"{self.destination}:{self.destination_name}"
        return self.destination

    def as_dict(self) -> dict[str, object]:
        return {
            "key": self.key_name,
            "key_id": self.key_id,
            "current_version": self.current_version,
            "destination": self.destination,
            "destination_name": self.destination_name,
            "last_version_sent": self.last_version,
            "last_exported_at_ms": self.last_exported_at_ms,
            "last_wrapping_key_sha256": self.last_wrapping_key_sha256.hex(),
            "last_usage": self.last_usage,
        }


def checked(key: keys_pb2.Key) -> bool:
    """Only enabled keys with material: a disabled or deleted key is not pushed again."""
    return key.state == keys_pb2.KEY_STATE_ENABLED and key.current_version > 0


def missing_pushes(
    keys: Iterable[keys_pb2.Key],
    bundles_by_key: Mapping[str, Iterable[store_pb2.ExportBundle]],
) -> list[MissingPush]:
    """Every (key, destination) whose newest export is not the key's current version,
    sorted by key name, then destination."""
    missing = []
    for key in keys:
        if not checked(key):
            continue
        newest: dict[tuple[str, str], store_pb2.ExportBundle] = {}
        for bundle in bundles_by_key.get(key.id, ()):
            where = (bundle.destination, bundle.destination_name)
            seen = newest.get(where)
            if seen is None or bundle.version >= seen.version:
                newest[where] = bundle
        for (destination, name), bundle in newest.items():
            if bundle.version < key.current_version:
                missing.append(
                    MissingPush(
                        key_name=key.name,
                        key_id=key.id,
                        current_version=key.current_version,
                        destination=destination,
                        destination_name=name,
                        last_version=bundle.version,
                        last_exported_at_ms=bundle.exported_at_ms,
                        last_wrapping_key_sha256=bundle.wrapping_key_sha256,
                        last_usage=bundle.usage,
                    )
                )
    return sorted(missing, key=lambda m: (m.key_name, m.destination, m.destination_name))
