"""The pure replicated state machine: key store, access state, their validation and
indexes. No clock, no I/O, no Raft: `keymgr.raft` replicates it (a test checks that
nothing here imports Raft, the server or an I/O module)."""
