"""What single calls return besides protobuf messages: plain values that never print
key material (their `__repr__` leaves the plaintext out)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataKey:
    ciphertext_blob: bytes
    plaintext: bytes
    key_id: str
    key_version: int

    def __repr__(self) -> str:  # never print the plaintext key
        return f"DataKey(key_id={self.key_id!r}, key_version={self.key_version})"


@dataclass(frozen=True)
class VolumeKey:
    """A volume key and its wrap (`volume_key` is empty when only a rewrap was asked)."""

    volume_key: bytes
    wrapped_key: bytes
    key_id: str
    key_version: int

    def __repr__(self) -> str:  # never print the volume key
        return f"VolumeKey(key_id={self.key_id!r}, key_version={self.key_version})"


@dataclass(frozen=True)
class MasterKey:
    master_key: bytes
    key_id: str
    key_name: str
    version: int
    current_version: int

    def __repr__(self) -> str:  # never print the master key
        return f"MasterKey(key_name={self.key_name!r}, version={self.version})"
