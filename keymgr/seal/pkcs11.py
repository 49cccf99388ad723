"""The `pkcs11` seal: the root key wrapped by a non-extractable AES-256 key in an HSM.

The HSM key never leaves the token: the root key is encrypted *inside* the token with
AES-256-GCM (random 96-bit nonce, AAD `keymgr/seal/pkcs11/v1`); only the blob
`0x01 | nonce | ciphertext+tag` is stored in the node's data dir. GCM rather than
C_WrapKey/C_UnwrapKey because unwrapping would create a key object in the token that
must be destroyed again (they pile up), and GCM binds a version AAD.

PKCS#11 libraries are not safe to call from several threads (python-pkcs11 calls
C_Initialize without locking and drops the GIL; SoftHSM then corrupts its heap), so
every call goes through one owner thread per module (`_Owner`), which also keeps the
one long-lived logged-in session per token (closing a PIN session logs out all of
them). Callers wait for the owner with a timeout; they never run HSM code themselves.

Failures that may heal (module missing, token absent, wrong PIN, key missing, session
lost) raise `HsmUnavailable` with a one-line reason and no secret; the seal controller
keeps the node sealed and retries with backoff. A PIN the token rejected is not tried
again until its source changes: real HSMs lock the user PIN after a few failures.

The same session also holds the managed keys of purpose HSM (`import_key`,
`derived_gcm`, `gcm`, `destroy_key`; see `keymgr/server/hsm_keys.py`).

The seal's own blob stays GCM directly under the seal key (no per-message key): that
key is often made in a ceremony as an encrypt/decrypt-only AES key, which cannot run
HMAC, and it encrypts only when this node stores its wrapped root key (first unseal,
join, seal migration, root rotation): a handful of times in its life, far from GCM's
2**32 random-nonce bound.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import os
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from keymgr.crypto.aead import KEY_SIZE, BytesLike, check_key
from keymgr.crypto.errors import DecryptionFailed
from keymgr.private_files import check_private_file

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "PKCS11_SEAL_AAD",
    "SEAL_TYPE",
    "HsmUnavailable",
    "PinSource",
    "Pkcs11Seal",
]

SEAL_TYPE = "pkcs11"
PKCS11_SEAL_AAD = b"keymgr/seal/pkcs11/v1"
DEFAULT_TIMEOUT_S = 10.0
_VERSION = b"\x01"
_NONCE_SIZE = 12
_TAG_SIZE = 16
_BLOB_SIZE = 1 + _NONCE_SIZE + KEY_SIZE + _TAG_SIZE

T = TypeVar("T")


class HsmUnavailable(Exception):
    """The HSM cannot be used now (a reason that may heal); `str()` is one line."""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(frozen=True, slots=True)
class PinSource:
    """Where the user PIN comes from: an environment variable or a private file.

    The PIN is read again whenever a session must be opened, so a corrected PIN file
    is picked up without a restart. It is never logged or put in an error.
    """

    env: str | None = None
    file: Path | None = None

    def __post_init__(self) -> None:
        if (self.env is None) == (self.file is None):
            raise ValueError("exactly one of pin_env and pin_file must be set")

    def describe(self) -> str:
        """Names the source (not the PIN) for status messages."""
        return f"environment variable {self.env}" if self.env else f"file {self.file}"

    def read(self) -> str:
        """The PIN; HsmUnavailable if the source is missing, shared or empty."""
        if self.env is not None:
            pin = os.environ.get(self.env)
            if not pin:
                raise HsmUnavailable(f"PIN environment variable {self.env} is not set")
            return pin
        assert self.file is not None
        return read_pin_file(self.file)


def read_pin_file(path: Path) -> str:
    """Reads a PIN file after checking it is private; trailing newline stripped."""
    problem = check_private_file(path)
    if problem:
        raise HsmUnavailable(f"PIN file: {problem}")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            raw = os.read(fd, 4096)
        finally:
            os.close(fd)
        pin = raw.decode("utf-8").strip("\r\n")
    except (OSError, UnicodeDecodeError):
        raise HsmUnavailable(f"PIN file {path}: cannot read it as UTF-8 text") from None
    if not pin:
        raise HsmUnavailable(f"PIN file {path} is empty")
    return pin


# --- the owner thread ----------------------------------------------------------------


@dataclass
class _Owner:
    """The only thread that calls into one PKCS#11 module, and the state it keeps."""

    module: str
    env: dict[str, str]
    _jobs: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = field(
        default_factory=queue.SimpleQueue
    )
    _lib: Any = None
    _sessions: dict[str, Any] = field(default_factory=dict)  # token label -> session
    _keys: dict[tuple[str, str], Any] = field(default_factory=dict)
    _rejected_pins: dict[str, bytes] = field(default_factory=dict)  # token -> sha256
    _thread: threading.Thread | None = None
    epoch: int = 0  # bumped by reset(): session objects made before it are gone

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run,
            name=f"pkcs11-owner:{os.path.basename(self.module)}",
            daemon=True,
        )
        self._thread.start()

    def _run(self) -> None:
        while True:
            job, future = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(job())
            except BaseException as exc:  # handed to the caller, who decides
                future.set_exception(exc)

    def call(self, job: Callable[[], T], timeout: float) -> T:
        """Runs `job` on the owner thread; HsmUnavailable if it takes too long."""
        if threading.current_thread() is self._thread:
            return job()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((job, future))
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise HsmUnavailable(
                f"the HSM did not answer within {timeout:g}s (module {self.module})"
            ) from None

    # Everything below runs on the owner thread only.

    def lib(self) -> Any:
        if self._lib is None:
            try:
                import pkcs11
            except ImportError:
                raise HsmUnavailable(
                    "python-pkcs11 is not installed (pip install 'keymgr[pkcs11]')"
                ) from None
            os.environ.update(self.env)  # e.g. SOFTHSM2_CONF: read when the module loads
            try:
                self._lib = pkcs11.lib(self.module)
            except pkcs11.PKCS11Error as exc:
                raise HsmUnavailable(
                    f"cannot load PKCS#11 module {self.module}: {_one_line(exc)}"
                ) from None
        return self._lib

    def reset(self) -> None:
        """Forgets sessions and keys and re-initializes the module, which rescans tokens."""
        self.epoch += 1
        self._sessions.clear()
        self._keys.clear()
        if self._lib is None:
            return
        import pkcs11

        try:
            self._lib.reinitialize()
        except pkcs11.PKCS11Error:
            pkcs11.unload(self.module)
            self._lib = None

    def session(self, token_label: str, pin: PinSource) -> Any:
        import pkcs11

        cached = self._sessions.get(token_label)
        if cached is not None:
            return cached
        lib = self.lib()
        try:
            token = lib.get_token(token_label=token_label)
        except pkcs11.NoSuchToken:
            self.reset()  # a token that appeared since the module was loaded
            try:
                token = self.lib().get_token(token_label=token_label)
            except pkcs11.NoSuchToken:
                raise HsmUnavailable(
                    f"token {token_label!r} not found (module {self.module})"
                ) from None
        text = pin.read()
        digest = hashlib.sha256(text.encode()).digest()
        if self._rejected_pins.get(token_label) == digest:
            raise HsmUnavailable(
                f"token {token_label!r} rejected the PIN from {pin.describe()}; "
                "not retrying it until it changes"
            )
        try:
            session = token.open(user_pin=text, rw=True)
        except pkcs11.PinIncorrect:
            self._rejected_pins[token_label] = digest
            raise HsmUnavailable(
                f"token {token_label!r} rejected the PIN from {pin.describe()}"
            ) from None
        except pkcs11.PinLocked:
            raise HsmUnavailable(f"token {token_label!r}: the user PIN is locked") from None
        except pkcs11.UserAlreadyLoggedIn:
            session = token.open(rw=True)  # logged in by an earlier session of ours
        self._rejected_pins.pop(token_label, None)
        self._sessions[token_label] = session
        return session

    def key(self, token_label: str, key_label: str, pin: PinSource, *, create: bool) -> Any:
        import pkcs11
        from pkcs11 import Attribute, KeyType, ObjectClass

        cached = self._keys.get((token_label, key_label))
        if cached is not None:
            return cached
        session = self.session(token_label, pin)
        try:
            try:
                key = session.get_key(label=key_label, object_class=ObjectClass.SECRET_KEY)
            except pkcs11.NoSuchKey:
                # SoftHSM, like HSMs with a cache, sees objects restored behind its back
                # only after re-initializing: look once more before giving up.
                self.reset()
                session = self.session(token_label, pin)
                key = session.get_key(label=key_label, object_class=ObjectClass.SECRET_KEY)
        except pkcs11.NoSuchKey:
            if not create:
                raise HsmUnavailable(
                    f"key {key_label!r} not found in token {token_label!r}"
                ) from None
            key = session.generate_key(
                KeyType.AES,
                KEY_SIZE * 8,
                label=key_label,
                store=True,
                template={
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.ENCRYPT: True,
                    Attribute.DECRYPT: True,
                    Attribute.WRAP: False,  # least privilege: it only seals the root key
                    Attribute.UNWRAP: False,
                    Attribute.SIGN: False,
                    Attribute.VERIFY: False,
                    Attribute.DERIVE: False,
                },
            )
        except pkcs11.MultipleObjectsReturned:
            raise HsmUnavailable(
                f"several keys labelled {key_label!r} in token {token_label!r}"
            ) from None
        if (
            key.key_type != KeyType.AES
            or key[Attribute.EXTRACTABLE]
            or not key[Attribute.SENSITIVE]
        ):
            raise HsmUnavailable(
                f"key {key_label!r} in token {token_label!r} must be a sensitive, "
                "non-extractable AES key"
            )
        self._keys[(token_label, key_label)] = key
        return key


_OWNERS: dict[str, _Owner] = {}
_OWNERS_LOCK = threading.Lock()


def _owner(module: Path, env: Mapping[str, str]) -> _Owner:
    """The process-wide owner of `module` (one per library: it is loaded once)."""
    path = os.path.realpath(module)
    with _OWNERS_LOCK:
        owner = _OWNERS.get(path)
        if owner is None:
            owner = _Owner(module=path, env=dict(env))
            owner.start()
            _OWNERS[path] = owner
        elif owner.env != dict(env):
            raise ValueError(
                f"PKCS#11 module {path} is already used in this process with other "
                "module_env settings"
            )
        return owner


# --- the seal ----------------------------------------------------------------------------


class Pkcs11Seal:
    """Wraps the root key under an HSM key that never leaves the token."""

    seal_type = SEAL_TYPE
    auto_unseal = True

    def __init__(
        self,
        *,
        module: Path,
        token_label: str,
        key_label: str,
        pin: PinSource,
        create_key: bool = True,
        module_env: Mapping[str, str] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.module = Path(module)
        self.token_label = token_label
        self.key_label = key_label
        self.create_key = create_key
        self._pin = pin
        self._timeout = timeout_s
        self._owner = _owner(self.module, module_env or {})

    def __repr__(self) -> str:
        return (
            f"Pkcs11Seal(module={str(self.module)!r}, token={self.token_label!r}, "
            f"key={self.key_label!r})"
        )

    def describe(self) -> str:
        """Where the seal key lives, for logs and status."""
        return f"key {self.key_label!r} in token {self.token_label!r}"

    def _run(self, job: Callable[[], T]) -> T:
        """Runs `job` on the owner; a lost session is re-opened once before giving up."""
        import pkcs11

        def attempt() -> T:
            try:
                return job()
            except pkcs11.PKCS11Error:
                self._owner.reset()
                try:
                    return job()
                except pkcs11.PKCS11Error as exc:
                    self._owner.reset()
                    raise HsmUnavailable(f"{self.describe()}: HSM error {_one_line(exc)}") from None

        return self._owner.call(attempt, self._timeout)

    def check(self) -> None:
        """Raises HsmUnavailable unless the token is present, logged in and holds the key.

        Looks the key up in the token every time: reading an attribute of the key object
        we hold can be answered from the library's cache (SoftHSM does) after the token
        is gone."""
        import pkcs11
        from pkcs11 import ObjectClass

        def probe() -> None:
            session = self._owner.session(self.token_label, self._pin)
            try:
                session.get_key(label=self.key_label, object_class=ObjectClass.SECRET_KEY)
            except pkcs11.NoSuchKey:
                raise HsmUnavailable(
                    f"key {self.key_label!r} not found in token {self.token_label!r}"
                ) from None

        self._run(probe)

    # --- managed keys whose crypto runs in the HSM (key purpose HSM) --------------------

    def import_key(self, label: str, material: bytes, *, prf: bool = False) -> tuple[Any, int]:
        """Puts a key version's material into the token as a session object that is
        sensitive and non-extractable; returns (handle, epoch). An AES key usable for
        encrypt/decrypt only, or with `prf` a generic secret usable only for HMAC-SHA256
        (sign), from which `derived_gcm` makes per-message keys. The object goes away with
        the session; `destroy_key` removes it earlier."""
        from pkcs11 import Attribute, KeyType, ObjectClass

        check_key(material, "key material")

        def create() -> tuple[Any, int]:
            session = self._owner.session(self.token_label, self._pin)
            handle = session.create_object(
                {
                    Attribute.CLASS: ObjectClass.SECRET_KEY,
                    Attribute.KEY_TYPE: KeyType.GENERIC_SECRET if prf else KeyType.AES,
                    Attribute.VALUE: material,
                    Attribute.LABEL: label,
                    Attribute.TOKEN: False,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.ENCRYPT: not prf,
                    Attribute.DECRYPT: not prf,
                    Attribute.WRAP: False,
                    Attribute.UNWRAP: False,
                    Attribute.SIGN: prf,
                    Attribute.VERIFY: False,
                    Attribute.DERIVE: False,
                }
            )
            return handle, self._owner.epoch

        return self._run(create)

    def gcm(
        self, handle: Any, *, encrypt: bool, nonce: bytes, data: bytes, aad: bytes
    ) -> bytes | None:
        """AES-256-GCM inside the token with an imported key; None if decryption does
        not authenticate. HsmUnavailable if the session (and so the key) is gone."""
        return self._owner.call(
            lambda: self._gcm(handle, encrypt=encrypt, nonce=nonce, data=data, aad=aad),
            self._timeout,
        )

    def derived_gcm(
        self, prf: Any, *, info: bytes, encrypt: bool, nonce: bytes, data: bytes, aad: bytes
    ) -> bytes | None:
        """AES-256-GCM inside the token under a per-message key, in one owner-thread job:
        the token computes HMAC-SHA256(imported `prf` key, info); that value goes back in
        as a session AES key (sensitive, non-extractable, encrypt/decrypt only) for this
        one operation and is destroyed right after it. The key version's own material
        never leaves the token; the per-message key passes through this process, as the
        one message it protects does. None if decryption does not authenticate."""
        import pkcs11
        from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

        def run() -> bytes | None:
            session = self._owner.session(self.token_label, self._pin)
            try:
                value = bytes(prf.sign(info, mechanism=Mechanism.SHA256_HMAC))
                key = session.create_object(
                    {
                        Attribute.CLASS: ObjectClass.SECRET_KEY,
                        Attribute.KEY_TYPE: KeyType.AES,
                        Attribute.VALUE: value,
                        Attribute.TOKEN: False,
                        Attribute.PRIVATE: True,
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                        Attribute.ENCRYPT: True,
                        Attribute.DECRYPT: True,
                        Attribute.WRAP: False,
                        Attribute.UNWRAP: False,
                        Attribute.SIGN: False,
                        Attribute.VERIFY: False,
                        Attribute.DERIVE: False,
                    }
                )
            except pkcs11.PKCS11Error as exc:
                raise HsmUnavailable(f"{self.describe()}: HSM error {_one_line(exc)}") from None
            try:
                return self._gcm(key, encrypt=encrypt, nonce=nonce, data=data, aad=aad)
            finally:
                with contextlib.suppress(pkcs11.PKCS11Error):
                    key.destroy()

        return self._owner.call(run, self._timeout)

    def _gcm(
        self, handle: Any, *, encrypt: bool, nonce: bytes, data: bytes, aad: bytes
    ) -> bytes | None:
        """Runs on the owner thread: one AES-256-GCM operation with a key in the token."""
        import pkcs11
        from pkcs11 import GCMParams, Mechanism

        params = GCMParams(nonce, aad)
        try:
            if encrypt:
                return bytes(
                    handle.encrypt(data, mechanism=Mechanism.AES_GCM, mechanism_param=params)
                )
            return bytes(handle.decrypt(data, mechanism=Mechanism.AES_GCM, mechanism_param=params))
        except (pkcs11.GeneralError, pkcs11.EncryptedDataInvalid, pkcs11.FunctionFailed):
            if encrypt:
                raise
            return None  # SoftHSM reports a bad tag as a generic error
        except pkcs11.PKCS11Error as exc:
            raise HsmUnavailable(f"{self.describe()}: HSM error {_one_line(exc)}") from None

    def key_epoch(self) -> int:
        """Changes whenever sessions were reset: imported keys must be imported again."""
        return self._owner.epoch

    def destroy_key(self, handle: Any, epoch: int) -> None:
        """Removes an imported key from the token now (best effort)."""
        import pkcs11

        def run() -> None:
            if epoch != self._owner.epoch:
                return  # its session is gone, and the object with it
            with contextlib.suppress(pkcs11.PKCS11Error):
                handle.destroy()

        with contextlib.suppress(HsmUnavailable):
            self._owner.call(run, self._timeout)

    def _key(self, *, create: bool) -> Any:
        return self._owner.key(self.token_label, self.key_label, self._pin, create=create)

    def wrap_root_key(self, root_key: BytesLike) -> bytes:
        check_key(root_key, "root key")
        from pkcs11 import GCMParams, Mechanism

        nonce = os.urandom(_NONCE_SIZE)
        plain = bytes(root_key)

        def encrypt() -> bytes:
            key = self._key(create=self.create_key)
            params = GCMParams(nonce, PKCS11_SEAL_AAD)
            return bytes(key.encrypt(plain, mechanism=Mechanism.AES_GCM, mechanism_param=params))

        sealed = self._run(encrypt)
        if len(sealed) != KEY_SIZE + _TAG_SIZE:
            raise HsmUnavailable(f"{self.describe()}: HSM returned a malformed ciphertext")
        return _VERSION + nonce + sealed

    def unwrap_root_key(self, blob: BytesLike) -> bytes:
        """The root key; DecryptionFailed if this seal's key does not open `blob`."""
        data = bytes(blob)
        if len(data) != _BLOB_SIZE or data[:1] != _VERSION:
            raise DecryptionFailed("sealed root key has the wrong format")
        import pkcs11
        from pkcs11 import GCMParams, Mechanism

        nonce, sealed = data[1 : 1 + _NONCE_SIZE], data[1 + _NONCE_SIZE :]

        def decrypt() -> bytes | None:
            key = self._key(create=False)
            params = GCMParams(nonce, PKCS11_SEAL_AAD)
            try:
                return bytes(
                    key.decrypt(sealed, mechanism=Mechanism.AES_GCM, mechanism_param=params)
                )
            except (pkcs11.GeneralError, pkcs11.EncryptedDataInvalid, pkcs11.FunctionFailed):
                pass
            # SoftHSM reports a bad tag as a generic error: make sure the token is
            # still there before calling the blob bad.
            self._owner.reset()
            self._key(create=False)
            return None

        root = self._run(decrypt)
        if root is None or len(root) != KEY_SIZE:
            raise DecryptionFailed("the HSM key does not open the sealed root key")
        return root
