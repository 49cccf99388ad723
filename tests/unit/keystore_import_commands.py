"""Transcript commands for imported material (BYOK): keys of origin external, import
tokens, imports with an expiry, and the leader's erasure of expired material (used by
test_keystore_transcripts.py; the script syntax is documented there).

    create-external [id=#n] name=x            a key of origin EXTERNAL, no material yet
    prepare key=k [token=hex32] [until=MS]    PrepareImport (until: token expiry)
    import key=k [token=] [v=N] [material=x] [digest=x] [expires=MS]
                                              ImportMaterial (v=0/absent: next version;
                                              material= '' sends none; digest pads to 36)
    expire key=k v=N                          ExpireMaterial (as the leader proposes it)
    expiries                                  what the leader's timer would erase now
"""

from __future__ import annotations

from collections.abc import Callable

from keymgr.v1 import keys_pb2, store_pb2
from tests.unit.keystore_access_commands import MINUTE_MS, Env

TOKEN = "ab" * 16


def _digest(word: str) -> bytes:
    """A keyed digest's shape: 4-byte term then 32 bytes, distinct per word."""
    return b"\x00\x00\x00\x01" + word.encode().ljust(32, b".")[:32]


def create_external(env: Env, args: dict[str, str]) -> list[str]:
    ref = args.get("id", "#1")
    return env.propose(
        args,
        create_key=store_pb2.CreateKey(
            key_id=f"{int(ref[1:], 16):032x}",
            name=args.get("name", ""),
            origin=keys_pb2.KEY_ORIGIN_EXTERNAL,
        ),
    )


def prepare(env: Env, args: dict[str, str]) -> list[str]:
    return env.propose(
        args,
        prepare_import=store_pb2.PrepareImport(
            key_id=env.resolve(args["key"]),
            token_id=args.get("token", TOKEN),
            public_key=b"spki",
            wrapped_private_key=b"wrapped-rsa",
            expires_at_ms=int(args.get("until", str(env.now + MINUTE_MS))),
        ),
    )


def import_material(env: Env, args: dict[str, str]) -> list[str]:
    key_id = env.resolve(args["key"])
    stored = env.store.lookup(key_id)
    version = int(args.get("v", "0")) or (stored.key.current_version + 1 if stored else 1)
    return env.propose(
        args,
        import_material=store_pb2.ImportMaterial(
            key_id=key_id,
            token_id=args.get("token", TOKEN),
            version=version,
            wrapped_material=args.get("material", "m").encode(),
            material_digest=_digest(args.get("digest", "d")),
            expires_at_ms=int(args.get("expires", "0")),
        ),
    )


def expire(env: Env, args: dict[str, str]) -> list[str]:
    return env.propose(
        args,
        expire_material=store_pb2.ExpireMaterial(
            key_id=env.resolve(args["key"]), version=int(args["v"])
        ),
    )


def expiries(env: Env, args: dict[str, str]) -> list[str]:
    due = env.store.expiries_due(env.now)
    listed = " ".join(f"{key.name}/v{version}" for key, version in due) or "(none)"
    return [f"expired material due at {env.now}: {listed}"]


HANDLERS: dict[str, Callable[[Env, dict[str, str]], list[str]]] = {
    "create-external": create_external,
    "prepare": prepare,
    "import": import_material,
    "expire": expire,
    "expiries": expiries,
}
