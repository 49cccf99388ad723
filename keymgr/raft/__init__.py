"""Raft: the pysyncobj adapter, its durable journal and dumps, peer TLS, snapshot
transfer and backup files, and the proposer that puts commands through it. All the I/O
of replication lives here; the state machine it replicates (`keymgr.store`) does none."""
