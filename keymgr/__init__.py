"""keymgr: a replicated key manager with sealed, Raft-replicated key storage.

Importing any part of keymgr first pins gRPC to TLS 1.3 (`keymgr.tls13`), whatever the
environment says, for servers, clients and every other entry point alike.
"""

import os as _os

# gRPC core's own log lines (a refused handshake at INFO) would break the one-line
# errors the CLI prints and clutter node logs; gRPC reads this when it loads. A user's
# own GRPC_VERBOSITY wins.
_os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from keymgr import tls13 as _tls13  # noqa: F401 - first: before anything imports grpc

__version__ = "0.1.0"
