"""An in-memory stand-in for `SecretsClient`, for the gateway's HTTP-layer unit tests
only (the integration tests use a real cluster). It keeps the contract's semantics that
the gateway maps: versions, cas, soft delete, destroy, max_versions, list folders,
tokens scoped by fnmatch patterns, and the SDK's exceptions."""

from __future__ import annotations

import copy
import fnmatch
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from keymgr.client import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from keymgr.client._secrets import (
    MountConfig,
    Secret,
    SecretMetadata,
    SecretVersion,
    TokenInfo,
)
from keymgr.server.secret_values import merge_patch


@dataclass
class _Path:
    created: float
    updated: float
    max_versions: int = 0
    cas_required: bool = False
    delete_after: int = 0
    custom: dict[str, str] = field(default_factory=dict)
    values: dict[int, dict[str, Any] | None] = field(default_factory=dict)
    info: dict[int, SecretVersion] = field(default_factory=dict)
    current: int = 0


@dataclass
class FakeStore:
    mounts: dict[str, MountConfig] = field(default_factory=dict)
    paths: dict[tuple[str, str], _Path] = field(default_factory=dict)
    tokens: dict[str, tuple[TokenInfo, tuple[str, ...]]] = field(default_factory=dict)
    unavailable_calls: int = 0  # the next N calls raise `unavailable` (a failover)
    unavailable: type[Unavailable] = Unavailable
    calls: list[str] = field(default_factory=list)
    put_request_ids: list[str | None] = field(default_factory=list)


class FakeSecrets:
    def __init__(self, store: FakeStore, token: str | None = None) -> None:
        self.store = store
        self.token = token

    # -- credentials ----------------------------------------------------------------

    def with_token(self, token: str) -> FakeSecrets:
        return FakeSecrets(self.store, token)

    def with_forwarded_certificate(self, pem: bytes) -> FakeSecrets:
        self.store.calls.append("forwarded " + pem.decode().splitlines()[0])
        return FakeSecrets(self.store, "cert")

    def _check(self, operation: str, target: str) -> None:
        self.store.calls.append(f"{operation} {target}")
        if self.store.unavailable_calls:
            self.store.unavailable_calls -= 1
            raise self.store.unavailable("node down")
        entry = self.store.tokens.get(self.token or "")
        if entry is None or entry[0].revoked or entry[0].expire_time < time.time():
            raise Unauthenticated("token not valid")
        if not any(fnmatch.fnmatchcase(target, p) for p in entry[1]):
            raise PermissionDenied(f"{operation} on {target}: not allowed")

    def _mount(self, mount: str) -> MountConfig:
        if mount not in self.store.mounts:
            raise NotFound(f"mount: {mount} is not enabled")
        return self.store.mounts[mount]

    def _path(self, mount: str, path: str) -> _Path:
        self._mount(mount)
        found = self.store.paths.get((mount, path))
        if found is None:
            raise NotFound(f"path: {path} not found")
        return found

    # -- data -----------------------------------------------------------------------

    def put(
        self,
        mount: str,
        path: str,
        data: Mapping[str, Any],
        *,
        cas: int | None = None,
        request_id: str | None = None,
    ) -> SecretVersion:
        self.store.put_request_ids.append(request_id)
        self._check("secret-write", f"{mount}/{path}")
        if "/" in path and any(s in ("", ".", "..") for s in path.split("/")):
            raise InvalidArgument("path: empty, . or .. segment")
        config = self._mount(mount)
        entry = self.store.paths.get((mount, path))
        current = entry.current if entry else 0
        required = config.cas_required or (entry is not None and entry.cas_required)
        if required and cas is None:
            raise FailedPrecondition("cas: required: this path requires a check-and-set version")
        if cas is not None and cas != current:
            raise FailedPrecondition(f"cas: mismatch: {cas} is not the current version {current}")
        now = time.time()
        if entry is None:
            entry = self.store.paths[(mount, path)] = _Path(created=now, updated=now)
        entry.current += 1
        entry.updated = now
        entry.values[entry.current] = dict(data)
        entry.info[entry.current] = SecretVersion(entry.current, now, 0.0, False)
        keep = entry.max_versions or config.max_versions or 10
        for old in sorted(entry.info)[:-keep]:
            del entry.info[old]
            entry.values.pop(old, None)
        return entry.info[entry.current]

    def patch(
        self,
        mount: str,
        path: str,
        data: Mapping[str, Any],
        *,
        cas: int | None = None,
        request_id: str | None = None,
    ) -> SecretVersion:
        self._check("secret-write", f"{mount}/{path}")
        entry = self._path(mount, path)
        value = entry.values.get(entry.current)
        if value is None:
            raise NotFound("path: the current version is deleted or destroyed")
        return self.put(
            mount, path, merge_patch(value, dict(data)), cas=entry.current if cas is None else cas
        )

    def get(self, mount: str, path: str, *, version: int = 0) -> Secret:
        self._check("secret-read", f"{mount}/{path}")
        entry = self._path(mount, path)
        number = version or entry.current
        if number not in entry.info:
            raise NotFound(f"version: {number} not found")
        info = entry.info[number]
        data = None if info.deletion_time or info.destroyed else entry.values[number]
        return Secret(mount, path, copy.deepcopy(data), info, dict(entry.custom))

    def list(self, mount: str, prefix: str = "") -> list[str]:
        self._check("secret-list", f"{mount}/{prefix}")
        self._mount(mount)
        children = set()
        for m, p in self.store.paths:
            if m == mount and p.startswith(prefix):
                head, slash, _ = p[len(prefix) :].partition("/")
                children.add(head + slash)
        if not children:
            raise NotFound("prefix: nothing under it")
        return sorted(children)

    def _versions(self, operation: str, mount: str, path: str, versions: Sequence[int]) -> _Path:
        self._check(operation, f"{mount}/{path}")
        return self._path(mount, path)

    def delete(
        self, mount: str, path: str, versions: Sequence[int] = (), *, request_id: str | None = None
    ) -> None:
        entry = self._versions("secret-delete", mount, path, versions)
        for n in versions or [entry.current]:
            if n in entry.info and not entry.info[n].deletion_time:
                info = entry.info[n]
                entry.info[n] = SecretVersion(n, info.created_time, time.time(), info.destroyed)

    def undelete(
        self, mount: str, path: str, versions: Sequence[int], *, request_id: str | None = None
    ) -> None:
        entry = self._versions("secret-write", mount, path, versions)
        for n in versions:
            if n in entry.info:
                info = entry.info[n]
                entry.info[n] = SecretVersion(n, info.created_time, 0.0, info.destroyed)

    def destroy(
        self, mount: str, path: str, versions: Sequence[int], *, request_id: str | None = None
    ) -> None:
        entry = self._versions("secret-destroy", mount, path, versions)
        for n in versions:
            if n in entry.info:
                info = entry.info[n]
                entry.info[n] = SecretVersion(n, info.created_time, info.deletion_time, True)
                entry.values[n] = None

    # -- metadata -------------------------------------------------------------------

    def read_metadata(self, mount: str, path: str) -> SecretMetadata:
        self._check("secret-read", f"{mount}/{path}")
        e = self._path(mount, path)
        return SecretMetadata(
            mount,
            path,
            e.current,
            min(e.info, default=0),
            e.max_versions,
            e.cas_required,
            e.delete_after,
            e.created,
            e.updated,
            dict(e.custom),
            dict(e.info),
        )

    def write_metadata(
        self,
        mount: str,
        path: str,
        *,
        max_versions: int | None = None,
        cas_required: bool | None = None,
        delete_version_after_s: int | None = None,
        custom_metadata: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> None:
        self._check("secret-write", f"{mount}/{path}")
        self._mount(mount)
        now = time.time()
        e = self.store.paths.setdefault((mount, path), _Path(created=now, updated=now))
        if max_versions is not None:
            e.max_versions = max_versions
        if cas_required is not None:
            e.cas_required = cas_required
        if delete_version_after_s is not None:
            e.delete_after = delete_version_after_s
        if custom_metadata is not None:
            if len(custom_metadata) > 64:
                raise InvalidArgument("custom_metadata: at most 64 entries")
            e.custom = dict(custom_metadata)

    def delete_metadata(self, mount: str, path: str, *, request_id: str | None = None) -> None:
        self._check("secret-delete", f"{mount}/{path}")
        self._path(mount, path)
        del self.store.paths[(mount, path)]

    # -- mounts and tokens ------------------------------------------------------------

    def read_config(self, mount: str) -> MountConfig:
        self._check("secret-read", f"{mount}/")
        return self._mount(mount)

    def write_config(
        self,
        mount: str,
        *,
        max_versions: int | None = None,
        cas_required: bool | None = None,
        delete_version_after_s: int | None = None,
        request_id: str | None = None,
    ) -> MountConfig:
        self._check("secret-write", f"{mount}/")
        old = self._mount(mount)
        new = MountConfig(
            mount,
            old.key_name,
            old.max_versions if max_versions is None else max_versions,
            old.cas_required if cas_required is None else cas_required,
            old.delete_version_after_s
            if delete_version_after_s is None
            else delete_version_after_s,
        )
        self.store.mounts[mount] = new
        return new

    def list_mounts(self) -> list[MountConfig]:
        self._check("secret-list", "*")
        return list(self.store.mounts.values())

    def lookup_token(self) -> TokenInfo:
        entry = self.store.tokens.get(self.token or "")
        if entry is None or entry[0].revoked or entry[0].expire_time < time.time():
            raise Unauthenticated("token not valid")
        return entry[0]

    # -- test setup ---------------------------------------------------------------

    def add_token(
        self, token: str, patterns: tuple[str, ...], *, ttl_s: float = 3600, revoked: bool = False
    ) -> None:
        now = time.time()
        info = TokenInfo(
            f"kma_{len(self.store.tokens)}",
            "spiffe://keymgr/service/t",
            "test",
            now,
            now + ttl_s,
            revoked,
        )
        self.store.tokens[token] = (info, patterns)
