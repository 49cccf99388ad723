"""Transcript tests for the secrets tables of the state machine (keymgr/store/secrets.py).

Same format and harness rules as test_keystore_transcripts (KEYSTORE_REWRITE=1 rewrites
the outputs; every command is followed by a snapshot round trip that must reproduce the
same bytes). Files are in testdata/secrets/. Commands (`t=` sets the clock; `rid=` a
request id; `#n` is key id n as 32 hex digits):

    init                          create [id=#n] name=x [purpose=encrypt|tde|...]
    destroy-key key=#n            (schedule + tick: the key ends destroyed)
    mount name=m [key=#n] [max=N] [after=S]
    config mount=m [max=N] [cas=true|false] [after=S]
    put [mount=secret] path=p [v=N] [cas=N] [ct=text]
    delete|undelete|destroy [mount=secret] path=p [versions=1,2]
    meta [mount=secret] path=p [max=N] [cas=bool] [after=S] [custom=k:v,...|custom=]
    delmeta [mount=secret] path=p
    token accessor=A [digest=x] [principal=spiffe://keymgr/service/x] [exp=MS] [name=N]
    revoke accessor=A             show [mount=secret] path=p
    list [mount=secret] [prefix=a/]    tokens    mounts
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from keymgr.store.keystore import KeyStore
from keymgr.v1 import keys_pb2, store_pb2
from tests.unit.test_keystore_transcripts import check_transcript, key_id, run_command, short

DATA = Path(__file__).parent / "testdata" / "secrets"
ACCESSOR = "kma_" + "A" * 24


def describe_version(v: store_pb2.StoredSecretVersion) -> str:
    parts = [f"v{v.version} created={v.created_at_ms}"]
    if v.deletion_at_ms:
        parts.append(f"deletion={v.deletion_at_ms}")
    if v.destroyed:
        parts.append("destroyed")
    if v.ciphertext:
        parts.append(f"ct={v.ciphertext.decode(errors='replace')}")
    return " ".join(parts)


def describe_mount(m: store_pb2.SecretMount) -> str:
    return (
        f"mount {m.name} key={short(m.key_id)} max={m.max_versions} "
        f"cas={str(m.cas_required).lower()} after={m.delete_version_after_s} "
        f"created={m.created_at_ms}"
    )


def describe_token(t: store_pb2.StoredToken) -> str:
    return (
        f"token {t.accessor} principal={t.principal} name={t.display_name!r} "
        f"created={t.created_at_ms} expires={t.expires_at_ms} revoked={str(t.revoked).lower()}"
    )


def describe_result(raw: bytes) -> list[str]:
    result = store_pb2.CommandResult.FromString(raw)
    kind = result.WhichOneof("result")
    if kind == "error":
        code = store_pb2.ErrorCode.Name(result.error.code).removeprefix("ERROR_CODE_")
        return [f"error {code}: {result.error.message}"]
    if kind == "secret_version":
        return [describe_version(result.secret_version)]
    if kind == "secret_mount":
        return [describe_mount(result.secret_mount)]
    if kind == "secret_token":
        return [describe_token(result.secret_token)]
    if kind == "key":
        return [f"key {short(result.key.id)} name={result.key.name}"]
    return ["ok" if result.ok else f"unexpected result {result}"]


def _versions(args: dict[str, str]) -> list[int]:
    text = args.get("versions", "")
    return [int(v) for v in text.split(",")] if text else []


@dataclass
class Env:
    store: KeyStore = field(default_factory=KeyStore)
    now: int = 1000

    def propose(self, args: dict[str, str], **op: Any) -> list[str]:
        command = store_pb2.Command(
            request_id=args.get("rid", ""), time_ms=self.now, principal="alice", **op
        )
        return describe_result(self.store.apply(command.SerializeToString()))

    def init(self, args: dict[str, str]) -> list[str]:
        return self.propose(
            args,
            init_cluster=store_pb2.InitCluster(
                shamir_wrapped_root_key=b"root",
                secret_shares=1,
                secret_threshold=1,
                admins=["alice"],
                share_digests=[b"digest"],
                first_term=store_pb2.KeyringTerm(term=1, wrapped_key=b"t", created_at_ms=self.now),
            ),
        )

    def create(self, args: dict[str, str]) -> list[str]:
        purpose = keys_pb2.KeyPurpose.Value(f"KEY_PURPOSE_{args.get('purpose', 'encrypt').upper()}")
        return self.propose(
            args,
            create_key=store_pb2.CreateKey(
                key_id=key_id(args.get("id", "#1")),
                name=args["name"],
                purpose=purpose,
                wrapped_material=b"material",
            ),
        )

    def destroy_key(self, args: dict[str, str]) -> list[str]:
        kid = key_id(args["key"])
        out = self.propose(
            args,
            schedule_deletion=store_pb2.ScheduleDeletion(key_id=kid, deletion_time_ms=self.now + 1),
        )
        self.now += 1
        return [*out[:0], *self.propose({}, tick=store_pb2.Tick())]

    def mount(self, args: dict[str, str]) -> list[str]:
        return self.propose(
            args,
            enable_secrets_mount=store_pb2.EnableSecretsMount(
                mount=store_pb2.SecretMount(
                    name=args["name"],
                    key_id=key_id(args.get("key", "#1")),
                    max_versions=int(args.get("max", "0")),
                    delete_version_after_s=int(args.get("after", "0")),
                )
            ),
        )

    def config(self, args: dict[str, str]) -> list[str]:
        change = store_pb2.ConfigureSecretsMount(mount=args["mount"])
        if "max" in args:
            change.max_versions = int(args["max"])
        if "cas" in args:
            change.cas_required = args["cas"] == "true"
        if "after" in args:
            change.delete_version_after_s = int(args["after"])
        return self.propose(args, configure_secrets_mount=change)

    def put(self, args: dict[str, str]) -> list[str]:
        mount, path = args.get("mount", "secret"), args["path"]
        secret = self.store.secrets.secret(mount, path)
        current = secret.current_version if secret is not None else 0
        put = store_pb2.PutSecret(
            mount=mount,
            path=path,
            version=int(args.get("v", str(current + 1))),
            ciphertext=args.get("ct", f"ct-{path}").encode(),
        )
        if "cas" in args:
            put.cas = int(args["cas"])
        return self.propose(args, put_secret=put)

    def _versions_op(self, args: dict[str, str], op: str) -> list[str]:
        change = store_pb2.SecretVersions(
            mount=args.get("mount", "secret"), path=args["path"], versions=_versions(args)
        )
        return self.propose(args, **{op: change})

    def delete(self, args: dict[str, str]) -> list[str]:
        return self._versions_op(args, "delete_secret_versions")

    def undelete(self, args: dict[str, str]) -> list[str]:
        return self._versions_op(args, "undelete_secret_versions")

    def destroy(self, args: dict[str, str]) -> list[str]:
        return self._versions_op(args, "destroy_secret_versions")

    def meta(self, args: dict[str, str]) -> list[str]:
        change = store_pb2.WriteSecretMetadata(mount=args.get("mount", "secret"), path=args["path"])
        if "max" in args:
            change.max_versions = int(args["max"])
        if "cas" in args:
            change.cas_required = args["cas"] == "true"
        if "after" in args:
            change.delete_version_after_s = int(args["after"])
        if "custom" in args:
            change.set_custom_metadata = True
            text = args["custom"]
            change.custom_metadata.update(
                dict(p.split(":", 1) for p in text.split(",")) if text else {}
            )
        return self.propose(args, write_secret_metadata=change)

    def delmeta(self, args: dict[str, str]) -> list[str]:
        return self.propose(
            args,
            delete_secret_metadata=store_pb2.DeleteSecretMetadata(
                mount=args.get("mount", "secret"), path=args["path"]
            ),
        )

    def token(self, args: dict[str, str]) -> list[str]:
        digest = args.get("digest", "d").encode().ljust(32, b"\0")[:32]
        if args.get("digest") == "short":
            digest = b"short"
        return self.propose(
            args,
            create_secret_token=store_pb2.CreateSecretToken(
                token=store_pb2.StoredToken(
                    accessor=args.get("accessor", ACCESSOR),
                    token_sha256=digest,
                    principal=args.get("principal", "spiffe://keymgr/service/app"),
                    display_name=args.get("name", ""),
                    expires_at_ms=int(args.get("exp", str(self.now + 3600_000))),
                )
            ),
        )

    def revoke(self, args: dict[str, str]) -> list[str]:
        return self.propose(
            args,
            revoke_secret_token=store_pb2.RevokeSecretToken(
                accessor=args.get("accessor", ACCESSOR)
            ),
        )

    def show(self, args: dict[str, str]) -> list[str]:
        secret = self.store.secrets.secret(args.get("mount", "secret"), args["path"])
        if secret is None:
            return ["not found"]
        custom = ",".join(f"{k}:{v}" for k, v in sorted(secret.custom_metadata.items()))
        head = (
            f"{secret.mount}/{secret.path} current={secret.current_version} "
            f"oldest={secret.oldest_version} max={secret.max_versions} "
            f"cas={str(secret.cas_required).lower()} after={secret.delete_version_after_s} "
            f"created={secret.created_at_ms} updated={secret.updated_at_ms}"
        )
        return [
            head + (f" custom={custom}" if custom else ""),
            *(describe_version(v) for v in secret.versions),
        ]

    def list_paths(self, args: dict[str, str]) -> list[str]:
        found = self.store.secrets.paths_under(args.get("mount", "secret"), args.get("prefix", ""))
        return [" ".join(found) or "(none)"]

    def tokens(self, args: dict[str, str]) -> list[str]:
        return [describe_token(t) for t in self.store.secrets.tokens.values()] or ["(none)"]

    def mounts(self, args: dict[str, str]) -> list[str]:
        ms = self.store.secrets.mounts
        return [describe_mount(ms[n]) for n in sorted(ms)] or ["(none)"]


HANDLERS: dict[str, Callable[[Env, dict[str, str]], list[str]]] = {
    "init": Env.init,
    "create": Env.create,
    "destroy-key": Env.destroy_key,
    "mount": Env.mount,
    "config": Env.config,
    "put": Env.put,
    "delete": Env.delete,
    "undelete": Env.undelete,
    "destroy": Env.destroy,
    "meta": Env.meta,
    "delmeta": Env.delmeta,
    "token": Env.token,
    "revoke": Env.revoke,
    "show": Env.show,
    "list": Env.list_paths,
    "tokens": Env.tokens,
    "mounts": Env.mounts,
}


def execute(env: Env, line: str) -> list[str]:
    return run_command(env, line, HANDLERS)


@pytest.mark.parametrize("path", sorted(DATA.glob("*.txt")), ids=lambda p: p.stem)
def test_transcript(path: Path) -> None:
    env = Env()
    check_transcript(path, lambda line: execute(env, line))


def test_snapshot_keeps_only_ciphertext_and_restores_secrets() -> None:
    env = Env()
    for line in (
        "init",
        "create name=k",
        "mount name=secret",
        "put path=a ct=sealed-a",
        "put path=a ct=sealed-b",
        "destroy path=a versions=1",
        "token",
    ):
        execute(env, line)
    snapshot = env.store.snapshot()
    assert b"sealed-b" in snapshot and b"sealed-a" not in snapshot  # destroyed: gone
    state = store_pb2.StoreState.FromString(snapshot)
    assert [s.path for s in state.secrets] == ["a"]
    assert [m.name for m in state.secret_mounts] == ["secret"]
    assert [t.accessor for t in state.secret_tokens] == [ACCESSOR]
    replica = KeyStore()
    replica.restore(snapshot)
    restored = replica.secrets.secret("secret", "a")
    assert restored is not None and restored.current_version == 2
    assert replica.secrets.token_by_digest(b"d".ljust(32, b"\0")) is not None


def test_there_are_secrets_transcripts() -> None:
    assert len(list(DATA.glob("*.txt"))) >= 4
