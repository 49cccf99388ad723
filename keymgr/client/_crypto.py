"""Cryptographic calls (KeyManagement service): data keys, encrypt, decrypt, re-encrypt,
random bytes, and their batch forms (items and results in `keymgr.client._batch`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

from keymgr.client import _batch
from keymgr.client._batch import (
    DataKeyItem,
    Decrypted,
    DecryptItem,
    Encrypted,
    EncryptItem,
    ItemResult,
)
from keymgr.client._results import DataKey
from keymgr.client._transport import Transport
from keymgr.v1 import keys_pb2


class CryptoCalls(Transport):
    """Client methods that use keys. `consistent=True` asks for a linearizable read of
    the key (the serving node confirms it is current); `endpoint` pins one node."""

    def generate_data_key(
        self,
        key_name: str,
        *,
        context: Mapping[str, str] | None = None,
        number_of_bytes: int = 0,
        without_plaintext: bool = False,
        consistent: bool = False,
        endpoint: str | None = None,
    ) -> DataKey:
        response = self._call(
            "keys",
            "GenerateDataKey",
            keys_pb2.GenerateDataKeyRequest(
                key_name=key_name,
                encryption_context=context or {},
                number_of_bytes=number_of_bytes,
                without_plaintext=without_plaintext,
                consistency=_consistency(consistent),
            ),
            endpoint=endpoint,
        )
        return DataKey(
            response.ciphertext_blob, response.plaintext, response.key_id, response.key_version
        )

    def encrypt(
        self,
        key_name: str,
        plaintext: bytes,
        *,
        context: Mapping[str, str] | None = None,
        consistent: bool = False,
        endpoint: str | None = None,
    ) -> bytes:
        response = self._call(
            "keys",
            "Encrypt",
            keys_pb2.EncryptRequest(
                key_name=key_name,
                plaintext=plaintext,
                encryption_context=context or {},
                consistency=_consistency(consistent),
            ),
            endpoint=endpoint,
        )
        blob: bytes = response.ciphertext_blob
        return blob

    def decrypt(
        self,
        ciphertext_blob: bytes,
        *,
        context: Mapping[str, str] | None = None,
        consistent: bool = False,
        endpoint: str | None = None,
    ) -> bytes:
        response = self._call(
            "keys",
            "Decrypt",
            keys_pb2.DecryptRequest(
                ciphertext_blob=ciphertext_blob,
                encryption_context=context or {},
                consistency=_consistency(consistent),
            ),
            endpoint=endpoint,
        )
        plaintext: bytes = response.plaintext
        return plaintext

    def batch_encrypt(
        self,
        items: Sequence[EncryptItem],
        *,
        consistent: bool = False,
        endpoint: str | None = None,
    ) -> list[ItemResult[Encrypted]]:
        """Encrypts up to 1,000 items in one call; one `ItemResult` per item, in order."""
        response = self._call(
            "keys",
            "BatchEncrypt",
            _batch.encrypt_request(items, _consistency(consistent)),
            endpoint=endpoint,
        )
        return _batch.results(
            response, lambda ok: Encrypted(ok.ciphertext_blob, ok.key_id, ok.key_version)
        )

    def batch_decrypt(
        self,
        items: Sequence[DecryptItem],
        *,
        consistent: bool = False,
        endpoint: str | None = None,
    ) -> list[ItemResult[Decrypted]]:
        """Decrypts up to 1,000 ciphertexts in one call; one `ItemResult` per item."""
        response = self._call(
            "keys",
            "BatchDecrypt",
            _batch.decrypt_request(items, _consistency(consistent)),
            endpoint=endpoint,
        )
        return _batch.results(
            response, lambda ok: Decrypted(ok.plaintext, ok.key_id, ok.key_version)
        )

    def batch_generate_data_key(
        self,
        items: Sequence[DataKeyItem],
        *,
        consistent: bool = False,
        endpoint: str | None = None,
    ) -> list[ItemResult[DataKey]]:
        """Up to 1,000 data keys in one call; one `ItemResult` per item, in order."""
        response = self._call(
            "keys",
            "BatchGenerateDataKey",
            _batch.data_key_request(items, _consistency(consistent)),
            endpoint=endpoint,
        )
        return _batch.results(
            response,
            lambda ok: DataKey(ok.ciphertext_blob, ok.plaintext, ok.key_id, ok.key_version),
        )

    def re_encrypt(
        self,
        ciphertext_blob: bytes,
        *,
        source_context: Mapping[str, str] | None = None,
        destination_key_name: str = "",
        destination_context: Mapping[str, str] | None = None,
        endpoint: str | None = None,
    ) -> keys_pb2.ReEncryptResponse:
        keep = destination_context is None
        return cast(
            "keys_pb2.ReEncryptResponse",
            self._call(
                "keys",
                "ReEncrypt",
                keys_pb2.ReEncryptRequest(
                    ciphertext_blob=ciphertext_blob,
                    source_encryption_context=source_context or {},
                    destination_key_name=destination_key_name,
                    destination_encryption_context=destination_context or {},
                    keep_source_context=keep,
                ),
                endpoint=endpoint,
            ),
        )

    def generate_random(self, number_of_bytes: int = 32) -> bytes:
        response = self._call(
            "keys",
            "GenerateRandom",
            keys_pb2.GenerateRandomRequest(number_of_bytes=number_of_bytes),
        )
        random: bytes = response.random
        return random


def _consistency(consistent: bool) -> keys_pb2.Consistency:
    return keys_pb2.CONSISTENCY_LINEARIZABLE if consistent else keys_pb2.CONSISTENCY_DEFAULT
