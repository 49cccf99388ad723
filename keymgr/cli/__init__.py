"""The `keymgr` command: one module per command group, thin over client/ and ops/.

TLS 1.3 only. gRPC's Python API has no minimum-TLS-version setting yet (grpc/grpc
issue 37305), but gRPC core reads GRPC_SSL_CIPHER_SUITES when `grpc` is imported, and
that list governs TLS 1.2 and older only. Allowing nothing but a PSK suite there makes
every TLS 1.2 handshake fail (no PSK is ever configured) while TLS 1.3 is unaffected.
This package is imported before `grpc` by every `keymgr` process (nodes included), so
it sets the variable first; `tests/integration/test_tls.py` checks the result.
"""

import os

TLS13_ONLY_CIPHER_SUITES = "ECDHE-PSK-CHACHA20-POLY1305"

os.environ.setdefault("GRPC_SSL_CIPHER_SUITES", TLS13_ONLY_CIPHER_SUITES)
