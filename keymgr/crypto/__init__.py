"""keymgr's "hazmat": AEAD, envelope format, barrier keyring, Shamir sharing.

Layers, bottom up (see docs/architecture.md for the key hierarchy):

- `aead`: AES-256-GCM; under long-lived keys always with a fresh key per message
  (HMAC-SHA256 of the long-lived key over a random salt and the AAD).
  The only cipher the others use.
- `envelope`: the self-describing client ciphertext of Encrypt/GenerateDataKey.
- `barrier`: the keyring that encrypts key material before it reaches Raft, and the
  wrapping of term keys by the root key and of the root key by a seal.
- `shamir`: splitting the unseal key into operators' shares.

Every authentication failure raises `DecryptionFailed`; unparseable input raises
`MalformedCiphertext`; caller mistakes raise `ValueError`/`TypeError`. No message
ever contains key material or ciphertext bytes.
"""

from keymgr.crypto.errors import DecryptionFailed, InvalidShare, MalformedCiphertext

__all__ = ["DecryptionFailed", "InvalidShare", "MalformedCiphertext"]
