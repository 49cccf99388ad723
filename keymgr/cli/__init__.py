"""The `keymgr` command: one module per command group, thin over client/ and ops/."""
