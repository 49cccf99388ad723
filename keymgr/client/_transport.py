"""The SDK's transport: channels, credentials, the failover loop and read-your-writes.

Every service module (`_keys`, `_crypto`, `_volume`, `_tde`, `_operator`, `_snapshots`,
`_access`) builds a request and hands it to `Transport._call` with the service's name;
nothing below this layer knows what a key is. `_call` picks endpoints from the
sans-I/O `FailoverPolicy`, sends the caller's highest seen Raft index
(`keymgr-min-index`) and raises it from each reply's `keymgr-index` trailer, and maps
gRPC errors to the SDK's exception tree (`_exceptions.from_rpc_error`).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import grpc

from keymgr.client._exceptions import (
    KeymgrError,
    OutcomeUnknown,
    RetryableError,
    TlsHandshakeFailed,
    Unauthenticated,
    Unavailable,
    from_rpc_error,
    may_have_been_applied,
)
from keymgr.client._failover import FailoverPolicy
from keymgr.client._handshake import explain_handshake_failure, may_be_refused_handshake
from keymgr.consistency import INDEX_KEY, MIN_INDEX_KEY, parse_index
from keymgr.stubs import (
    access_stub,
    keys_stub,
    operator_stub,
    secrets_stub,
    tde_stub,
    volume_stub,
)
from keymgr.tls13 import channel_credentials, client_channel_options


@dataclass(frozen=True, kw_only=True)
class Credentials:
    """mTLS material: the cluster CA and this client's certificate and key (PEM files)."""

    ca: Path
    cert: Path
    key: Path

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """TLS 1.3 only (InsecureTlsError if gRPC here could negotiate TLS 1.2)."""
        return channel_credentials(self.cert, self.key, self.ca)


# service name, as the service modules pass it to `_call` -> the stub's constructor
STUBS: dict[str, Callable[[grpc.Channel], Any]] = {
    "keys": keys_stub,
    "operator": operator_stub,
    "access": access_stub,
    "volume": volume_stub,
    "tde": tde_stub,
    "secrets": secrets_stub,
}


class Transport:
    """Connections to a cluster's `endpoints` ("host:port") and one RPC with failover.

    Retryable failures (a sealed or leaderless node, a deadline) move the call to the
    next endpoint, up to `attempts` tries in all with a short backoff; final errors
    are raised at once. `connections_per_node` > 1 opens that many connections to each
    node and takes them in turn.
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
        self._tls_files = credentials  # to explain a failed handshake (`_handshake`)
        self._timeout = timeout
        self._attempts = attempts or max(3, 2 * len(self._policy.endpoints))
        self._backoff = backoff
        self._channels: dict[tuple[str, int], grpc.Channel] = {}
        self._stubs: dict[tuple[str, str, int], Any] = {}  # (endpoint, service, connection)
        self._lock = threading.Lock()
        self._index_lock = threading.Lock()
        self._index = 0  # highest Raft index seen in a reply (see `seen_index`)

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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _channel(self, endpoint: str, connection: int) -> grpc.Channel:
        with self._lock:
            channel = self._channels.get((endpoint, connection))
            if channel is None:
                # several connections to one node must not share gRPC's global pool
                options = client_channel_options(own_connection=self._connections > 1)
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
            stub = self._stubs[key] = STUBS[service](self._channel(endpoint, connection))
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
        credential: tuple[tuple[str, str | bytes], ...] = (),
    ) -> Any:
        """One RPC with failover. `at_most_once`: never send it again once it may have
        run (for calls whose reply cannot be had twice: Init's and RotateRoot's shares).
        `credential`: metadata that stands in for the certificate's principal (a
        `keymgr-token`, a gateway's forwarded certificate), sent on every attempt."""
        plan = [endpoint] if endpoint else self._policy.plan(self._attempts)
        last: KeymgrError | None = None
        for number, target in enumerate(plan):
            stub = self._stub(target, service)
            try:
                metadata = (*(self._metadata() or ()), *credential) or None
                response, call = getattr(stub, method).with_call(
                    request, timeout=self._timeout, metadata=metadata
                )
            except grpc.RpcError as exc:
                self._note_index(exc)
                last = from_rpc_error(exc, endpoint=target, request_id=request_id)
                self._raise_if_tls_refused(last, target)
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

    def _raise_if_tls_refused(self, error: KeymgrError, endpoint: str) -> None:
        """A refused certificate is final and says why (gRPC calls it `Socket closed`)."""
        if not isinstance(error, (Unavailable, Unauthenticated)):
            return
        if isinstance(error, OutcomeUnknown) or not may_be_refused_handshake(str(error)):
            return
        files = self._tls_files
        reason = explain_handshake_failure(endpoint, files.ca, files.cert, files.key)
        if reason is not None:
            raise TlsHandshakeFailed(
                f"{endpoint}: {reason}", endpoint=endpoint, code=error.code
            ) from None
