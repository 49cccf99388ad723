"""The volume agent: LUKS2 volumes whose keys live wrapped in their own header.

`format` asks the cluster for a fresh volume key, formats the volume with it on a pipe
and stores the wrapped key (plus key id and volume id) as a LUKS2 token of type
"keymgr", so the volume carries what it needs to be unlocked again. `unlock` reads the
token, has the cluster unwrap it (the client fails over across nodes) and pipes the key
to cryptsetup. `rotate` moves the volume to a new key in an order that leaves it
openable after an interruption at any point:

  1. import a token for the new key (unlinked)      old key still opens
  2. luksAddKey the new key (authorized by the old)  both open
  3. kill every other keyslot                        new key opens; its token exists
  4. drop the other keymgr tokens, link the new one  steady state again

`unlock` tries every keymgr token (linked ones first) until one opens, so each
intermediate state unlocks; running `rotate` again finishes an interrupted one.

Python cannot wipe `bytes`: a volume key lives in this process only as long as a call
needs it, and goes to cryptsetup on stdin (or a pipe), never argv, environment or disk.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from keymgr.agents.cryptsetup import Cryptsetup
from keymgr.client import Client

log = logging.getLogger(__name__)

TOKEN_TYPE = "keymgr"
ROTATE_STEPS = ("token-added", "keyslot-added", "slots-killed")


class VolumeError(Exception):
    """A one-line failure of the agent (never holds key material)."""


@dataclass(frozen=True)
class VolumeToken:
    token_id: int
    volume_id: str
    host_id: str
    key_id: str
    key_version: int
    wrapped_key: bytes
    keyslots: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "type": TOKEN_TYPE,
            "keyslots": [str(s) for s in self.keyslots],
            "keymgr_format": 1,
            "volume_id": self.volume_id,
            "host_id": self.host_id,
            "key_id": self.key_id,
            "key_version": self.key_version,
            "wrapped_key": base64.b64encode(self.wrapped_key).decode(),
        }


def default_host_id() -> str:
    return socket.gethostname()


def read_tokens(cs: Cryptsetup, device: Path) -> tuple[list[VolumeToken], set[int]]:
    """The keymgr tokens (linked to a keyslot first) and the keyslot numbers in use."""
    meta = cs.metadata(device)
    slots = {int(s) for s in meta.get("keyslots", {})}
    tokens: list[VolumeToken] = []
    for tid, raw in meta.get("tokens", {}).items():
        if raw.get("type") != TOKEN_TYPE:
            continue
        try:
            tokens.append(
                VolumeToken(
                    token_id=int(tid),
                    volume_id=str(raw["volume_id"]),
                    host_id=str(raw.get("host_id", "")),
                    key_id=str(raw["key_id"]),
                    key_version=int(raw["key_version"]),
                    wrapped_key=base64.b64decode(raw["wrapped_key"], validate=True),
                    keyslots=tuple(int(s) for s in raw.get("keyslots", [])),
                )
            )
        except (KeyError, ValueError, TypeError, binascii.Error):
            log.warning("%s: LUKS2 token %s of type keymgr is damaged; skipped", device, tid)
    tokens.sort(key=lambda t: (not t.keyslots, -t.token_id))
    return tokens, slots


class VolumeAgent:
    def __init__(
        self,
        client: Client,
        cryptsetup: Cryptsetup,
        *,
        host_id: str = "",
        crash_after: str = "",
    ) -> None:
        self._client = client
        self._cs = cryptsetup
        self._host_id = host_id or default_host_id()
        self._crash_after = crash_after

    def _step_done(self, step: str) -> None:
        """Test hook: die abruptly after a rotate step, as a power cut would."""
        if step == self._crash_after:
            os._exit(75)

    def format(
        self, device: Path, key_name: str, volume_id: str, *, force: bool = False
    ) -> VolumeToken:
        if not device.exists():
            raise VolumeError(f"{device}: no such device or image")
        if not force and self._cs.is_luks(device):
            raise VolumeError(f"{device}: already a LUKS volume (use --force to overwrite)")
        made = self._client.create_volume_key(volume_id, key_name, host_id=self._host_id)
        self._cs.format(device, made.volume_key)
        token = VolumeToken(
            token_id=0,
            volume_id=volume_id,
            host_id=self._host_id,
            key_id=made.key_id,
            key_version=made.key_version,
            wrapped_key=made.wrapped_key,
            keyslots=(0,),
        )
        self._cs.import_token(device, token.to_json())
        return token

    def _tokens(self, device: Path) -> tuple[list[VolumeToken], set[int]]:
        if not device.exists():
            raise VolumeError(f"{device}: no such device or image")
        tokens, slots = read_tokens(self._cs, device)
        if not tokens:
            raise VolumeError(f"{device}: no keymgr token in the LUKS2 header")
        return tokens, slots

    def _working_key(self, device: Path, use: Callable[[bytes], bool]) -> tuple[VolumeToken, bytes]:
        """The first token whose unwrapped key `use` accepts (it opens a keyslot)."""
        tokens, _ = self._tokens(device)
        for token in tokens:
            key = self._client.unwrap_volume_key(
                token.volume_id, token.wrapped_key, host_id=self._host_id
            ).volume_key
            if use(key):
                return token, key
        raise VolumeError(f"{device}: no keymgr token holds a key that opens a keyslot")

    def unlock(self, device: Path, *, name: str = "", verify_only: bool = False) -> VolumeToken:
        def use(key: bytes) -> bool:
            if verify_only:
                return self._cs.test_key(device, key)
            if not self._cs.test_key(device, key):
                return False
            self._cs.open(device, name, key)
            return True

        token, _ = self._working_key(device, use)
        return token

    def key_for(self, device: Path) -> bytes:
        """The volume key (for the systemd socket); checked against the header first."""
        _, key = self._working_key(device, lambda k: self._cs.test_key(device, k))
        return key

    def rotate(self, device: Path, *, key_name: str = "") -> VolumeToken:
        old, old_key = self._working_key(device, lambda k: self._cs.test_key(device, k))
        tokens, before = self._tokens(device)
        made = self._client.create_volume_key(
            old.volume_id, key_name or old.key_id, host_id=self._host_id
        )
        used = {t.token_id for t in tokens}
        new = VolumeToken(
            token_id=next(i for i in range(32) if i not in used),
            volume_id=old.volume_id,
            host_id=self._host_id,
            key_id=made.key_id,
            key_version=made.key_version,
            wrapped_key=made.wrapped_key,
            keyslots=(),
        )
        self._cs.import_token(device, new.to_json(), token_id=new.token_id)
        self._step_done("token-added")
        self._cs.add_key(device, old_key, made.volume_key)
        _, after = read_tokens(self._cs, device)
        added = after - before
        if len(added) != 1:
            raise VolumeError(f"{device}: luksAddKey did not add exactly one keyslot")
        new_slot = added.pop()
        self._step_done("keyslot-added")
        for slot in sorted(after - {new_slot}):
            self._cs.kill_slot(device, slot, made.volume_key)
        self._step_done("slots-killed")
        for token in tokens:
            self._cs.remove_token(device, token.token_id)
        linked = replace(new, keyslots=(new_slot,))
        self._cs.import_token(device, linked.to_json(), token_id=new.token_id)
        return linked

    def rewrap(self, device: Path) -> VolumeToken:
        """After the managed key rotated: same volume key, wrap under the current version."""
        tokens, _ = self._tokens(device)
        token = tokens[0]
        again = self._client.rewrap_volume_key(
            token.volume_id, token.wrapped_key, host_id=self._host_id
        )
        new = replace(token, wrapped_key=again.wrapped_key, key_version=again.key_version)
        self._cs.import_token(device, new.to_json(), token_id=token.token_id)
        return new
