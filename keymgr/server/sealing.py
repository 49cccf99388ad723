"""This node's root key: sealed and unsealed, and how it gets from one to the other.

A node is sealed until it holds the cluster's root key. It gets it
- at init, on the node that ran Init (it made the key);
- from operators' Shamir shares: any node can be unsealed this way, because the root
  key wrapped by the Shamir unseal key is part of the replicated init record;
- from its own seal (the dev `file` seal): after the first unseal the node stores the
  root key wrapped by its seal in its data dir and unseals itself on restart.
The keyring is decrypted from the replicated state with the root key and rebuilt
whenever a new term is replicated.
"""

from __future__ import annotations

import logging
import threading

from keymgr.audit import derive_audit_key
from keymgr.crypto.barrier import Keyring, unwrap_term_key
from keymgr.crypto.errors import DecryptionFailed, InvalidShare
from keymgr.crypto.shamir import decode_share
from keymgr.seal.base import SealedRootKeyStore
from keymgr.seal.devfile import FileSeal
from keymgr.seal.shamir import ShareCollector
from keymgr.server.errors import FailedPrecondition, InvalidArgument, Sealed
from keymgr.store.keystore import KeyStore

log = logging.getLogger(__name__)


class SealController:
    def __init__(
        self, *, store: KeyStore, root_store: SealedRootKeyStore, file_seal: FileSeal | None
    ) -> None:
        self._store = store
        self._root_store = root_store
        self._file_seal = file_seal
        self._lock = threading.Lock()
        self._root_key: bytearray | None = None
        self._audit_key: bytes | None = None
        self._keyring: Keyring | None = None
        self._keyring_terms = -1
        self._collector: ShareCollector | None = None
        self.reason = "waiting for unseal shares"

    @property
    def seal_type(self) -> str:
        return "file" if self._file_seal is not None else "shamir"

    @property
    def sealed(self) -> bool:
        return self._root_key is None

    @property
    def progress(self) -> int:
        return self._collector.progress if self._collector else 0

    def try_auto_unseal(self) -> bool:
        """Unseals from this node's own seal, if it has one and a wrapped root key."""
        if self._file_seal is None or not self.sealed:
            return False
        stored = self._root_store.load()
        if stored is None:
            self.reason = "no root key sealed for this node yet: unseal once with shares"
            return False
        seal_type, wrapped = stored
        if seal_type != self._file_seal.seal_type:
            self.reason = f"stored root key is sealed by {seal_type!r}, node uses 'file'"
            return False
        try:
            root = bytearray(self._file_seal.unwrap_root_key(wrapped))
        except DecryptionFailed:
            self.reason = "file seal could not unwrap the stored root key (wrong seal key?)"
            log.error("auto-unseal failed: %s", self.reason)
            return False
        self._install(root)
        log.info("unsealed by the file seal")
        return True

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
            if self._collector is None:
                self._collector = ShareCollector(init)
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
        self._install(root)
        self._persist_for_auto_unseal()
        log.info("unsealed by operator shares")

    def reset_shares(self) -> None:
        with self._lock:
            if self._collector is not None:
                self._collector.reset()
            self._collector = None

    def install_new_root_key(self, root: bytearray) -> None:
        """After this node ran Init: it made the root key, so it starts unsealed."""
        self._install(root)
        self._persist_for_auto_unseal()

    def seal(self, reason: str = "sealed by an operator") -> None:
        with self._lock:
            if self._root_key is not None:
                self._root_key[:] = bytes(len(self._root_key))
            self._root_key = None
            self._audit_key = None
            self._keyring = None
            self._keyring_terms = -1
            self.reason = reason

    def root_key(self) -> bytes:
        root = self._root_key
        if root is None:
            raise Sealed(self.reason)
        return bytes(root)

    def keyring(self) -> Keyring:
        """The decrypted keyring, rebuilt when a new term has been replicated."""
        root = self._root_key
        if root is None:
            raise Sealed(self.reason)
        terms, active_term = self._store.keyring_state()
        keyring = self._keyring
        if keyring is not None and self._keyring_terms == len(terms):
            return keyring
        try:
            keys = {t.term: unwrap_term_key(bytes(root), t.term, t.wrapped_key) for t in terms}
        except DecryptionFailed:
            self.seal("the root key does not decrypt the cluster keyring")
            raise Sealed(self.reason) from None
        if not keys:
            raise FailedPrecondition("cluster is not initialized: run `keymgr operator init`")
        keyring = Keyring(keys, active_term=active_term)
        self._keyring, self._keyring_terms = keyring, len(terms)
        return keyring

    def audit_key(self) -> bytes | None:
        """The audit HMAC key (derived from the root key), or None while sealed."""
        return self._audit_key

    def _install(self, root: bytearray) -> None:
        with self._lock:
            self._root_key = root
            self._audit_key = derive_audit_key(root)
            self._keyring = None
            self._keyring_terms = -1
            self.reason = ""

    def _persist_for_auto_unseal(self) -> None:
        if self._file_seal is None or self._root_key is None:
            return
        wrapped = self._file_seal.wrap_root_key(bytes(self._root_key))
        self._root_store.save(self._file_seal.seal_type, wrapped)
