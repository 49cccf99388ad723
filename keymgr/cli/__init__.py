"""The `keymgr` command: one module per command group, thin over client/ and ops/.

TLS 1.3 only, like every keymgr process: importing `keymgr` (the package) pins gRPC's
TLS 1.2 cipher list to nothing usable before grpc is loaded; see `keymgr.tls13`.
"""
