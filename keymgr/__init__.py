"""keymgr: a replicated key manager with sealed, Raft-replicated key storage."""

__version__ = "0.1.0"
