"""Replicated storage: the pure key store state machine and the Raft adapter."""
