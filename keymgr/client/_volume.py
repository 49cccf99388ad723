"""Volume key calls (VolumeKeys service): the LUKS agent's create, unwrap and rewrap."""

from __future__ import annotations

from keymgr.client._results import VolumeKey
from keymgr.client._transport import Transport
from keymgr.v1 import volume_pb2


class VolumeCalls(Transport):
    """Client methods for volume keys, bound to a volume id and (optionally) a host id."""

    def create_volume_key(
        self, volume_id: str, key_name: str, *, host_id: str = "", endpoint: str | None = None
    ) -> VolumeKey:
        response = self._call(
            "volume",
            "CreateVolumeKey",
            volume_pb2.CreateVolumeKeyRequest(
                volume_id=volume_id, key_name=key_name, host_id=host_id
            ),
            endpoint=endpoint,
        )
        return VolumeKey(
            response.volume_key, response.wrapped_key, response.key_id, response.key_version
        )

    def unwrap_volume_key(
        self, volume_id: str, wrapped_key: bytes, *, host_id: str = "", endpoint: str | None = None
    ) -> VolumeKey:
        response = self._call(
            "volume",
            "UnwrapVolumeKey",
            volume_pb2.UnwrapVolumeKeyRequest(
                volume_id=volume_id, host_id=host_id, wrapped_key=wrapped_key
            ),
            endpoint=endpoint,
        )
        return VolumeKey(response.volume_key, wrapped_key, response.key_id, response.key_version)

    def rewrap_volume_key(
        self, volume_id: str, wrapped_key: bytes, *, host_id: str = "", endpoint: str | None = None
    ) -> VolumeKey:
        response = self._call(
            "volume",
            "RewrapVolumeKey",
            volume_pb2.RewrapVolumeKeyRequest(
                volume_id=volume_id, host_id=host_id, wrapped_key=wrapped_key
            ),
            endpoint=endpoint,
        )
        return VolumeKey(b"", response.wrapped_key, response.key_id, response.key_version)
