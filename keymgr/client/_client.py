"""The synchronous keymgr client: several endpoints, failover, request ids."""

from __future__ import annotations

import functools
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import grpc

from keymgr.client import _batch
from keymgr.client._batch import (
    DataKeyItem,
    Decrypted,
    DecryptItem,
    Encrypted,
    EncryptItem,
    ItemResult,
)
from keymgr.client._exceptions import (
    KeymgrError,
    RetryableError,
    from_rpc_error,
    may_have_been_applied,
)
from keymgr.client._failover import FailoverPolicy
from keymgr.client._secrets import SecretsClient
from keymgr.consistency import INDEX_KEY, MIN_INDEX_KEY, parse_index
from keymgr.stubs import access_stub, keys_stub, operator_stub, tde_stub, volume_stub
from keymgr.tls13 import require_tls13
from keymgr.v1 import access_pb2, keys_pb2, operator_pb2, store_pb2, tde_pb2, volume_pb2

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Credentials:
    """mTLS material: the cluster CA and this client's certificate and key (PEM files)."""

    ca: Path
    cert: Path
    key: Path

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """TLS 1.3 only (InsecureTlsError if gRPC here could negotiate TLS 1.2)."""
        require_tls13()
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca.read_bytes(),
            private_key=self.key.read_bytes(),
            certificate_chain=self.cert.read_bytes(),
        )


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


class Client:
    """Talks to a keymgr cluster through any of `endpoints` ("host:port").

    Retryable failures (a sealed or leaderless node, a deadline) move the call to the
    next endpoint, up to `attempts` tries in all with a short backoff; final errors
    are raised at once. Read-your-writes: the client remembers the highest Raft index a
    node reported for its writes and sends it on every call; a node that has not
    applied that much waits briefly or refuses, and the call moves on. Example::

        client = Client(["127.0.0.1:7001", "127.0.0.1:7002"], credentials=creds)
        dk = client.generate_data_key("orders", context={"table": "t1"})

    `connections_per_node` > 1 opens that many connections to each node and takes them
    in turn: a node's serving processes (`serving.processes`) each accept some of them,
    so one busy client can use all of a node's cores.
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        credentials: Credentials,
        timeout: float = 5.0,
        attempts: int | None = None,
        backoff: float = 0.1,
        connections_per_node: int = 1,
    ) -> None:
        if not 1 <= connections_per_node <= 64:
            raise ValueError("connections_per_node: must be between 1 and 64")
        self._connections = connections_per_node  # a node's processes each take some
        self._turn = itertools.count()
        self._policy = FailoverPolicy(endpoints)
        self._credentials = credentials.channel_credentials()
        self._timeout = timeout
        self._attempts = attempts or max(3, 2 * len(self._policy.endpoints))
        self._backoff = backoff
        self._channels: dict[tuple[str, int], grpc.Channel] = {}
        self._stubs: dict[tuple[str, str, int], Any] = {}  # (endpoint, service, connection)
        self._lock = threading.Lock()
        self._index_lock = threading.Lock()
        self._index = 0  # highest Raft index seen in a reply (see `seen_index`)

    @functools.cached_property
    def secrets(self) -> SecretsClient:
        """Versioned secrets (keymgr.client._secrets): same endpoints and failover."""
        return SecretsClient(self)

    @property
    def seen_index(self) -> int:
        """The highest Raft index a node reported applying a write of ours at."""
        with self._index_lock:
            return self._index

    def _note_index(self, call: Any) -> None:
        """Raises `seen_index` to the call's `keymgr-index` trailer (ignored if bad)."""
        try:
            trailers = call.trailing_metadata() or ()
        except Exception:  # a call that never reached a server has none
            return
        for key, value in trailers:
            if key != INDEX_KEY:
                continue
            try:
                index = parse_index(value)
            except ValueError:
                continue
            with self._index_lock:
                self._index = max(self._index, index)

    def _metadata(self) -> tuple[tuple[str, str], ...] | None:
        index = self.seen_index
        return ((MIN_INDEX_KEY, str(index)),) if index else None

    def close(self) -> None:
        with self._lock:
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()
            self._stubs.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _channel(self, endpoint: str, connection: int) -> grpc.Channel:
        with self._lock:
            channel = self._channels.get((endpoint, connection))
            if channel is None:
                # several connections to one node must not share gRPC's global pool
                options = [("grpc.use_local_subchannel_pool", 1)] if self._connections > 1 else []
                channel = grpc.secure_channel(endpoint, self._credentials, options)
                self._channels[(endpoint, connection)] = channel
            return channel

    def _stub(self, endpoint: str, service: str) -> Any:
        """The service's stub on one of `endpoint`'s connections, in turn (a stub builds
        a callable per method, so it is built once)."""
        connection = next(self._turn) % self._connections if self._connections > 1 else 0
        key = (endpoint, service, connection)
        stub = self._stubs.get(key)
        if stub is None:
            stub = self._stubs[key] = _STUBS[service](self._channel(endpoint, connection))
        return stub

    def _call(
        self,
        service: str,
        method: str,
        request: Any,
        *,
        request_id: str = "",
        endpoint: str | None = None,
        at_most_once: bool = False,
    ) -> Any:
        """One RPC with failover. `at_most_once`: never send it again once it may have
        run (for calls whose reply cannot be had twice: Init's and RotateRoot's shares)."""
        plan = [endpoint] if endpoint else self._policy.plan(self._attempts)
        last: KeymgrError | None = None
        for number, target in enumerate(plan):
            stub = self._stub(target, service)
            try:
                response, call = getattr(stub, method).with_call(
                    request, timeout=self._timeout, metadata=self._metadata()
                )
            except grpc.RpcError as exc:
                self._note_index(exc)
                last = from_rpc_error(exc, endpoint=target, request_id=request_id)
                if not isinstance(last, RetryableError):
                    raise last from None
                if at_most_once and may_have_been_applied(last):
                    raise last from None
                self._policy.failed(target)
                if number + 1 < len(plan):
                    time.sleep(min(self._backoff * (number + 1), 1.0))
                continue
            self._note_index(call)
            self._policy.succeeded(target)
            return response
        assert last is not None
        raise last

    def _write(
        self, method: str, build: Callable[[str], Any], request_id: str | None
    ) -> keys_pb2.KeyResponse:
        rid = request_id or uuid.uuid4().hex
        response: keys_pb2.KeyResponse = self._call("keys", method, build(rid), request_id=rid)
        return response

    # --- key lifecycle -------------------------------------------------------------

    def create_key(
        self,
        name: str,
        *,
        purpose: keys_pb2.KeyPurpose = keys_pb2.KEY_PURPOSE_ENCRYPT,
        labels: Mapping[str, str] | None = None,
        description: str = "",
        rotation_period_seconds: int = 0,
        origin: str = "keymgr",
        request_id: str | None = None,
    ) -> keys_pb2.Key:
        """`origin="external"`: a key without material until `import_key_material`."""
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
        request_id: str | None = None,
    ) -> keys_pb2.Key:
        """Imports wrapped AES-256 material as a new version (or `version` again)."""
        return self._write(
            "ImportKeyMaterial",
            lambda rid: keys_pb2.ImportKeyMaterialRequest(
                name_or_id=name_or_id,
                import_token=import_token,
                wrapped_key_material=wrapped_key_material,
                algorithm=wrapping_algorithm(algorithm),
                version=version,
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

    # --- cryptography -------------------------------------------------------------

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

    # --- batch cryptography (see keymgr.client._batch) -------------------------------

    def batch_encrypt(
        self,
        items: Sequence[EncryptItem],
        *,
        consistent: bool = False,
        endpoint: str | None = None,
    ) -> list[ItemResult[Encrypted]]:
        """Encrypts up to 1,000 items in one call; one `ItemResult` per item, in order."""
        response = self._call(
            "keys", "BatchEncrypt",
            _batch.encrypt_request(items, _consistency(consistent)), endpoint=endpoint,
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
            "keys", "BatchDecrypt",
            _batch.decrypt_request(items, _consistency(consistent)), endpoint=endpoint,
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
            "keys", "BatchGenerateDataKey",
            _batch.data_key_request(items, _consistency(consistent)), endpoint=endpoint,
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

    # --- volume keys ----------------------------------------------------------------

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

    # --- database TDE ---------------------------------------------------------------

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

    # --- operator -----------------------------------------------------------------

    def init(
        self,
        *,
        shares: int = 5,
        threshold: int = 3,
        approvals_required: int = 0,
        endpoint: str | None = None,
    ) -> operator_pb2.InitResponse:
        return cast(
            "operator_pb2.InitResponse",
            self._call(
                "operator",
                "Init",
                operator_pb2.InitRequest(
                    secret_shares=shares,
                    secret_threshold=threshold,
                    approvals_required=approvals_required,
                ),
                endpoint=endpoint,
                at_most_once=True,
            ),
        )

    def unseal(
        self, share: str, *, endpoint: str, reset: bool = False
    ) -> operator_pb2.SealStatusResponse:
        return cast(
            "operator_pb2.SealStatusResponse",
            self._call(
                "operator",
                "Unseal",
                operator_pb2.UnsealRequest(share=share, reset=reset),
                endpoint=endpoint,
            ),
        )

    def seal(self, *, endpoint: str) -> operator_pb2.SealStatusResponse:
        return cast(
            "operator_pb2.SealStatusResponse",
            self._call("operator", "Seal", operator_pb2.SealRequest(), endpoint=endpoint),
        )

    def local_status(self, *, endpoint: str | None = None) -> operator_pb2.NodeStatus:
        """One node's own view (role, term, indexes, sealed, serving and why not)."""
        return cast(
            "operator_pb2.NodeStatus",
            self._call(
                "operator", "LocalStatus", operator_pb2.LocalStatusRequest(), endpoint=endpoint
            ),
        )

    def seal_status(self, *, endpoint: str) -> operator_pb2.SealStatusResponse:
        return cast(
            "operator_pb2.SealStatusResponse",
            self._call(
                "operator", "SealStatus", operator_pb2.SealStatusRequest(), endpoint=endpoint
            ),
        )

    def create_join_token(
        self, node_id: str, *, ttl_seconds: int = 0
    ) -> operator_pb2.CreateJoinTokenResponse:
        """A one-use token for `node_id` to fetch the root key (after its approval)."""
        return cast(
            "operator_pb2.CreateJoinTokenResponse",
            self._call("operator", "CreateJoinToken", operator_pb2.CreateJoinTokenRequest(
                node_id=node_id, ttl_seconds=ttl_seconds)),
        )

    def join(self, token: str, *, endpoint: str) -> operator_pb2.JoinResponse:
        """Tells the node at `endpoint` to fetch the root key from a peer with `token`."""
        return cast(
            "operator_pb2.JoinResponse",
            self._call("operator", "Join", operator_pb2.JoinRequest(token=token),
                       endpoint=endpoint),
        )

    def request_seal_migration(
        self, node_id: str, to_type: str, *, ttl_seconds: int = 0
    ) -> operator_pb2.RequestSealMigrationResponse:
        """Asks the admins to approve moving `node_id`'s seal to `to_type`."""
        return cast(
            "operator_pb2.RequestSealMigrationResponse",
            self._call("operator", "RequestSealMigration",
                       operator_pb2.RequestSealMigrationRequest(
                           node_id=node_id, to_type=to_type, ttl_seconds=ttl_seconds)),
        )

    def migrate_seal(self, migration_id: str, *, endpoint: str) -> operator_pb2.SealStatusResponse:
        """Tells the node at `endpoint` to re-seal its root key per its edited config."""
        return cast(
            "operator_pb2.SealStatusResponse",
            self._call("operator", "MigrateSeal",
                       operator_pb2.MigrateSealRequest(migration_id=migration_id),
                       endpoint=endpoint),
        )

    def cluster_status(self, *, endpoint: str | None = None) -> operator_pb2.ClusterStatusResponse:
        return cast(
            "operator_pb2.ClusterStatusResponse",
            self._call(
                "operator", "ClusterStatus", operator_pb2.ClusterStatusRequest(), endpoint=endpoint
            ),
        )

    def step_down(
        self, *, target_node_id: str = "", endpoint: str | None = None
    ) -> operator_pb2.StepDownResponse:
        return cast(
            "operator_pb2.StepDownResponse",
            self._call(
                "operator",
                "StepDown",
                operator_pb2.StepDownRequest(target_node_id=target_node_id),
                endpoint=endpoint,
            ),
        )

    def rotate_keyring(self, *, request_id: str | None = None) -> int:
        rid = request_id or uuid.uuid4().hex
        response = self._call(
            "operator",
            "RotateKeyring",
            operator_pb2.RotateKeyringRequest(request_id=rid),
            request_id=rid,
        )
        term: int = response.active_term
        return term

    def rotate_root(
        self,
        *,
        shares: int = 0,
        threshold: int = 0,
        ttl_seconds: int = 0,
        operation_id: str | None = None,
    ) -> operator_pb2.RotateRootResponse:
        """Requests a new root key and new unseal shares (split-key). The reply holds the
        new shares once; it is not resent once the request may have run: then look up
        `operation_id` (made here when not given; it is on the error) in the approvals."""
        op_id = operation_id or uuid.uuid4().hex
        return cast(
            "operator_pb2.RotateRootResponse",
            self._call(
                "operator",
                "RotateRoot",
                operator_pb2.RotateRootRequest(
                    secret_shares=shares,
                    secret_threshold=threshold,
                    ttl_seconds=ttl_seconds,
                    operation_id=op_id,
                ),
                request_id=op_id,
                at_most_once=True,
            ),
        )

    # --- backup, restore, membership ------------------------------------------------

    def save_snapshot(
        self, *, on_progress: Callable[[int, int], None] | None = None, endpoint: str | None = None
    ) -> tuple[bytes, operator_pb2.SnapshotChunk]:
        """The cluster's snapshot file, fetched in chunks from one node; returns
        (file bytes, first chunk's metadata). `on_progress(done, total)` per chunk."""
        first = self._call("operator", "SaveSnapshot", operator_pb2.SaveSnapshotRequest(),
                           endpoint=endpoint)
        target = endpoint or self._policy.endpoints[0]  # the same node holds the snapshot
        data = bytearray(first.data)
        if on_progress:
            on_progress(len(data), first.total_size)
        while len(data) < first.total_size:
            chunk = self._call(
                "operator", "SaveSnapshot",
                operator_pb2.SaveSnapshotRequest(snapshot_id=first.snapshot_id, offset=len(data)),
                endpoint=target,
            )
            if not chunk.data:
                raise KeymgrError("snapshot download stalled", endpoint=target)
            data.extend(chunk.data)
            if on_progress:
                on_progress(len(data), first.total_size)
        return bytes(data), first

    def restore_snapshot(
        self,
        data: bytes,
        shares: Sequence[str],
        *,
        endpoint: str,
        chunk_bytes: int = 256 * 1024,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> operator_pb2.RestoreSnapshotResponse:
        """Uploads a snapshot file to one node of a fresh cluster and restores it."""
        upload_id = uuid.uuid4().hex
        offset = 0
        while True:
            piece = data[offset : offset + chunk_bytes]
            final = offset + len(piece) >= len(data)
            response = self._call(
                "operator", "RestoreSnapshot",
                operator_pb2.RestoreSnapshotRequest(
                    upload_id=upload_id, offset=offset, data=piece, final=final,
                    shares=list(shares) if final else [],
                ),
                endpoint=endpoint,
            )
            offset += len(piece)
            if on_progress:
                on_progress(offset, len(data))
            if final:
                return cast("operator_pb2.RestoreSnapshotResponse", response)

    def list_peers(self, *, endpoint: str | None = None) -> operator_pb2.PeersResponse:
        return cast(
            "operator_pb2.PeersResponse",
            self._call("operator", "ListPeers", operator_pb2.ListPeersRequest(),
                       endpoint=endpoint),
        )

    def add_peer(
        self, node_id: str, *, api: str, raft: str, zone: str = "", endpoint: str | None = None
    ) -> operator_pb2.PeersResponse:
        return cast(
            "operator_pb2.PeersResponse",
            self._call(
                "operator", "AddPeer",
                operator_pb2.AddPeerRequest(
                    id=node_id, api_address=api, raft_address=raft, zone=zone
                ),
                endpoint=endpoint,
            ),
        )

    def remove_peer(self, node_id: str, *, endpoint: str | None = None
                    ) -> operator_pb2.PeersResponse:
        return cast(
            "operator_pb2.PeersResponse",
            self._call("operator", "RemovePeer", operator_pb2.RemovePeerRequest(id=node_id),
                       endpoint=endpoint),
        )

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

    # --- access control and approvals -------------------------------------------------

    def _access(self, method: str, request: Any, endpoint: str | None = None) -> Any:
        return self._call("access", method, request, endpoint=endpoint)

    def put_policy(
        self, policy: store_pb2.Policy, *, ttl_seconds: int = 0
    ) -> store_pb2.PendingOperation:
        response = self._access(
            "PutPolicy", access_pb2.PutPolicyRequest(policy=policy, ttl_seconds=ttl_seconds)
        )
        return cast("store_pb2.PendingOperation", response.operation)

    def get_policy(self, name: str) -> store_pb2.Policy:
        return cast(
            "store_pb2.Policy", self._access("GetPolicy", access_pb2.GetPolicyRequest(name=name))
        )

    def list_policies(self) -> list[store_pb2.Policy]:
        return list(self._access("ListPolicies", access_pb2.ListPoliciesRequest()).policies)

    def delete_policy(self, name: str, *, ttl_seconds: int = 0) -> store_pb2.PendingOperation:
        response = self._access(
            "DeletePolicy", access_pb2.DeletePolicyRequest(name=name, ttl_seconds=ttl_seconds)
        )
        return cast("store_pb2.PendingOperation", response.operation)

    def set_roles(
        self, principal: str, roles: list[str], *, ttl_seconds: int = 0
    ) -> store_pb2.PendingOperation:
        response = self._access(
            "SetRoles",
            access_pb2.SetRolesRequest(principal=principal, roles=roles, ttl_seconds=ttl_seconds),
        )
        return cast("store_pb2.PendingOperation", response.operation)

    def list_roles(self) -> list[store_pb2.RoleBinding]:
        return list(self._access("ListRoles", access_pb2.ListRolesRequest()).bindings)

    def set_approval_rule(
        self, kind: str, required: int, *, ttl_seconds: int = 0
    ) -> store_pb2.PendingOperation:
        response = self._access(
            "SetApprovalRule",
            access_pb2.SetApprovalRuleRequest(
                kind=kind, required=required, ttl_seconds=ttl_seconds
            ),
        )
        return cast("store_pb2.PendingOperation", response.operation)

    def destroy_key(self, name_or_id: str, *, ttl_seconds: int = 0) -> store_pb2.PendingOperation:
        response = self._access(
            "DestroyKey",
            access_pb2.DestroyKeyRequest(name_or_id=name_or_id, ttl_seconds=ttl_seconds),
        )
        return cast("store_pb2.PendingOperation", response.operation)

    def list_approvals(self, *, include_decided: bool = False) -> access_pb2.ListApprovalsResponse:
        return cast(
            "access_pb2.ListApprovalsResponse",
            self._access(
                "ListApprovals", access_pb2.ListApprovalsRequest(include_decided=include_decided)
            ),
        )

    def approve(self, operation_id: str) -> store_pb2.PendingOperation:
        response = self._access("Approve", access_pb2.DecideRequest(operation_id=operation_id))
        return cast("store_pb2.PendingOperation", response.operation)

    def reject(self, operation_id: str) -> store_pb2.PendingOperation:
        response = self._access("Reject", access_pb2.DecideRequest(operation_id=operation_id))
        return cast("store_pb2.PendingOperation", response.operation)

    def request_export(
        self, name_or_id: str, *, version: int = 0, ttl_seconds: int = 0
    ) -> store_pb2.PendingOperation:
        response = self._access(
            "RequestExport",
            access_pb2.RequestExportRequest(
                name_or_id=name_or_id, version=version, ttl_seconds=ttl_seconds
            ),
        )
        return cast("store_pb2.PendingOperation", response.operation)

    def export_key(
        self,
        grant_id: str,
        wrapping_public_key: bytes,
        *,
        destination: str = "",
        algorithm: str = "",
        kek_id: str = "",
        import_token: bytes = b"",
    ) -> access_pb2.ExportKeyResponse:
        """Uses an approved grant once. `destination`: "" (RSA-OAEP escrow), "rsa-aes",
        "aws", "gcp", "azure" or "openbao"; the payload comes back in its import format."""
        name = "EXPORT_DESTINATION_" + (destination or "unspecified").upper().replace("-", "_")
        if name not in set(access_pb2.ExportDestination.keys()):
            raise ValueError(f"unknown export destination {destination!r}")
        return cast(
            "access_pb2.ExportKeyResponse",
            self._access(
                "ExportKey",
                access_pb2.ExportKeyRequest(
                    grant_id=grant_id,
                    wrapping_public_key=wrapping_public_key,
                    destination=name,
                    algorithm=algorithm,
                    kek_id=kek_id,
                    import_token=import_token,
                ),
            ),
        )

    def list_export_bundles(self, name_or_id: str) -> list[store_pb2.ExportBundle]:
        """Every recorded export of a key, oldest first (no material: where, to whom)."""
        response = self._access(
            "ListExportBundles", access_pb2.ListExportBundlesRequest(name_or_id=name_or_id)
        )
        return list(response.bundles)

    def whoami(self) -> access_pb2.WhoAmIResponse:
        return cast("access_pb2.WhoAmIResponse", self._access("WhoAmI", access_pb2.WhoAmIRequest()))


def _consistency(consistent: bool) -> keys_pb2.Consistency:
    return keys_pb2.CONSISTENCY_LINEARIZABLE if consistent else keys_pb2.CONSISTENCY_DEFAULT


_STUBS: dict[str, Callable[[grpc.Channel], Any]] = {
    "keys": keys_stub,
    "operator": operator_stub,
    "access": access_stub,
    "volume": volume_stub,
    "tde": tde_stub,
}


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
