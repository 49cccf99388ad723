"""Generated protobuf and gRPC code for the keymgr.v1 API (see proto/; regenerate
with scripts/gen-proto)."""
