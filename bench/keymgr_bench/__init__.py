"""Benchmarks of a local keymgr cluster, and OpenBao as the peer they are measured against.

Not part of a node: shipped as its own distribution (`bench/`, installed by
`KEYMGR_EXTRAS=bench scripts/bootstrap`), imported only by `keymgr bench*` commands.
"""

# keymgr pins gRPC to TLS 1.3, which must happen before grpc is first imported; a bench
# module run as a process (`python -m keymgr_bench.grpc_floor`) gets here first.
import keymgr  # noqa: F401
