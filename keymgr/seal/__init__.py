"""Seals: how one node protects the cluster's root key at rest.

A seal is just a key wrapper (as in OpenBao): it wraps the 32-byte root key for this
node's data dir and unwraps it on restart. Kinds:

- `shamir`: operators' shares; nothing is stored, the node waits for shares.
- `file` (`devfile.FileSeal`): a key in a local file. DEVELOPMENT ONLY.
- `pkcs11` (`pkcs11.Pkcs11Seal`): a non-extractable AES key in an HSM.

`controller.SealController` holds this node's root key and moves it between sealed and
unsealed (init, shares, auto-unseal, root rotation, seal migration) using these seals.
"""

from keymgr.seal.base import Seal, SealedRootKeyStore

__all__ = ["Seal", "SealedRootKeyStore"]
