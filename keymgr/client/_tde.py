"""Database TDE calls (TdeKeys service): the MariaDB gateway's master keys."""

from __future__ import annotations

import uuid

from keymgr.client._results import MasterKey
from keymgr.client._transport import Transport
from keymgr.v1 import tde_pb2


class TdeCalls(Transport):
    """Client methods for TDE master keys."""

    def get_master_key(
        self, db_id: str, key_id: str, *, version: int = 0, endpoint: str | None = None
    ) -> MasterKey:
        response = self._call(
            "tde",
            "GetMasterKey",
            tde_pb2.GetMasterKeyRequest(db_id=db_id, key_id=key_id, version=version),
            endpoint=endpoint,
        )
        return MasterKey(
            response.master_key,
            response.key_id,
            response.key_name,
            response.version,
            response.current_version,
        )

    def rotate_master_key(self, key_id: str, *, request_id: str | None = None) -> int:
        """Rotates a TDE key; returns its new current version."""
        rid = request_id or uuid.uuid4().hex
        response = self._call(
            "tde",
            "RotateMasterKey",
            tde_pb2.RotateMasterKeyRequest(key_id=key_id, request_id=rid),
            request_id=rid,
        )
        version: int = response.version
        return version
