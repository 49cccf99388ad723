"""Benchmarks of a local keymgr cluster, and OpenBao as the peer they are measured against.

Not part of a node: shipped as its own distribution (`bench/`, installed by
`KEYMGR_EXTRAS=bench scripts/bootstrap`), imported only by `keymgr bench*` commands.
"""
