"""Key lifecycle calls (KeyManagement service): create, import, read, rotate, enable,
disable, schedule and cancel deletion, rotation settings."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from keymgr.client._transport import Transport
from keymgr.v1 import keys_pb2


class KeyCalls(Transport):
    """Client methods for key lifecycle; every write carries a request id, kept across
    failover, so a retried create or rotate is applied once."""

    def _write(
        self, method: str, build: Callable[[str], Any], request_id: str | None
    ) -> keys_pb2.KeyResponse:
        rid = request_id or uuid.uuid4().hex
        response: keys_pb2.KeyResponse = self._call("keys", method, build(rid), request_id=rid)
        return response

    def create_key(
        self,
        name: str,
        *,
        purpose: keys_pb2.KeyPurpose = keys_pb2.KEY_PURPOSE_ENCRYPT,
        labels: Mapping[str, str] | None = None,
        description: str = "",
        rotation_period_seconds: int = 0,
        origin: str = "keymgr",
        non_exportable: bool = False,
        request_id: str | None = None,
    ) -> keys_pb2.Key:
        """`origin="external"`: a key without material until `import_key_material`;
        `non_exportable`: no export of its material, ever (fixed at creation)."""
        key_origin = _ORIGINS.get(origin.lower())
        if key_origin is None:
            raise ValueError(f"origin must be one of {sorted(_ORIGINS)}, got {origin!r}")
        return self._write(
            "CreateKey",
            lambda rid: keys_pb2.CreateKeyRequest(
                name=name,
                purpose=purpose,
                labels=labels or {},
                description=description,
                rotation_period_seconds=rotation_period_seconds,
                origin=key_origin,
                non_exportable=non_exportable,
                request_id=rid,
            ),
            request_id,
        ).key

    def get_import_parameters(
        self,
        name_or_id: str,
        *,
        wrapping_key_bits: int = 0,
        validity_seconds: int = 0,
        request_id: str | None = None,
    ) -> keys_pb2.GetImportParametersResponse:
        """An RSA wrapping public key and a single-use import token for an EXTERNAL key."""
        rid = request_id or uuid.uuid4().hex
        response: keys_pb2.GetImportParametersResponse = self._call(
            "keys",
            "GetImportParameters",
            keys_pb2.GetImportParametersRequest(
                name_or_id=name_or_id,
                wrapping_key_bits=wrapping_key_bits,
                validity_seconds=validity_seconds,
                request_id=rid,
            ),
            request_id=rid,
        )
        return response

    def import_key_material(
        self,
        name_or_id: str,
        *,
        import_token: str,
        wrapped_key_material: bytes,
        algorithm: str = "RSA_AES_KEY_WRAP_SHA_256",
        version: int = 0,
        expires_at_ms: int = 0,
        request_id: str | None = None,
    ) -> keys_pb2.Key:
        """Imports wrapped AES-256 material as a new version (or `version` again).
        `expires_at_ms` (unix ms, 0 = never): when the cluster erases the material."""
        return self._write(
            "ImportKeyMaterial",
            lambda rid: keys_pb2.ImportKeyMaterialRequest(
                name_or_id=name_or_id,
                import_token=import_token,
                wrapped_key_material=wrapped_key_material,
                algorithm=wrapping_algorithm(algorithm),
                version=version,
                expires_at_ms=expires_at_ms,
                request_id=rid,
            ),
            request_id,
        ).key

    def get_key(self, name_or_id: str) -> keys_pb2.Key:
        response: keys_pb2.KeyResponse = self._call(
            "keys", "GetKey", keys_pb2.GetKeyRequest(name_or_id=name_or_id)
        )
        return response.key

    def list_keys(
        self, *, page_size: int = 0, page_token: str = ""
    ) -> tuple[list[keys_pb2.Key], str]:
        response = self._call(
            "keys", "ListKeys", keys_pb2.ListKeysRequest(page_size=page_size, page_token=page_token)
        )
        return list(response.keys), response.next_page_token

    def iter_keys(self, *, page_size: int = 1000) -> Iterator[keys_pb2.Key]:
        """Every key (destroyed ones too), page by page, in ListKeys order."""
        token = ""
        while True:
            keys, token = self.list_keys(page_size=page_size, page_token=token)
            yield from keys
            if not token:
                return

    def rotate_key(self, name_or_id: str, *, request_id: str | None = None) -> keys_pb2.Key:
        return self._write(
            "RotateKey",
            lambda rid: keys_pb2.RotateKeyRequest(name_or_id=name_or_id, request_id=rid),
            request_id,
        ).key

    def enable_key(self, name_or_id: str, *, request_id: str | None = None) -> keys_pb2.Key:
        return self._write(
            "EnableKey",
            lambda rid: keys_pb2.EnableKeyRequest(name_or_id=name_or_id, request_id=rid),
            request_id,
        ).key

    def disable_key(self, name_or_id: str, *, request_id: str | None = None) -> keys_pb2.Key:
        return self._write(
            "DisableKey",
            lambda rid: keys_pb2.DisableKeyRequest(name_or_id=name_or_id, request_id=rid),
            request_id,
        ).key

    def schedule_key_deletion(
        self, name_or_id: str, *, pending_window_seconds: int = 0, request_id: str | None = None
    ) -> keys_pb2.Key:
        return self._write(
            "ScheduleKeyDeletion",
            lambda rid: keys_pb2.ScheduleKeyDeletionRequest(
                name_or_id=name_or_id,
                pending_window_seconds=pending_window_seconds,
                request_id=rid,
            ),
            request_id,
        ).key

    def cancel_key_deletion(
        self, name_or_id: str, *, request_id: str | None = None
    ) -> keys_pb2.Key:
        return self._write(
            "CancelKeyDeletion",
            lambda rid: keys_pb2.CancelKeyDeletionRequest(name_or_id=name_or_id, request_id=rid),
            request_id,
        ).key

    def set_key_rotation(
        self,
        name_or_id: str,
        *,
        rotation_period_seconds: int = 0,
        min_decryption_version: int = 0,
        request_id: str | None = None,
    ) -> keys_pb2.Key:
        return self._write(
            "SetKeyRotation",
            lambda rid: keys_pb2.SetKeyRotationRequest(
                name_or_id=name_or_id,
                rotation_period_seconds=rotation_period_seconds,
                min_decryption_version=min_decryption_version,
                request_id=rid,
            ),
            request_id,
        ).key


_ORIGINS = {
    "keymgr": keys_pb2.KEY_ORIGIN_KEYMGR,
    "external": keys_pb2.KEY_ORIGIN_EXTERNAL,
}


def wrapping_algorithm(name: str) -> str:
    """The enum name for "RSA_AES_KEY_WRAP_SHA_256" or "RSAES_OAEP_SHA_256" (any case).

    An unknown name maps to UNSPECIFIED, which the server refuses naming `algorithm`.
    """
    full = "WRAPPING_ALGORITHM_" + name.upper().removeprefix("WRAPPING_ALGORITHM_")
    if full not in keys_pb2.WrappingAlgorithm.DESCRIPTOR.values_by_name:
        return "WRAPPING_ALGORITHM_UNSPECIFIED"
    return full
