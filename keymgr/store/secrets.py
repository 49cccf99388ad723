"""Replicated secrets state: mounts, paths with their versions, and tokens.

Part of the pure state machine (`KeyStore` delegates to it): no clock (times come in
the command), no I/O, no randomness (accessors and token digests are made by the
proposer). Values arrive already encrypted (an envelope under the mount's key whose AAD
binds mount, path and version), so the state, the log and snapshots hold ciphertext
only; destroy drops a version's ciphertext from the state.

A path is kept as an immutable record: the bytes of its own `StoreState.secrets`
entry (field 18), like key records (`key_records`), so a snapshot is cut by pointer
copies and a change publishes a new record with one dict assignment. Readers in other
threads copy a table before iterating it. Every check runs before anything changes,
so a refused command changes nothing.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import TypeVar

from keymgr.store import secrets_validation as rules
from keymgr.store.key_records import varint
from keymgr.store.keystore_validation import (
    ALREADY_EXISTS,
    CONFLICT,
    FAILED_PRECONDITION,
    NOT_FOUND,
    CommandRefused,
    invalid,
)
from keymgr.v1 import store_pb2

SECRETS_FIELD = 18
_TAG = varint(SECRETS_FIELD << 3 | 2)
TOKENS_KEPT = 100_000

# key id -> why it cannot protect a mount's values ("" when it can)
KeyCheck = Callable[[str], str]


def encode_record(secret: store_pb2.StoredSecret) -> bytes:
    body = secret.SerializeToString(deterministic=True)
    return b"".join((_TAG, varint(len(body)), body))


def decode_record(record: bytes) -> store_pb2.StoredSecret:
    pos, shift, length = len(_TAG), 0, 0
    while True:  # the body's length: skip it, the body runs to the end
        byte = record[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            break
    return store_pb2.StoredSecret.FromString(record[pos:])


def effective_max_versions(secret: store_pb2.StoredSecret, mount: store_pb2.SecretMount) -> int:
    return secret.max_versions or mount.max_versions or rules.DEFAULT_MAX_VERSIONS


def effective_cas_required(secret: store_pb2.StoredSecret, mount: store_pb2.SecretMount) -> bool:
    return secret.cas_required or mount.cas_required


def effective_delete_after_s(secret: store_pb2.StoredSecret, mount: store_pb2.SecretMount) -> int:
    return secret.delete_version_after_s or mount.delete_version_after_s


def is_deleted(version: store_pb2.StoredSecretVersion, now_ms: int) -> bool:
    return version.deletion_at_ms != 0 and version.deletion_at_ms <= now_ms


class Secrets:
    """The secrets tables; `KeyStore` calls the command methods from its handlers."""

    def __init__(self) -> None:
        self.mounts: dict[str, store_pb2.SecretMount] = {}
        self.records: dict[tuple[str, str], bytes] = {}  # (mount, path) -> record
        self.tokens: dict[str, store_pb2.StoredToken] = {}  # by accessor
        self.by_digest: dict[bytes, str] = {}  # token SHA-256 -> accessor
        # mount -> its paths, sorted; replaced (never changed in place) by apply
        self.sorted_paths: dict[str, tuple[str, ...]] = {}

    # --- reads (any thread) ---------------------------------------------------------

    def secret(self, mount: str, path: str) -> store_pb2.StoredSecret | None:
        """A fresh decoded copy of the path's record, or None."""
        record = self.records.get((mount, path))
        return decode_record(record) if record is not None else None

    def paths_under(self, mount: str, prefix: str) -> list[str]:
        """Every path of `mount` starting with `prefix`, sorted."""
        index = self.sorted_paths.get(mount, ())
        start = bisect_left(index, prefix)
        out: list[str] = []
        for path in index[start:]:
            if not path.startswith(prefix):
                break
            out.append(path)
        return out

    def token_by_digest(self, digest: bytes) -> store_pb2.StoredToken | None:
        accessor = self.by_digest.get(digest)
        return self.tokens.get(accessor) if accessor is not None else None

    # --- snapshot ---------------------------------------------------------------------

    def save(self, state: store_pb2.StoreState) -> None:
        """Mounts and tokens into `state`; path records go out as `frozen_records`."""
        state.secret_mounts.extend(self.mounts[name] for name in sorted(self.mounts))
        state.secret_tokens.extend(self.tokens.values())

    def frozen_records(self) -> list[bytes]:
        return list(self.records.values())

    @classmethod
    def load(cls, state: store_pb2.StoreState) -> Secrets:
        """The tables of a decoded snapshot; ValueError if it is inconsistent."""
        tables = cls()
        for mount in state.secret_mounts:
            if mount.name in tables.mounts:
                raise ValueError("snapshot repeats a secrets mount")
            tables.mounts[mount.name] = _copy(mount)
        for secret in state.secrets:
            key = (secret.mount, secret.path)
            if secret.mount not in tables.mounts or key in tables.records:
                raise ValueError("snapshot has a secret of no mount, or one twice")
            tables.records[key] = encode_record(secret)
        for mount_name in tables.mounts:
            tables.sorted_paths[mount_name] = tuple(
                sorted(path for m, path in tables.records if m == mount_name)
            )
        for token in state.secret_tokens:
            if token.accessor in tables.tokens or token.token_sha256 in tables.by_digest:
                raise ValueError("snapshot repeats a secrets token")
            tables.tokens[token.accessor] = _copy(token)
            tables.by_digest[token.token_sha256] = token.accessor
        return tables

    # --- mounts -------------------------------------------------------------------------

    def enable_mount(
        self, command: store_pb2.Command, key_check: KeyCheck
    ) -> store_pb2.CommandResult:
        proposed = command.enable_secrets_mount.mount
        _check(rules.mount_problem(proposed.name), "enable_secrets_mount.mount.name")
        _check(
            rules.max_versions_problem(proposed.max_versions),
            "enable_secrets_mount.mount.max_versions",
        )
        _check(
            rules.delete_after_problem(proposed.delete_version_after_s),
            "enable_secrets_mount.mount.delete_version_after_s",
        )
        _check(key_check(proposed.key_id), "enable_secrets_mount.mount.key_id")
        if proposed.name in self.mounts:
            raise CommandRefused(ALREADY_EXISTS, f"mount {proposed.name!r} exists")
        mount = _copy(proposed)
        mount.created_at_ms = command.time_ms
        self.mounts = {**self.mounts, mount.name: mount}
        return store_pb2.CommandResult(secret_mount=mount)

    def configure_mount(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        change = command.configure_secrets_mount
        mount = _copy(self._mount("configure_secrets_mount.mount", change.mount))
        if change.HasField("max_versions"):
            _check(
                rules.max_versions_problem(change.max_versions),
                "configure_secrets_mount.max_versions",
            )
            mount.max_versions = change.max_versions
        if change.HasField("delete_version_after_s"):
            _check(
                rules.delete_after_problem(change.delete_version_after_s),
                "configure_secrets_mount.delete_version_after_s",
            )
            mount.delete_version_after_s = change.delete_version_after_s
        if change.HasField("cas_required"):
            mount.cas_required = change.cas_required
        self.mounts = {**self.mounts, mount.name: mount}
        return store_pb2.CommandResult(secret_mount=mount)

    # --- versions -------------------------------------------------------------------------

    def put(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        put = command.put_secret
        mount = self._mount("put_secret.mount", put.mount)
        _check(rules.path_problem(put.path), "put_secret.path")
        if not put.ciphertext or len(put.ciphertext) > rules.MAX_CIPHERTEXT:
            raise invalid("put_secret.ciphertext", f"must be 1..{rules.MAX_CIPHERTEXT} bytes")
        old = self.secret(put.mount, put.path)
        secret = (
            old
            if old is not None
            else store_pb2.StoredSecret(
                mount=put.mount, path=put.path, created_at_ms=command.time_ms
            )
        )
        current = secret.current_version
        if put.HasField("cas"):
            if put.cas != current:
                raise CommandRefused(
                    FAILED_PRECONDITION,
                    f"cas: mismatch: check-and-set version {put.cas} does not match the current "
                    f"version {current}",
                )
        elif effective_cas_required(secret, mount):
            raise CommandRefused(
                FAILED_PRECONDITION, "cas: required: this path requires a check-and-set version"
            )
        if put.version != current + 1:
            raise CommandRefused(
                CONFLICT, f"concurrent write: expected version {current + 1}, got {put.version}"
            )
        after_s = effective_delete_after_s(secret, mount)
        version = secret.versions.add(
            version=put.version,
            created_at_ms=command.time_ms,
            deletion_at_ms=command.time_ms + after_s * 1000 if after_s else 0,
            ciphertext=put.ciphertext,
        )
        secret.current_version = put.version
        secret.updated_at_ms = command.time_ms
        _prune(secret, effective_max_versions(secret, mount))
        self._publish(secret, created=old is None)
        return store_pb2.CommandResult(secret_version=_public(version))

    def delete_versions(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        change = command.delete_secret_versions
        secret, versions = self._versions("delete_secret_versions", change, allow_current=True)
        for version in versions:
            if not version.destroyed and not is_deleted(version, command.time_ms):
                version.deletion_at_ms = command.time_ms
        secret.updated_at_ms = command.time_ms
        self._publish(secret)
        return store_pb2.CommandResult(ok=True)

    def undelete_versions(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        change = command.undelete_secret_versions
        secret, versions = self._versions("undelete_secret_versions", change)
        for version in versions:
            if not version.destroyed:
                version.deletion_at_ms = 0
        secret.updated_at_ms = command.time_ms
        self._publish(secret)
        return store_pb2.CommandResult(ok=True)

    def destroy_versions(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        change = command.destroy_secret_versions
        secret, versions = self._versions("destroy_secret_versions", change)
        for version in versions:
            version.destroyed = True
            version.ClearField("ciphertext")
        secret.updated_at_ms = command.time_ms
        self._publish(secret)
        return store_pb2.CommandResult(ok=True)

    # --- metadata -------------------------------------------------------------------------

    def write_metadata(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        change = command.write_secret_metadata
        mount = self._mount("write_secret_metadata.mount", change.mount)
        _check(rules.path_problem(change.path), "write_secret_metadata.path")
        if change.HasField("max_versions"):
            _check(
                rules.max_versions_problem(change.max_versions),
                "write_secret_metadata.max_versions",
            )
        if change.HasField("delete_version_after_s"):
            _check(
                rules.delete_after_problem(change.delete_version_after_s),
                "write_secret_metadata.delete_version_after_s",
            )
        if change.set_custom_metadata:
            _check(
                rules.custom_metadata_problem(change.custom_metadata),
                "write_secret_metadata.custom_metadata",
            )
        old = self.secret(change.mount, change.path)
        secret = (
            old
            if old is not None
            else store_pb2.StoredSecret(
                mount=change.mount, path=change.path, created_at_ms=command.time_ms
            )
        )
        if change.HasField("max_versions"):
            secret.max_versions = change.max_versions
        if change.HasField("cas_required"):
            secret.cas_required = change.cas_required
        if change.HasField("delete_version_after_s"):
            secret.delete_version_after_s = change.delete_version_after_s
        if change.set_custom_metadata:
            secret.custom_metadata.clear()
            secret.custom_metadata.update(change.custom_metadata)
        secret.updated_at_ms = command.time_ms
        _prune(secret, effective_max_versions(secret, mount))
        self._publish(secret, created=old is None)
        return store_pb2.CommandResult(ok=True)

    def delete_metadata(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        change = command.delete_secret_metadata
        self._mount("delete_secret_metadata.mount", change.mount)
        _check(rules.path_problem(change.path), "delete_secret_metadata.path")
        key = (change.mount, change.path)
        if key not in self.records:
            raise CommandRefused(NOT_FOUND, f"no secret {change.mount}/{change.path}")
        del self.records[key]  # readers only `get` from it (or copy it first)
        paths = self.sorted_paths.get(change.mount, ())
        at = bisect_left(paths, change.path)
        self.sorted_paths = {**self.sorted_paths, change.mount: paths[:at] + paths[at + 1 :]}
        return store_pb2.CommandResult(ok=True)

    # --- tokens -----------------------------------------------------------------------------

    def create_token(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        token = command.create_secret_token.token
        field = "create_secret_token.token"
        if not rules.ACCESSOR_PATTERN.fullmatch(token.accessor):
            raise invalid(f"{field}.accessor", "must be kma_ and 24 base64url characters")
        if len(token.token_sha256) != 32:
            raise invalid(f"{field}.token_sha256", "must be 32 bytes (SHA-256)")
        _check(rules.principal_problem(token.principal), f"{field}.principal")
        if len(token.display_name) > rules.MAX_DISPLAY_NAME:
            raise invalid(f"{field}.display_name", f"at most {rules.MAX_DISPLAY_NAME} characters")
        if token.expires_at_ms <= command.time_ms:
            raise invalid(f"{field}.expires_at_ms", "must be after the command's time_ms")
        if token.accessor in self.tokens or token.token_sha256 in self.by_digest:
            raise CommandRefused(ALREADY_EXISTS, "token accessor or digest exists")
        live = {a: t for a, t in self.tokens.items() if t.expires_at_ms > command.time_ms}
        if len(live) >= TOKENS_KEPT:
            raise CommandRefused(
                FAILED_PRECONDITION, f"{TOKENS_KEPT} live tokens: revoke or let some expire"
            )
        stored = _copy(token)
        stored.created_at_ms = command.time_ms
        stored.revoked = False
        live[stored.accessor] = stored
        self.by_digest = {t.token_sha256: a for a, t in live.items()}
        self.tokens = live
        return store_pb2.CommandResult(secret_token=stored)

    def revoke_token(self, command: store_pb2.Command) -> store_pb2.CommandResult:
        accessor = command.revoke_secret_token.accessor
        old = self.tokens.get(accessor)
        if old is None:
            raise CommandRefused(NOT_FOUND, "revoke_secret_token.accessor: no such token")
        revoked = _copy(old)
        revoked.revoked = True
        self.tokens = {**self.tokens, accessor: revoked}
        return store_pb2.CommandResult(secret_token=revoked)

    # --- helpers --------------------------------------------------------------------------

    def _mount(self, field: str, name: str) -> store_pb2.SecretMount:
        mount = self.mounts.get(name)
        if mount is None:
            _check(rules.mount_problem(name), field)
            raise CommandRefused(NOT_FOUND, f"{field}: no mount {name!r}")
        return mount

    def _versions(
        self, field: str, change: store_pb2.SecretVersions, *, allow_current: bool = False
    ) -> tuple[store_pb2.StoredSecret, list[store_pb2.StoredSecretVersion]]:
        """The path's record (a fresh copy) and the named versions in it; refused as a
        whole if one of them is not there."""
        self._mount(f"{field}.mount", change.mount)
        _check(rules.path_problem(change.path), f"{field}.path")
        _check(rules.versions_problem(change.versions), f"{field}.versions")
        secret = self.secret(change.mount, change.path)
        if secret is None:
            raise CommandRefused(NOT_FOUND, f"no secret {change.mount}/{change.path}")
        wanted: Iterable[int] = change.versions
        if not change.versions:
            if not allow_current or secret.current_version == 0:
                raise invalid(f"{field}.versions", "must name at least one version")
            wanted = (secret.current_version,)
        by_number = {v.version: v for v in secret.versions}
        missing = sorted(set(wanted) - set(by_number))
        if missing:
            raise CommandRefused(
                NOT_FOUND,
                f"{field}.versions: {change.mount}/{change.path} has no version "
                f"{', '.join(map(str, missing[:10]))}",
            )
        return secret, [by_number[n] for n in sorted(set(wanted))]

    def _publish(self, secret: store_pb2.StoredSecret, *, created: bool = False) -> None:
        self.records[(secret.mount, secret.path)] = encode_record(secret)
        if created:
            paths = self.sorted_paths.get(secret.mount, ())
            at = bisect_left(paths, secret.path)
            self.sorted_paths = {
                **self.sorted_paths,
                secret.mount: (*paths[:at], secret.path, *paths[at:]),
            }


def _prune(secret: store_pb2.StoredSecret, keep: int) -> None:
    """Drops the oldest versions beyond `keep`; oldest_version follows."""
    excess = len(secret.versions) - keep
    if excess > 0:
        del secret.versions[:excess]
    secret.oldest_version = secret.versions[0].version if secret.versions else 0


def _public(version: store_pb2.StoredSecretVersion) -> store_pb2.StoredSecretVersion:
    """The version without its ciphertext (results are kept in the request window)."""
    out = store_pb2.StoredSecretVersion()
    out.CopyFrom(version)
    out.ClearField("ciphertext")
    return out


def _check(problem: str, field: str) -> None:
    if problem:
        raise invalid(field, problem)


M = TypeVar("M", store_pb2.SecretMount, store_pb2.StoredToken)


def _copy(message: M) -> M:
    fresh = type(message)()
    fresh.CopyFrom(message)
    return fresh
