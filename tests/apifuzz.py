"""Seeded fuzzing of a node's gRPC API: malformed and extreme requests to every method.

Cases are made from one `random.Random(seed)`, so a failing run replays. Each is a
method of the five services and a raw body, of one of these kinds:

- `random`: random bytes (mostly short, sometimes up to 64 KiB);
- `mutated`: a serialized `extreme` message with bits flipped, a cut, inserted or
  duplicated bytes, a bad tag or a huge length;
- `extreme`: a well-formed message whose fields hold extreme values: empty, boundary
  and oversized strings (control characters, RTL marks, emoji, known names), large
  bytes, integer limits, unknown enum numbers, NaN and infinities, maps of up to
  10,000 entries, nested messages;
- `groups`: unknown groups nested deeper than the parser allows;
- `oversized`: a body past the node's 1 MiB message limit.

`run` sends cases over a raw channel (identity serializers, a window of calls in
flight) and counts the answers; an UNKNOWN or INTERNAL answer is a bug (the node's
error table maps every failure a caller can cause to a precise code).

`tests/integration/test_fuzz.py` runs a few thousand cases as an admin and as an agent
without policy in CI (`--fuzz-requests N` for a longer run).
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import grpc
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from keymgr.v1 import access_pb2, keys_pb2, operator_pb2, secrets_pb2, tde_pb2, volume_pb2

MAX_MESSAGE_BYTES: Final = 1 << 20  # the node's grpc.max_receive_message_length
BUGS: Final = frozenset({"UNKNOWN", "INTERNAL"})

# Methods whose well-formed admin request could stop the node serving (seal it, hand
# off leadership, change members, migrate the seal, rotate the root key), make it dial
# an address taken from the request (AddPeer, Join), or hold work or memory past the
# run (SetKeyRotation and CreateKey with a rotation period, below; SaveSnapshot keeps
# each snapshot 5 minutes): an admin fuzz sends these only bodies that do not decode.
# An agent without policy gets every kind.
ADMIN_UNDECODABLE_ONLY: Final = frozenset(
    {
        "Seal",
        "StepDown",
        "AddPeer",
        "RemovePeer",
        "Join",
        "RequestSealMigration",
        "MigrateSeal",
        "RotateRoot",
        "SetKeyRotation",
        "SaveSnapshot",
    }
)
INIT_POLICY: Final = "admins"  # the policy init makes (keymgr/store/access.py)

KINDS: Final = (
    ("random", 30),
    ("mutated", 35),
    ("extreme", 30),
    ("groups", 4.7),
    ("oversized", 0.3),
)

_INT_LIMITS: Final = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_FLOATS: Final = (0.0, -0.0, 1.0, -1.0, math.inf, -math.inf, math.nan, 1e308, 5e-324, 3.4e38)
_SPECIAL_STRINGS: Final = (
    "",
    " ",
    "a",
    "\x00",
    "*",
    "admins",
    "admin",
    "../../etc/passwd",
    "%s%n{0}",
    "${principal.name}",
    "\u202e",
    "\U0001f511",
    "kmj1-" + "0" * 16 + "-" + "0" * 64,
    "km1-zz",
    "-1",
    "9" * 40,
    "spiffe://keymgr/admin/admin",
    "a" * 128,
    "a" * 129,
    "0" * 32,
)
_ALPHABETS: Final = (
    "abcdefghijklmnopqrstuvwxyz0123456789-_.",
    "".join(chr(c) for c in range(32, 127)),
    "".join(chr(c) for c in range(0, 32)) + "\x7f",
    "é\u202e\u200b\U0001f511\u4e2d\ufeff\U0010ffff",
)


@dataclass(frozen=True, slots=True)
class Method:
    service: str  # keymgr.v1.KeyManagement
    name: str  # Encrypt
    request: type[Message]

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.name}"


def api_methods() -> list[Method]:
    """Every method of the six services, from the generated descriptors."""
    methods = []
    for module in (keys_pb2, operator_pb2, access_pb2, volume_pb2, tde_pb2, secrets_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                request = GetMessageClass(method.input_type)
                methods.append(Method(service.full_name, method.name, request))
    return methods


@dataclass(frozen=True, slots=True)
class Case:
    method: Method
    kind: str
    body: bytes


def decodes(method: Method, body: bytes) -> bool:
    try:
        method.request.FromString(body)
    except Exception:
        return False
    return True


class CaseMaker:
    """Makes cases from one seeded generator; `pool_*` hold values worth trying in
    fields (existing key names and ids, real ciphertexts). With `admin` (the caller's
    principal), requests that could lock that admin out or stop the node are sent only
    as bodies that do not decode (`ADMIN_UNDECODABLE_ONLY`, and policy and role changes
    that would touch the init policy or the admin's own roles)."""

    def __init__(
        self,
        seed: int,
        *,
        admin: str = "",
        pool_strings: Sequence[str] = (),
        pool_bytes: Sequence[bytes] = (),
        methods: Sequence[Method] | None = None,
    ) -> None:
        self._rng = random.Random(seed)
        self._admin = admin
        self._strings = (*_SPECIAL_STRINGS, *pool_strings)
        self._bytes = (b"", b"\x00", b"\x01" * 64, *pool_bytes)
        self._methods = list(methods or api_methods())
        self._kinds = [kind for kind, _ in KINDS]
        self._weights = [weight for _, weight in KINDS]
        self._scale = 1

    def cases(self, count: int) -> Iterator[Case]:
        for _ in range(count):
            yield self.case()

    def case(self) -> Case:
        rng = self._rng
        method = rng.choice(self._methods)
        kind = rng.choices(self._kinds, self._weights)[0]
        body = self._body(method, kind)
        if self._admin and not self._harmless(method, body):
            kind, body = "mutated", self._undecodable(method, body)
        return Case(method, kind, body)

    def _harmless(self, method: Method, body: bytes) -> bool:
        """False if an admin's `body` could stop the node serving or lock the admin out."""
        try:
            message: Any = method.request.FromString(body)
        except Exception:
            return True
        if method.name in ADMIN_UNDECODABLE_ONLY:
            return False
        if method.name == "PutPolicy":
            return bool(message.policy.name != INIT_POLICY)
        if method.name == "DeletePolicy":
            return bool(message.name != INIT_POLICY)
        if method.name == "SetRoles":
            return bool(message.principal != self._admin)
        if method.name == "CreateKey":
            return not message.rotation_period_seconds
        return True

    # -- bodies -----------------------------------------------------------------------

    def _body(self, method: Method, kind: str) -> bytes:
        rng = self._rng
        if kind == "random":
            if rng.random() < 0.9:
                return rng.randbytes(rng.choice((0, 1, 2, 3, 5, 8, 16, 64, 256)))
            return rng.randbytes(rng.randrange(65536))
        if kind == "groups":
            depth = rng.choice((101, 500, 5000))
            return b"\xc3\x3e" * depth + b"\xc4\x3e" * depth  # field 1000, start/end group
        if kind == "oversized":
            return b"\x0a" + _varint(MAX_MESSAGE_BYTES + 16) + bytes(MAX_MESSAGE_BYTES + 16)
        message = self.extreme(method.request.DESCRIPTOR)  # type: ignore[arg-type]
        body = message.SerializeToString()
        if kind == "mutated":
            body = self._mutate(body)
        return body

    def _undecodable(self, method: Method, body: bytes) -> bytes:
        for _ in range(8):
            mutated = self._mutate(body)
            if not decodes(method, mutated):
                return mutated
        return b"\x00" + body  # a tag with field number 0: never decodes

    def _mutate(self, body: bytes) -> bytes:
        rng = self._rng
        data = bytearray(body)
        for _ in range(rng.choice((1, 1, 2, 4))):
            op = rng.randrange(8)
            at = rng.randrange(len(data) + 1)
            if op == 0 and data:
                data[min(at, len(data) - 1)] ^= 1 << rng.randrange(8)
            elif op == 1:
                del data[at:]
            elif op == 2:
                data[at:at] = rng.randbytes(rng.choice((1, 2, 8, 64)))
            elif op == 3 and data:
                data[min(at, len(data) - 1)] = rng.choice((0x00, 0x80, 0xFF, 0x7F))
            elif op == 4:
                data[at:at] = rng.choice((b"\x07", b"\x0e", b"\x00", b"\x0f\x00", b"\xff" * 11))
            elif op == 5:
                end = rng.randrange(at, min(len(data), at + 4096) + 1)
                data[at:at] = data[at:end]
            elif op == 6:
                data[at:at] = rng.choice((b"\x0a\xff\xff\xff\xff\x0f", b"\x12\x80\x80\x80\x10"))
            else:
                data[at:at] = b"\x0a\x03\xc3\x28\xa0"  # field 1, invalid UTF-8
        return bytes(data)

    # -- extreme values ------------------------------------------------------------------

    def extreme(self, descriptor: Descriptor, depth: int = 0) -> Message:
        """A well-formed message with extreme values in some of its fields."""
        rng = self._rng
        self._scale = rng.choices((1, 16, 512), (85, 14, 1))[0] if depth == 0 else self._scale
        message: Message = GetMessageClass(descriptor)()
        for one in descriptor.fields:
            if rng.random() < 0.3:
                continue
            try:
                self._fill(message, one, depth)
            except (ValueError, TypeError, OverflowError):
                continue  # a value this field type refuses: leave it unset
        return message

    def _fill(self, message: Message, one: FieldDescriptor, depth: int) -> None:
        target: Any = getattr(message, one.name)
        if one.message_type is not None and one.message_type.GetOptions().map_entry:
            key_field = one.message_type.fields_by_name["key"]
            value_field = one.message_type.fields_by_name["value"]
            count, scale = self._count(), self._scale
            if count > 64:
                self._scale = 0  # many entries, each tiny
            for _ in range(count):
                key = self._scalar(key_field)
                if value_field.message_type is not None:
                    if depth < 2 and count <= 64:
                        target[key].CopyFrom(self.extreme(value_field.message_type, depth + 1))
                else:
                    target[key] = self._scalar(value_field)
            self._scale = scale
            return
        if one.is_repeated:
            count, scale = self._count(), self._scale
            if one.message_type is not None:
                count = min(count, 64)
            elif count > 64:
                self._scale = 0
            for _ in range(count):
                if one.message_type is not None:
                    if depth < 2:
                        target.add().CopyFrom(self.extreme(one.message_type, depth + 1))
                else:
                    target.append(self._scalar(one))
            self._scale = scale
            return
        if one.message_type is not None:
            if depth < 2:
                target.CopyFrom(self.extreme(one.message_type, depth + 1))
            return
        setattr(message, one.name, self._scalar(one))

    def _count(self) -> int:
        rng = self._rng
        if self._scale == 512 and rng.random() < 0.3:
            return rng.choice((65, 1000, 10_000))
        return rng.choice((0, 1, 2, 3, 64))

    def _scalar(self, one: FieldDescriptor) -> Any:
        rng = self._rng
        kind = one.type
        if kind == FieldDescriptor.TYPE_STRING:
            return self._string()
        if kind == FieldDescriptor.TYPE_BYTES:
            if rng.random() < 0.3:
                return rng.choice(self._bytes)
            if self._scale == 0:
                return rng.randbytes(rng.choice((0, 1, 8)))
            return rng.randbytes(rng.choice((0, 1, 16, 32, 33, 512)) * self._scale)
        if kind == FieldDescriptor.TYPE_BOOL:
            return rng.random() < 0.5
        if kind == FieldDescriptor.TYPE_ENUM:
            numbers = [v.number for v in one.enum_type.values] if one.enum_type else []
            return rng.choice([*numbers, -1, 99, 2**31 - 1, -(2**31)])
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return rng.choice(_FLOATS)
        low, high = _INT_LIMITS[kind]
        return rng.choice((low, high, 0, 1, -1 if low < 0 else 2, rng.randint(low, high)))

    def _string(self) -> str:
        rng = self._rng
        if rng.random() < 0.4:
            return rng.choice(self._strings)
        if self._scale == 0:
            size = rng.choice((1, 2, 8, 16))
        else:
            size = rng.choice((1, 2, 63, 64, 65, 127, 128, 129, 1024, 1025))
            size *= max(1, self._scale // 8)
        return "".join(rng.choices(rng.choice(_ALPHABETS), k=size))


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _identity(data: bytes) -> bytes:
    return data


@dataclass
class Report:
    sent: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, code)
    bugs: list[tuple[str, str, str, int]] = field(default_factory=list)  # method, kind, code, size
    bytes_sent: int = 0
    undecodable: int = 0  # answered "request body is not a valid ..."
    seconds: float = 0.0

    def add(self, case: Case, code: str, details: str) -> None:
        self.sent += 1
        self.undecodable += details.startswith("request body is not a valid ")
        self.bytes_sent += len(case.body)
        self.codes[code] += 1
        self.by_kind[(case.kind, code)] += 1
        if code in BUGS:
            problem = f"{code}: {details[:200]}"
            self.bugs.append((case.method.path, case.kind, problem, len(case.body)))

    def summary(self) -> str:
        codes = ", ".join(f"{name} {n}" for name, n in self.codes.most_common())
        return (
            f"{self.sent} requests ({self.bytes_sent / 1e6:.1f} MB) in {self.seconds:.1f} s: "
            f"{codes} ({self.undecodable} bodies did not decode)"
        )


def run(
    channel: grpc.Channel, cases: Iterator[Case], *, window: int = 16, timeout_s: float = 15.0
) -> Report:
    """Sends every case (at most `window` in flight) and counts the answers."""
    report = Report()
    started = time.monotonic()
    calls: dict[str, grpc.UnaryUnaryMultiCallable] = {}
    pending: list[tuple[Case, Any]] = []

    def settle() -> None:
        for case, future in pending:
            try:
                future.result()
                report.add(case, "OK", "")
            except grpc.RpcError as exc:
                report.add(case, exc.code().name, exc.details() or "")
        pending.clear()

    for case in cases:
        call = calls.get(case.method.path)
        if call is None:
            call = channel.unary_unary(
                case.method.path, request_serializer=_identity, response_deserializer=_identity
            )
            calls[case.method.path] = call
        pending.append((case, call.future(case.body, timeout=timeout_s)))
        if len(pending) >= window:
            settle()
    settle()
    report.seconds = time.monotonic() - started
    return report
