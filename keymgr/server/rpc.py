"""The one wrapper every servicer method goes through: audit, then status.

Every request, allowed, denied or failed, writes one audit line before its answer
leaves (fail closed: if the line cannot be written, the caller gets UNAVAILABLE and no
key material). Domain errors become gRPC statuses through one table; anything
unexpected becomes INTERNAL with a reference id, its traceback only in the node log.
Servicers name the key a call touched in `audit_target`, a context variable, so the
wrapper can put key id and version in the line without seeing the key.

A body that does not decode as the method's request message never reaches a handler
as an exception inside grpc (which would answer UNKNOWN and log a traceback per call):
`tolerant_handlers` registers each method with a deserializer that returns an
`UndecodableRequest` instead, and the wrapper answers it INVALID_ARGUMENT ("request
body is not a valid keymgr.v1.EncryptRequest"), audits it like any refused call, and
logs at most one short line per `BAD_BODY_LOG_INTERVAL_S` for all of them.

Read-your-writes is handled here too, for every RPC of every service: a caller's
`keymgr-min-index` is awaited before the handler runs (except on calls about this node
itself, which must answer however far behind it is), and the Raft index of any write
the handler made goes back as `keymgr-index` trailing metadata.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import grpc

from keymgr.audit import AuditEvent, AuditUnavailable
from keymgr.audit.bounds import bounded
from keymgr.audit.errors import AuditError
from keymgr.config import ConfigError
from keymgr.consistency import INDEX_KEY
from keymgr.crypto.errors import DecryptionFailed, InvalidShare, MalformedCiphertext
from keymgr.crypto.key_export import ExportRefused
from keymgr.crypto.key_import import ImportRejected
from keymgr.error_metadata import ERROR_KEY, OUTCOME_UNKNOWN
from keymgr.node_errors import (
    DecryptFailed,
    FailedPrecondition,
    InvalidArgument,
    NodeError,
    OutcomeUnknown,
    Unauthenticated,
    Unavailable,
    error_from_command,
    status_for,
)
from keymgr.pki import IdentityRefused
from keymgr.raft.durable_journal import StorageFailure
from keymgr.raft.node import NoLeader, ProposalRejected, RaftError
from keymgr.raft.proposer import CommandFailed, WriteOutcomeUnknown
from keymgr.raft.snapshot_file import SnapshotFileError
from keymgr.seal.pkcs11 import HsmUnavailable
from keymgr.server.audit_target import AuditTarget, audit_target
from keymgr.server.auth import Caller, caller_of, identity_source, transport_caller
from keymgr.server.context import NodeContext
from keymgr.server.indexes import WriteIndex, requested_min_index, write_index
from keymgr.server.logs import request_id as current_request_id
from keymgr.store.keystore_validation import CommandRefused
from keymgr.v1 import store_pb2

log = logging.getLogger(__name__)


class HasNode(Protocol):
    _node: NodeContext


S = TypeVar("S", bound=HasNode)
Req = TypeVar("Req")
Resp = TypeVar("Resp")

Handler = Callable[[S, Req, grpc.aio.ServicerContext], Awaitable[Resp]]

# Calls about this node, not the replicated state: they answer however far behind it is
# (an operator must see a lagging node's status, unseal it, make it step down).
NODE_LOCAL = frozenset(
    {
        "Unseal",
        "Seal",
        "SealStatus",
        "LocalStatus",
        "ClusterStatus",
        "StepDown",
        "ListPeers",
        "Join",
        "ExchangeRootKey",
        "MigrateSeal",
    }
)


BAD_BODY_LOG_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class UndecodableRequest:
    """What a method's handler gets for a body that is not a valid `message`."""

    message: str  # full name of the request message, e.g. keymgr.v1.EncryptRequest
    size: int  # bytes received

    @property
    def problem(self) -> str:
        return f"request body is not a valid {self.message}"


def tolerant_deserializer(parse: Callable[[bytes], Any], message: str) -> Callable[[bytes], Any]:
    """`parse`, but a body it refuses becomes an UndecodableRequest (never raises)."""

    def deserialize(raw: bytes) -> Any:
        try:
            return parse(raw)
        except Exception:  # DecodeError; whatever else a parser raises on bad input
            return UndecodableRequest(message, len(raw))

    return deserialize


def tolerant_handlers(
    handlers: Mapping[str, grpc.RpcMethodHandler],
) -> dict[str, grpc.RpcMethodHandler]:
    """The generated registrations of one service, each with a tolerant deserializer.

    Every keymgr method is unary-unary and parses with a generated `Message.FromString`
    (a classmethod: its class names the message). Anything else is a programming error
    and fails at start.
    """
    tolerant = {}
    for method, handler in handlers.items():
        parse = handler.request_deserializer
        message_class = getattr(parse, "__self__", None)
        if handler.unary_unary is None or message_class is None:
            raise TypeError(f"{method}: not a unary call with a generated request message")
        name = message_class.DESCRIPTOR.full_name
        tolerant[method] = grpc.unary_unary_rpc_method_handler(
            handler.unary_unary,
            request_deserializer=tolerant_deserializer(parse, name),
            response_serializer=handler.response_serializer,
        )
    return tolerant


class RateLimitedLog:
    """At most one line per `interval_s`, saying how many events it stands for."""

    def __init__(
        self, logger: logging.Logger, interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._log = logger
        self._interval = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last = -math.inf
        self._count = 0

    def note(self, what: str) -> bool:
        """Counts one event; logs (and returns True) if the last line is old enough."""
        with self._lock:
            self._count += 1
            now = self._clock()
            if now - self._last < self._interval:
                return False
            count, self._count, self._last = self._count, 0, now
        self._log.warning(
            "%d request(s) refused: body did not decode (last: %s); next report in %.0f s "
            "at the earliest",
            count,
            what,
            self._interval,
        )
        return True


bad_bodies = RateLimitedLog(log, BAD_BODY_LOG_INTERVAL_S)


# --- lower layers' exceptions ---------------------------------------------------------
#
# One table, like httpx's mapping of its transport's exceptions: what each lower layer's
# exception means to a caller. A servicer lets these propagate (it catches one only to
# add what the table cannot know: a field name of its own request, a wipe, a retry);
# the wrapper below and the batch calls answer through `node_error_for`. Order matters:
# the first entry whose class matches wins, so subclasses come before their bases.
# tests/unit/test_error_table.py imports every keymgr module and fails on an exception
# class that is neither mapped here nor listed in NEVER_AT_THE_RPC_BOUNDARY.

ErrorRule = tuple[type[Exception], Callable[[Any], NodeError]]

LOWER_LAYER_ERRORS: tuple[ErrorRule, ...] = (
    # Raft (keymgr.raft): retryable, except what the state machine or Raft refused
    (WriteOutcomeUnknown, lambda e: OutcomeUnknown(str(e))),
    (CommandFailed, lambda e: error_from_command(e.error)),
    (ProposalRejected, lambda e: FailedPrecondition(str(e))),
    # (only the proposer, having watched for the command, says a write's outcome is
    # unknown; the other Raft calls are not writes a client could resend)
    (NoLeader, lambda e: Unavailable(f"no Raft leader: {e}")),
    (RaftError, lambda e: Unavailable(f"write not accepted: {e}")),
    (StorageFailure, lambda e: Unavailable(f"Raft storage failed: {e}")),
    # seals and HSM keys: another node's HSM may work
    (HsmUnavailable, lambda e: Unavailable(f"this node's HSM failed: {e}; try another node")),
    # crypto: one opaque answer for a ciphertext that does not authenticate
    (DecryptionFailed, lambda e: DecryptFailed()),
    (MalformedCiphertext, lambda e: InvalidArgument("ciphertext_blob", str(e))),
    (InvalidShare, lambda e: InvalidArgument("share", str(e))),
    (ImportRejected, lambda e: InvalidArgument("wrapped_key_material", str(e))),
    (ExportRefused, lambda e: InvalidArgument(e.field, e.problem)),
    # the state machine's own field rules, applied before proposing
    (
        CommandRefused,
        lambda e: error_from_command(store_pb2.CommandError(code=e.code, message=e.message)),
    ),
    # backup files, identities, the node's own config and audit log
    (SnapshotFileError, lambda e: InvalidArgument("file", str(e))),
    (IdentityRefused, lambda e: Unauthenticated(f"no keymgr identity in client {e}")),
    (ConfigError, lambda e: FailedPrecondition(f"node config: {e}")),
    (AuditUnavailable, lambda e: Unavailable(f"audit log unavailable: {e}")),
    (AuditError, lambda e: Unavailable(f"audit log: {e}")),
)

# Exceptions keymgr defines that never reach a servicer, and why (the test checks that
# every class is in one table or the other).
NEVER_AT_THE_RPC_BOUNDARY: dict[str, str] = {
    "keymgr.raft.durable_journal.JournalError": "raised while the Raft node loads its "
    "journal at start; the node does not serve",
    "keymgr.raft.durable_journal.DumpError": "a damaged dump found at start or in snapshot "
    "transfer, inside the Raft adapter",
    "keymgr.raft.settings.SettingsError": "Raft settings are checked at start",
    "keymgr.raft.wire_codec.RefusedPayload": "raised inside pysyncobj's decoder for a Raft "
    "peer's frame; the connection is dropped",
    "keymgr.raft.proposal_batch.BatchError": "a bad batch between the Raft process and its "
    "workers; the worker link turns it into a RaftError",
    "keymgr.server.worker_wire.WireError": "the worker <-> Raft process pipe; the hub and "
    "replica turn it into a RaftError",
    "keymgr.tls13.InsecureTlsError": "TLS contexts are built at start",
    "keymgr.agents.kms_probe.ProbeFailed": "the `keymgr kms-probe` command's own "
    "failure, a client of the KMS plugin; the CLI prints it",
    "keymgr.ops.devcluster.NodeExited": "a dev or test cluster node that exited at "
    "start; raised to the CLI or test that started it",
    "keymgr.cli.common.CliError": "the command-line tool's own errors",
    "keymgr.client._exceptions.KeymgrError": "the SDK's errors, raised in clients",
    "keymgr.agents.volume.VolumeError": "the volume agent, a client",
    "keymgr.agents.cryptsetup.CryptsetupError": "the volume agent's cryptsetup, a client",
    "keymgr.gateway.config.GatewayConfigError": "the gateway's config, read at its "
    "start; the CLI prints it",
    "keymgr.gateway.bodies.BadBody": "an HTTP body the gateway refuses; answered as a "
    "KV v2 4xx by the gateway, never sent to a node",
    "keymgr.gateway.paths.BadTarget": "an HTTP request target the gateway refuses; "
    "answered as a KV v2 400 by the gateway",
    "keymgr.gateway.cluster.ClusterUnavailable": "the gateway's own answer (503) "
    "when no node answered within its failover deadline",
    "keymgr.ops.ports.NotListening": "a test or tool waiting for a port it started; "
    "raised to that caller",
    "keymgr.bounded_http._BadRequest": "the HTTP gateways answer it with a 4xx themselves",
    "keymgr.ops.chaos_disk.DiskFaultSkipped": "the chaos drill, run by an operator",
}


def node_error_for(exc: Exception) -> NodeError | None:
    """The domain error `exc` stands for (itself if it is one); None if it is a bug."""
    if isinstance(exc, NodeError):
        return exc
    for exc_type, render in LOWER_LAYER_ERRORS:
        if isinstance(exc, exc_type):
            return render(exc)
    return None


def _caller(context: grpc.aio.ServicerContext) -> Caller | None:
    """Who the audit line names: the caller, else (a refused token or forwarded
    certificate) the certificate's holder who presented it, else nobody."""
    try:
        return caller_of(context)
    except NodeError:
        pass
    try:
        return transport_caller(context)
    except NodeError:
        return None


def _stood_in(caller: Caller | None) -> str:
    """How a token or forwarded certificate stood in for the caller, for audit."""
    if caller is None or not caller.via:
        return ""
    token = f" token {caller.accessor}" if caller.accessor else ""
    return f"via {caller.via}{token}"


def _context_of(request: Any) -> dict[str, str]:
    """Encryption context(s) of a request (none of an UndecodableRequest); values are
    HMAC'd by the audit log, which also bounds how much of it is written."""
    context: dict[str, str] = {}
    for field, prefix in (
        ("encryption_context", ""),
        ("source_encryption_context", "source."),
        ("destination_encryption_context", "destination."),
    ):
        values = getattr(request, field, None)
        if values:
            context.update({prefix + k: v for k, v in values.items()})
    return context


def rpc(method: Handler[S, Req, Resp]) -> Handler[S, Req, Resp]:
    name = method.__name__

    @functools.wraps(method)
    async def wrapper(self: S, request: Req, context: grpc.aio.ServicerContext) -> Resp:
        node = self._node
        started = time.perf_counter()
        target = AuditTarget()
        token = audit_target.set(target)
        written = WriteIndex()
        index_token = write_index.set(written)
        undecodable = request if isinstance(request, UndecodableRequest) else None
        client_rid = None if undecodable else getattr(request, "request_id", None) or None
        rid_token = current_request_id.set(bounded(client_rid) if client_rid else uuid.uuid4().hex)
        source_token = identity_source.set(node)
        code, detail, response, kind = grpc.StatusCode.OK, "", None, ""
        try:
            if undecodable is not None:
                code, detail = grpc.StatusCode.INVALID_ARGUMENT, undecodable.problem
            else:
                caller_of(context)  # a certificate naming no keymgr identity stops here
                wanted = requested_min_index(context)
                if name not in NODE_LOCAL:
                    await node.await_index(wanted)
                response = await method(self, request, context)
        except (grpc.aio.AbortError, grpc.RpcError):
            raise
        except Exception as exc:
            mapped = node_error_for(exc)
            if mapped is not None:
                code, detail = status_for(mapped)
                kind = mapped.kind  # keymgr-error for the SDK (keymgr.error_metadata)
            else:
                ref = uuid.uuid4().hex[:12]
                log.exception("internal error in %s (ref=%s)", name, ref)
                code, detail = grpc.StatusCode.INTERNAL, f"internal error (ref={ref})"
        finally:
            audit_target.reset(token)
            write_index.reset(index_token)
        caller = _caller(context)
        identity_source.reset(source_token)
        elapsed = time.perf_counter() - started
        if node.calls is not None:
            node.calls.observe(name, code.name, elapsed)
        log.debug("%s -> %s in %.1f ms", name, code.name, elapsed * 1000)
        principal = caller.principal if caller is not None else ""
        if undecodable is not None:
            bad_bodies.note(f"{name} from {bounded(principal)}, {undecodable.size} bytes")
        try:
            node.audit.log(
                AuditEvent(
                    principal=principal,
                    operation=name,
                    result=code.name,
                    latency_ms=elapsed * 1000,
                    key_id=target.key_id,
                    key_version=target.key_version,
                    request_id=client_rid,
                    context={**target.context, **_context_of(request)},
                    detail="; ".join(
                        part
                        for part in (target.subject, detail or target.detail, _stood_in(caller))
                        if part
                    ),
                    batch=target.batch,
                )
            )
        except AuditUnavailable:
            log.error("audit log unavailable: refused %s (fail closed)", name)
            # the handler has run: a write it made stands, so say the outcome is unknown
            # (the SDK then never resends Init or RotateRoot, whose reply is lost)
            code, detail = (
                grpc.StatusCode.UNAVAILABLE,
                "audit log unavailable: reply withheld (fail closed), write outcome unknown; "
                "try another node",
            )
            kind = OUTCOME_UNKNOWN
        current_request_id.reset(rid_token)
        trailing: tuple[tuple[str, str], ...] = (
            ((INDEX_KEY, str(written.index)),) if written.index else ()
        )
        if code != grpc.StatusCode.OK:
            marked = (*trailing, (ERROR_KEY, kind)) if kind else trailing
            await context.abort(code, detail, trailing_metadata=marked)
        if trailing:
            context.set_trailing_metadata(trailing)
        assert response is not None
        return response

    return wrapper
