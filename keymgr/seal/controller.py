"""This node's root key: sealed and unsealed, and how it gets from one to the other.

A node is sealed until it holds the cluster's root key. It gets it
- at init, on the node that ran Init (it made the key);
- from operators' Shamir shares: any node can be unsealed this way, because the root
  key wrapped by the Shamir unseal key is part of the replicated init record;
- from its own seal (`pkcs11` HSM or the dev `file` seal): after the first unseal the
  node stores the root key wrapped by its seal in its data dir and unseals itself on
  restart.
The keyring is decrypted from the replicated state with the root key and rebuilt
whenever a new term is replicated.

The root key itself can be rotated (split-key operation "rotate-root"). The replicated
record then carries each new root key wrapped by the previous one (the last 256
links), so an unsealed node follows on its own, however many rotations it missed, and
a node with its own seal stores the new key wrapped by it.

An HSM can go away and come back. A monitor thread (never the Raft thread, never the
event loop) retries auto-unseal with exponential backoff while the seal is unavailable,
retries storing the wrapped root key if that failed, and checks the HSM of an unsealed
node every `health_interval_s`: if the token or key is gone the node seals itself
(stops serving, keeps following Raft) and unseals again once the HSM is back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from keymgr.audit import derive_audit_key
from keymgr.config import NodeConfig
from keymgr.crypto.aead import wipe
from keymgr.crypto.barrier import Keyring, root_successor_aad, unwrap_root_key, unwrap_term_key
from keymgr.crypto.errors import DecryptionFailed, InvalidShare
from keymgr.crypto.shamir import decode_share
from keymgr.node_errors import FailedPrecondition, InvalidArgument, Sealed, Unavailable
from keymgr.seal.base import Seal, SealedRootKeyStore
from keymgr.seal.devfile import FileSeal
from keymgr.seal.pkcs11 import HsmUnavailable, PinSource, Pkcs11Seal
from keymgr.seal.shamir import ShareCollector
from keymgr.store.keystore import KeyStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for auto-unseal retries and how often an unsealed node checks its seal."""

    retry_min_s: float = 0.5
    retry_max_s: float = 30.0
    health_interval_s: float = 5.0


def build_seal(config: NodeConfig) -> tuple[Seal | None, RetryPolicy]:
    """This node's own seal (None for Shamir: operators unseal it) and its retry policy.

    Nothing here touches the HSM: a missing module or token must not stop the node
    from starting and following Raft; the seal controller reports and retries.
    """
    seal = config.seal
    if seal.type == "file" and seal.key_file is not None:
        return FileSeal(seal.key_file), RetryPolicy()
    if seal.type == "pkcs11" and seal.pkcs11 is not None:
        p = seal.pkcs11
        hsm = Pkcs11Seal(
            module=p.module,
            token_label=p.token_label,
            key_label=p.key_label,
            pin=PinSource(env=p.pin_env, file=p.pin_file),
            create_key=p.create_key,
            module_env=dict(p.module_env),
            timeout_s=p.timeout_s,
        )
        return hsm, RetryPolicy(p.retry_min_s, p.retry_max_s, p.health_interval_s)
    return None, RetryPolicy()


class SealController:
    def __init__(
        self,
        *,
        store: KeyStore,
        root_store: SealedRootKeyStore,
        auto_seal: Seal | None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._store = store
        self._root_store = root_store
        self._auto_seal = auto_seal
        self._retry = retry or RetryPolicy()
        self._lock = threading.Lock()
        self._store_lock = threading.Lock()  # writes of the sealed root key file
        self._root_key: bytearray | None = None
        self._root_generation = 0  # which rotation of the root key _root_key is
        self._audit_key: bytes | None = None
        self._keyring: Keyring | None = None
        self._keyring_terms: tuple[object, ...] | None = None  # the terms it was built from
        self._collector: ShareCollector | None = None
        self._collector_generation = 0
        self._epoch = 0  # bumped by seal(): an auto-unseal begun before it must not land
        self._listeners: list[Callable[[], None]] = []
        self._auto_pending = auto_seal is not None  # retry auto-unseal in the background
        self._persist_pending = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self.reason = "waiting for unseal shares"
        self.seal_error = ""  # the last problem with this node's own seal, "" if none

    @property
    def seal_type(self) -> str:
        return self._auto_seal.seal_type if self._auto_seal is not None else "shamir"

    @property
    def sealed(self) -> bool:
        return self._root_key is None

    def hsm(self) -> Pkcs11Seal | None:
        """This node's HSM, if its seal is one (keys of purpose HSM run there)."""
        seal = self._auto_seal
        return seal if isinstance(seal, Pkcs11Seal) else None

    @property
    def root_generation(self) -> int:
        """The rotation of the root key this node holds (meaningful when unsealed)."""
        return self._root_generation

    @property
    def progress(self) -> int:
        return self._collector.progress if self._collector else 0

    def on_seal(self, listener: Callable[[], None]) -> None:
        """Registers a callback run whenever the node seals (e.g. drop cached material)."""
        self._listeners.append(listener)

    def try_auto_unseal(self) -> bool:
        """Unseals from this node's own seal, if it has one and a wrapped root key.

        Runs HSM calls on the caller's thread only through the seal's owner (bounded).
        """
        seal = self._auto_seal
        if seal is None or not self.sealed:
            return False
        epoch = self._epoch
        try:
            stored = self._root_store.load()
        except ValueError as exc:
            self._auto_failed(str(exc), retry=False)
            return False
        if stored is None:
            self.reason = "no root key sealed for this node yet: unseal once with shares"
            self._auto_pending = False
            return False
        seal_type, wrapped, generation = stored
        if seal_type != seal.seal_type:
            self._auto_failed(
                f"stored root key is sealed by {seal_type!r}, node uses {seal.seal_type!r}",
                retry=False,
            )
            return False
        try:
            root = bytearray(seal.unwrap_root_key(wrapped))
        except HsmUnavailable as exc:
            self._auto_failed(f"{seal.seal_type} seal unavailable: {exc}", retry=True)
            return False
        except DecryptionFailed:
            self._auto_failed(
                f"{seal.seal_type} seal could not unwrap the stored root key (wrong seal key?)",
                retry=True,
            )
            return False
        if not self._install(root, generation=generation, epoch=epoch):
            return False  # an operator sealed the node meanwhile: stay sealed
        self.seal_error = ""
        log.info("unsealed by the %s seal", seal.seal_type)
        return True

    def _auto_failed(self, reason: str, *, retry: bool) -> None:
        changed = reason != self.seal_error
        self.reason = self.seal_error = reason
        self._auto_pending = retry
        if changed:  # one line per new problem, not one per retry
            log.error(
                "auto-unseal failed: %s%s", reason, "; retrying with backoff" if retry else ""
            )

    # --- the monitor thread --------------------------------------------------------

    def start_monitor(self) -> None:
        """Starts the retry/health thread (only for nodes with their own seal)."""
        if self._auto_seal is None or self._monitor is not None:
            return
        self._monitor = threading.Thread(target=self._run_monitor, name="seal-monitor", daemon=True)
        self._monitor.start()

    def stop_monitor(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._monitor is not None:
            self._monitor.join(timeout)

    def _run_monitor(self) -> None:
        delay = self._retry.retry_min_s
        while not self._stop.is_set():
            try:
                wait = self._monitor_step()
            except Exception:  # the monitor must outlive any surprise
                log.exception("seal monitor step failed")
                wait = self._retry.retry_max_s
            if wait is None:
                wait, delay = delay, min(delay * 2, self._retry.retry_max_s)
            else:
                delay = self._retry.retry_min_s
            self._wake.wait(wait)
            self._wake.clear()

    def _monitor_step(self) -> float | None:
        """One round; returns how long to wait, or None to back off (failure)."""
        seal = self._auto_seal
        if seal is None:  # migrated to Shamir: nothing to retry or check
            return self._retry.health_interval_s
        if self.sealed:
            if not self._auto_pending:
                return self._retry.health_interval_s
            return self._retry.health_interval_s if self.try_auto_unseal() else None
        if self._persist_pending:
            return self._retry.health_interval_s if self._persist() else None
        check = getattr(seal, "check", None)
        if check is None:
            return self._retry.health_interval_s
        try:
            check()
        except HsmUnavailable as exc:
            reason = f"{seal.seal_type} seal unavailable: {exc}"
            log.error("sealing this node: %s", reason)
            self.seal(reason)
            self._auto_failed(reason, retry=True)
            return None
        self.seal_error = ""
        return self._retry.health_interval_s

    def submit_share(self, share: str) -> None:
        """Adds an operator's share; unseals when the threshold is reached."""
        init = self._store.init_cluster()
        if init is None:
            raise FailedPrecondition("cluster is not initialized: run `keymgr operator init`")
        if not self.sealed:
            try:
                decode_share(share)  # still tell the operator when a share is malformed
            except InvalidShare as exc:
                raise InvalidArgument("share", str(exc)) from exc
            return
        with self._lock:
            if self._collector is not None and self._collector_generation != init.root_generation:
                self._collector = None  # the root key was rotated: earlier shares are void
            if self._collector is None:
                self._collector = ShareCollector(init)
                self._collector_generation = init.root_generation
            try:
                self._collector.submit(share)
            except InvalidShare as exc:
                raise InvalidArgument("share", str(exc)) from exc
            except DecryptionFailed as exc:
                self._collector = None
                raise InvalidArgument(
                    "share", "the shares do not unseal this cluster; progress reset"
                ) from exc
            if self._collector.progress < self._collector.threshold:
                return
            root = self._collector.take_root_key()
            self._collector = None
            generation = self._collector_generation
        self._install(root, generation=generation)
        self._persist()
        log.info("unsealed by operator shares")

    def reset_shares(self) -> None:
        with self._lock:
            if self._collector is not None:
                self._collector.reset()
            self._collector = None

    def install_new_root_key(self, root: bytearray, *, generation: int = 0) -> None:
        """After this node ran Init (or a restore): it has the root key, so it is unsealed."""
        self._install(root, generation=generation)
        self._persist()

    def install_verified_root_key(self, root: bytearray, *, generation: int) -> None:
        """A root key of `generation` from a peer (secure join): installed only if it
        opens the keyring replicated here (following any rotation since)."""
        current_generation, terms = self._store.root_view()
        problem = ""
        if not terms:
            problem = "no keyring replicated here yet to check the root key"
        elif current_generation < generation:
            problem = f"this node has not replicated root generation {generation} yet"
        if problem:
            wipe(root)
            raise DecryptionFailed(problem)
        current = self._advance(root, generation, current_generation)
        wipe(root)
        if current is None:
            raise DecryptionFailed("the root key does not lead to this cluster's current one")
        try:
            unwrap_term_key(bytes(current), terms[0].term, terms[0].wrapped_key)
        except DecryptionFailed:
            wipe(current)
            raise
        self._install(current, generation=current_generation)
        self._persist()

    def prepare_migration(self, new_seal: Seal | None) -> tuple[bytes | None, int]:
        """(the root key wrapped by `new_seal`, checked to unwrap (None for Shamir), its
        generation). Runs before the migration is recorded, so an unusable HSM costs no
        approval."""
        if self._root_key is None:
            raise FailedPrecondition("node is sealed: unseal it before migrating its seal")
        root, generation = self.current_root_key()
        if new_seal is None:
            return None, generation
        try:
            wrapped = new_seal.wrap_root_key(root)
            if new_seal.unwrap_root_key(wrapped) != root:
                raise FailedPrecondition("the new seal does not give the root key back")
        except HsmUnavailable as exc:
            raise FailedPrecondition(f"new {new_seal.seal_type} seal unavailable: {exc}") from exc
        except DecryptionFailed as exc:
            raise FailedPrecondition("the new seal does not give the root key back") from exc
        return wrapped, generation

    def commit_migration(
        self,
        new_seal: Seal | None,
        wrapped: bytes | None,
        retry: RetryPolicy,
        *,
        generation: int,
    ) -> None:
        """Stores the new blob (or none, for Shamir) and switches seals; stays unsealed.
        `generation`: of the root key `prepare_migration` wrapped. If the node has
        followed a rotation since, the newer key is stored under the new seal next."""
        with self._store_lock:
            if new_seal is not None and wrapped is not None:
                self._root_store.save(new_seal.seal_type, wrapped, generation=generation)
            else:
                self._root_store.clear()
            old = self.seal_type
            with self._lock:  # against _follow_root, which reads the seal to set the flag
                self._auto_seal, self._retry = new_seal, retry
                self._auto_pending, self.seal_error = False, ""
                self._persist_pending = new_seal is not None and generation != self._root_generation
        self.start_monitor()
        self._wake.set()
        log.info("seal migrated from %s to %s", old, self.seal_type)

    def seal(self, reason: str = "sealed by an operator") -> None:
        """Drops the root key; only a seal failure (monitor) re-arms auto-unseal."""
        self._auto_pending = False
        with self._lock:
            self._epoch += 1
            if self._root_key is not None:
                wipe(self._root_key)
            self._root_key = None
            self._audit_key = None
            self._keyring = None
            self._keyring_terms = None
            self.reason = reason
        for listener in self._listeners:
            listener()

    def root_key(self) -> bytes:
        root = self._root_key
        if root is None:
            raise Sealed(self.reason)
        return bytes(root)

    def held_root(self) -> tuple[bytes, int] | None:
        """(root key, generation) as held now, read together; None while sealed. For
        this node's worker processes, which follow rotations themselves."""
        with self._lock:
            root = self._root_key
            return None if root is None else (bytes(root), self._root_generation)

    def adopt_root(self, root: bytes, generation: int) -> None:
        """A worker process takes the root key its node's Raft process holds."""
        self._auto_pending = False
        self._install(bytearray(root), generation=generation)

    def current_root_key(self) -> tuple[bytes, int]:
        """(root key, generation) read together, after following any replicated rotation:
        what a proposer wraps new replicated records with."""
        self.keyring()
        with self._lock:
            root, generation = self._root_key, self._root_generation
            if root is None:
                raise Sealed(self.reason)
            return bytes(root), generation

    def keyring(self) -> Keyring:
        """The decrypted keyring, rebuilt when the replicated terms change (a new term, or
        the terms re-wrapped by a rotated root key, which this node follows first)."""
        for _ in range(3):
            root = self._root_key
            if root is None:
                raise Sealed(self.reason)
            view = self._store.root_view()
            generation, terms = view
            keyring = self._keyring
            if keyring is not None and self._keyring_terms is terms:
                return keyring
            if generation != self._root_generation:
                self._follow_root(generation)
                continue
            try:
                keys = {t.term: unwrap_term_key(bytes(root), t.term, t.wrapped_key) for t in terms}
            except DecryptionFailed:
                if self._store.root_view() is not view or root is not self._root_key:
                    continue  # the state or our root key changed while we read: read again
                self.seal("the root key does not decrypt the cluster keyring")
                raise Sealed(self.reason) from None
            if not keys:
                raise FailedPrecondition("cluster is not initialized: run `keymgr operator init`")
            keyring = Keyring(keys, active_term=terms[-1].term)
            self._keyring, self._keyring_terms = keyring, terms
            return keyring
        raise Unavailable("the root key is being rotated; retry")

    def _follow_root(self, target: int) -> None:
        """Moves this node's root key forward to replicated generation `target`, one link
        at a time; seals the node when a link is missing or does not open."""
        with self._lock:
            root, mine = self._root_key, self._root_generation
            if root is None:
                raise Sealed(self.reason)
            if target == mine:
                return
            if target < mine:
                raise Unavailable(
                    "this node's replicated state is older than its root key; catching up"
                )
            current = self._advance(root, mine, target)
            if current is not None:
                wipe(root)
                self._root_key, self._root_generation = current, target
                self._audit_key = derive_audit_key(current)
                self._keyring, self._keyring_terms = None, None
                if self._auto_seal is not None:  # store the new key under this node's seal
                    self._persist_pending = True
        if current is None:
            reason = (
                f"the root key was rotated to generation {target}; this node holds generation "
                f"{mine} and cannot follow: unseal it with the current shares"
            )
            log.error("sealing this node: %s", reason)
            self.seal(reason)
            raise Sealed(reason)
        log.info("followed the root key rotation from generation %d to %d", mine, target)
        if self._persist_pending:
            self._wake.set()

    def _advance(self, root: bytes | bytearray, start: int, target: int) -> bytearray | None:
        """The root key of generation `target` from that of `start`, through the
        replicated links; None if a link is missing or does not open."""
        init = self._store.init_cluster()
        links = {link.generation: link.wrapped for link in init.root_links} if init else {}
        current = bytearray(root)
        for generation in range(start + 1, target + 1):
            link = links.get(generation)
            try:
                if link is None:
                    raise DecryptionFailed("no link")
                successor = unwrap_root_key(current, link, root_successor_aad(generation))
            except DecryptionFailed:
                wipe(current)
                return None  # a gap: the rest of the chain cannot be reached
            wipe(current)
            current = successor
        return current

    def follow_root(self) -> None:
        """Follows a replicated root rotation now (called every second, so an idle node
        with its own seal stores the new root key soon). No-op while sealed."""
        if self._root_key is None or not self._store.initialized:
            return
        self.keyring()

    def audit_key(self) -> bytes | None:
        """The audit HMAC key (derived from the root key), or None while sealed."""
        return self._audit_key

    def _install(self, root: bytearray, *, generation: int, epoch: int | None = None) -> bool:
        """Installs the root key, unless `epoch` is given and a seal() came since."""
        with self._lock:
            if epoch is not None and epoch != self._epoch:
                wipe(root)
                return False
            self._root_key, self._root_generation = root, generation
            self._audit_key = derive_audit_key(root)
            self._keyring = None
            self._keyring_terms = None
            self.reason = ""
        return True

    def _persist(self) -> bool:
        """Stores the root key wrapped by this node's seal; retried by the monitor."""
        with self._store_lock:  # never interleaved with a seal migration's commit
            return self._persist_locked()

    def _persist_locked(self) -> bool:
        with self._lock:
            seal, root, generation = self._auto_seal, self._root_key, self._root_generation
            plain = bytes(root) if root is not None else None
        if seal is None or plain is None:
            return True
        try:
            wrapped = seal.wrap_root_key(plain)
            self._root_store.save(seal.seal_type, wrapped, generation=generation)
        except (HsmUnavailable, OSError) as exc:
            self._persist_pending = True
            self.seal_error = f"could not store the root key sealed by {seal.seal_type}: {exc}"
            log.error("%s; retrying with backoff", self.seal_error)
            self._wake.set()
            return False
        with self._lock:  # a rotation followed meanwhile still needs storing
            self._persist_pending = self._root_generation != generation
        self.seal_error = ""
        if self._persist_pending:
            self._wake.set()
        return True
