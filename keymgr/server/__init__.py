"""The node process: wiring, gRPC servicers, authentication, the read-path gate."""
