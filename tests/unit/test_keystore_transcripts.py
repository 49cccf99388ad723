"""Transcript tests for KeyStore, in the style of etcd-raft's interaction tests.

Each file in testdata/keystore/ is a script run against a fresh store. A block is an
optional run of `#` comments, one command line, a `----` line and the expected output,
ended by a blank line. Run with KEYSTORE_REWRITE=1 to regenerate the outputs (then
review the diff). After every command the harness also checks that a replica restored
from `snapshot()` reproduces the same snapshot bytes.

Commands (`t=` sets the clock and sticks; `rid=` sets a request id; `#n` is the key id
`n` as 32 hex digits, `key=` takes `#n` or a live name):

    init [admins=a,b] [shares=N] [threshold=N] [digests=N] [term=N] [root=x] [approvals=N]
    create [id=#n] name=x [purpose=encrypt|tde|volume|N] [labels=k:v,...] [desc=...]
    rotate key=k [v=N] [material=x]          enable key=k / disable key=k
    schedule key=k at=MS / cancel key=k      rotate-keyring [term=N] [wrapped=x] [gen=N]
    tick                                     raw hex=..   (undecodable command bytes)
    get NAME_OR_ID    list [size=N]    due    state

Access commands (keystore_access_commands.py; `as=NAME` proposes as NAME, default alice):

    request KIND id=OP [expires=MS] [claim=KIND] FIELDS   a split-key request, KIND one of
        set-roles principal= roles=a,b     set-approval-rule rule=KIND required=N
        put-policy name= roles= ops= [patterns=]    delete-policy name=    destroy-key key=
        authorize-join token= node= [digest=BYTES] [until=MS]
        migrate-seal migration= node= to=TYPE [until=MS]    remove-node member= [until=MS]
        rotate-root [from=GEN] [shares=N] [threshold=N] [term=N] (keyring: as it is now)
    direct KIND FIELDS (the same command without approval)    approve id=OP / reject id=OP
    consume-join token= node=    consume-seal-migration migration= node=
    consume-removal member=      member ID [api=] [raft=] [zone=] [remove=1]
    access (roles, rules, operations, joins, migrations, removals, members)    root

Import commands (keystore_import_commands.py): create-external, prepare, import, expire,
expiries.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import pytest

from keymgr.store.keystore import KeyStore
from keymgr.v1 import keys_pb2, store_pb2
from tests.unit import keystore_access_commands as access_commands
from tests.unit import keystore_import_commands as import_commands

DATA = Path(__file__).parent / "testdata" / "keystore"
REWRITE = os.environ.get("KEYSTORE_REWRITE") == "1"
E = TypeVar("E", bound="TranscriptEnv")


@dataclass
class Block:
    comments: list[str]
    command: str
    expected: list[str]


def parse(text: str) -> tuple[list[Block], list[str]]:
    """Blocks, and the comment lines after the last block."""
    blocks: list[Block] = []
    comments: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.startswith("#"):
            comments.append(line)
            continue
        if i >= len(lines) or lines[i] != "----":
            raise ValueError(f"line {i}: expected ---- after {line!r}")
        i += 1
        expected = []
        while i < len(lines) and lines[i].strip():
            expected.append(lines[i])
            i += 1
        i += 1  # the blank line that ends the block
        blocks.append(Block(comments, line, expected))
        comments = []
    return blocks, comments


def render(blocks: list[Block], trailing: list[str]) -> str:
    out: list[str] = []
    for block in blocks:
        out += [*block.comments, block.command, "----", *block.expected, ""]
    out += trailing
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out) + "\n"


def key_id(ref: str) -> str:
    return f"{int(ref[1:], 16):032x}" if ref.startswith("#") else ref


def short(key_id_: str) -> str:
    if len(key_id_) == 32 and key_id_.startswith("0" * 24):
        return f"#{int(key_id_, 16):x}"
    return key_id_


def state_word(state: int) -> str:
    return keys_pb2.KeyState.Name(state).removeprefix("KEY_STATE_")


def describe(key: keys_pb2.Key) -> str:
    purpose = keys_pb2.KeyPurpose.Name(key.purpose).removeprefix("KEY_PURPOSE_")
    parts = [
        f"key {short(key.id)} name={key.name} state={state_word(key.state)}",
        f"purpose={purpose} version={key.current_version}",
        "versions=" + ",".join(f"{v.version}@{v.created_at_ms}" for v in key.versions),
        f"created={key.created_at_ms}",
    ]
    if key.deletion_time_ms:
        parts.append(f"deletion={key.deletion_time_ms}")
    if any(v.expires_at_ms or v.material_expired for v in key.versions):
        parts.append(
            "expiry="
            + ",".join(
                f"{v.version}@{v.expires_at_ms or '-'}{':erased' if v.material_expired else ''}"
                for v in key.versions
            )
        )
    if key.labels:
        parts.append("labels=" + ",".join(f"{k}:{v}" for k, v in sorted(key.labels.items())))
    if key.description:
        parts.append(f"desc={key.description!r}")
    return " ".join(parts)


def describe_result(raw: bytes) -> list[str]:
    result = store_pb2.CommandResult.FromString(raw)
    kind = result.WhichOneof("result")
    if kind == "key":
        return [describe(result.key)]
    if kind == "keyring_term":
        return [f"keyring term {result.keyring_term}"]
    if kind == "error":
        code = store_pb2.ErrorCode.Name(result.error.code).removeprefix("ERROR_CODE_")
        return [f"error {code}: {result.error.message}"]
    if kind == "operation":
        return access_commands.describe_operation(result.operation)
    return ["ok" if result.ok else f"unexpected result {result}"]


@dataclass
class Env:
    store: KeyStore = field(default_factory=KeyStore)
    now: int = 1000

    def resolve(self, ref: str) -> str:
        if ref.startswith("#"):
            return key_id(ref)
        stored = self.store.lookup(ref)
        if stored is None:
            raise ValueError(f"script error: no live key named {ref!r}")
        return stored.key.id

    def propose(self, args: dict[str, str], **op: Any) -> list[str]:
        command = store_pb2.Command(
            request_id=args.get("rid", ""),
            time_ms=self.now,
            principal=args.get("as", "alice"),
            **op,
        )
        return describe_result(self.store.apply(command.SerializeToString()))

    # --- commands ---------------------------------------------------------------

    def init(self, args: dict[str, str]) -> list[str]:
        shares = int(args.get("shares", "3"))
        admins = args.get("admins", "alice")
        return self.propose(
            args,
            init_cluster=store_pb2.InitCluster(
                shamir_wrapped_root_key=args.get("root", "root").encode(),
                secret_shares=shares,
                secret_threshold=int(args.get("threshold", "2")),
                admins=admins.split(",") if admins else [],
                first_term=store_pb2.KeyringTerm(
                    term=int(args.get("term", "1")), wrapped_key=b"term", created_at_ms=self.now
                ),
                share_digests=[b"digest"] * int(args.get("digests", str(shares))),
                approvals_required=int(args.get("approvals", "0")),
            ),
        )

    def create(self, args: dict[str, str]) -> list[str]:
        word = args.get("purpose", "0")
        purpose = (
            int(word)
            if word.isdigit()
            else keys_pb2.KeyPurpose.Value(f"KEY_PURPOSE_{word.upper()}")
        )
        labels = (
            dict(p.split(":", 1) for p in args["labels"].split(",")) if "labels" in args else {}
        )
        return self.propose(
            args,
            create_key=store_pb2.CreateKey(
                key_id=key_id(args.get("id", "#1")),
                name=args.get("name", ""),
                purpose=cast(keys_pb2.KeyPurpose, purpose),
                labels=labels,
                description=args.get("desc", ""),
                wrapped_material=args.get("material", "material").encode(),
            ),
        )

    def rotate(self, args: dict[str, str]) -> list[str]:
        key = self.resolve(args["key"])
        stored = self.store.lookup(key)
        version = (
            int(args["v"]) if "v" in args else (stored.key.current_version + 1 if stored else 2)
        )
        return self.propose(
            args,
            rotate_key=store_pb2.RotateKey(
                key_id=key,
                new_version=version,
                wrapped_material=args.get("material", "material").encode(),
            ),
        )

    def enable(self, args: dict[str, str], enabled: bool = True) -> list[str]:
        return self.propose(
            args,
            set_key_enabled=store_pb2.SetKeyEnabled(
                key_id=self.resolve(args["key"]), enabled=enabled
            ),
        )

    def disable(self, args: dict[str, str]) -> list[str]:
        return self.enable(args, enabled=False)

    def schedule(self, args: dict[str, str]) -> list[str]:
        return self.propose(
            args,
            schedule_deletion=store_pb2.ScheduleDeletion(
                key_id=self.resolve(args["key"]), deletion_time_ms=int(args["at"])
            ),
        )

    def cancel(self, args: dict[str, str]) -> list[str]:
        return self.propose(
            args, cancel_deletion=store_pb2.CancelDeletion(key_id=self.resolve(args["key"]))
        )

    def rotate_keyring(self, args: dict[str, str]) -> list[str]:
        term = int(args.get("term", str(self.store.active_term + 1)))
        return self.propose(
            args,
            rotate_keyring=store_pb2.RotateKeyring(
                new_term=store_pb2.KeyringTerm(
                    term=term,
                    wrapped_key=args.get("wrapped", "term").encode(),
                    created_at_ms=self.now,
                ),
                root_generation=int(args.get("gen", str(self.store.root_generation))),
            ),
        )

    def tick(self, args: dict[str, str]) -> list[str]:
        return self.propose(args, tick=store_pb2.Tick())

    def raw(self, args: dict[str, str]) -> list[str]:
        return describe_result(self.store.apply(bytes.fromhex(args["hex"])))

    def get(self, args: dict[str, str]) -> list[str]:
        stored = self.store.lookup(key_id(args["_"]))
        if stored is None:
            return ["not found"]
        versions = ",".join(str(v) for v in sorted(stored.wrapped_material)) or "none"
        return [describe(stored.key), f"material versions: {versions}"]

    def list_keys(self, args: dict[str, str]) -> list[str]:
        out: list[str] = []
        token = ""
        while True:
            page, token = self.store.list_keys(int(args.get("size", "100")), token)
            out.append(f"page: {' '.join(f'{k.name}{short(k.id)}' for k in page) or '(empty)'}")
            if not token:
                return out

    def due(self, args: dict[str, str]) -> list[str]:
        return [f"{self.store.deletion_due(self.now)} deletion(s) due at {self.now}"]

    def state(self, args: dict[str, str]) -> list[str]:
        snapshot = store_pb2.StoreState.FromString(self.store.snapshot())
        live = sum(1 for s in snapshot.keys.values() if s.key.state != keys_pb2.KEY_STATE_DESTROYED)
        terms = ",".join(str(t.term) for t in self.store.keyring_terms()) or "none"
        return [
            f"initialized={str(self.store.initialized).lower()} active_term="
            f"{self.store.active_term} terms={terms}",
            f"keys={len(snapshot.keys)} live={live} applied={self.store.applied_commands} "
            f"remembered_requests={len(snapshot.recent_requests)}",
        ]


HANDLERS: dict[str, Callable[[Env, dict[str, str]], list[str]]] = {
    "init": Env.init,
    "create": Env.create,
    "rotate": Env.rotate,
    "enable": Env.enable,
    "disable": Env.disable,
    "schedule": Env.schedule,
    "cancel": Env.cancel,
    "rotate-keyring": Env.rotate_keyring,
    "tick": Env.tick,
    "raw": Env.raw,
    "get": Env.get,
    "list": Env.list_keys,
    "due": Env.due,
    "state": Env.state,
    **access_commands.HANDLERS,
    **import_commands.HANDLERS,
}


class TranscriptEnv(Protocol):
    """What a transcript's commands run against: a store and the clock of its commands."""

    store: KeyStore
    now: int


def run_command(
    env: E, line: str, handlers: dict[str, Callable[[E, dict[str, str]], list[str]]]
) -> list[str]:
    """One transcript line: `name key=value ... [t=<ms>]` (a bare word is argument "_");
    after it, a replica restored from the snapshot must snapshot to the same bytes."""
    name, *words = shlex.split(line)
    args: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if sep:
            args[key] = value
        else:
            args["_"] = word
    if "t" in args:
        env.now = int(args.pop("t"))
    output = handlers[name](env, args)
    replica = KeyStore()
    replica.restore(env.store.snapshot())
    assert replica.snapshot() == env.store.snapshot(), f"snapshot round trip after {line!r}"
    return output


def check_transcript(path: Path, run: Callable[[str], list[str]]) -> None:
    """Runs every block of `path` and compares its output (KEYSTORE_REWRITE=1 rewrites)."""
    blocks, trailing = parse(path.read_text())
    mismatches = []
    for block in blocks:
        actual = run(block.command)
        if actual != block.expected:
            mismatches.append(
                f"{block.command}\n  expected: {block.expected}\n  actual:   {actual}"
            )
        block.expected = actual
    if REWRITE:
        path.write_text(render(blocks, trailing))
        return
    assert not mismatches, f"{path.name} (KEYSTORE_REWRITE=1 regenerates):\n" + "\n".join(
        mismatches
    )


def execute(env: Env, line: str) -> list[str]:
    return run_command(env, line, HANDLERS)


@pytest.mark.parametrize("path", sorted(DATA.glob("*.txt")), ids=lambda p: p.stem)
def test_transcript(path: Path) -> None:
    env = Env()
    check_transcript(path, lambda line: execute(env, line))


def test_there_are_transcripts() -> None:
    assert len(list(DATA.glob("*.txt"))) >= 10
