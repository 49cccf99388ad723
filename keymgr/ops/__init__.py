"""Operations: local clusters, drills, chaos, fault proxies, ports, SoftHSM tokens.

Benchmarks are not here: they are the separate `keymgr_bench` distribution (`bench/`)."""
