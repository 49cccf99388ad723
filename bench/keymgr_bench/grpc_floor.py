"""The gRPC floor: what any Python gRPC server costs on this machine, measured in the
same run as keymgr and OpenBao.

Why: keymgr's single calls are compared with OpenBao's, and part of keymgr's cost is
the Python gRPC server every call goes through, whatever keymgr does in it. The floor
server is that part alone: keymgr's own listener (`api_server`, the node's options and
limits, mTLS 1.3 with node certificates from a fresh cluster CA, SO_REUSEPORT across
`processes` processes) answering GenerateDataKey with a fixed, pre-serialized response:
no authorization, audit, key lookup, crypto or Raft. The same load generator and client
code as keymgr's own rows drive it, so `keymgr/floor` is the share of the floor keymgr
reaches and `floor/OpenBao` is the most any Python gRPC server could show here.

Run as a process: `python -m keymgr_bench.grpc_floor --listen 127.0.0.1:PORT --cert ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import grpc

from keymgr import pki
from keymgr.ops.ports import free_port, wait_listening
from keymgr.server.worker_process import api_server
from keymgr.stubs import keys_stub
from keymgr.tls13 import channel_credentials, client_channel_options, server_credentials
from keymgr.v1 import keys_pb2
from keymgr_bench.bench_keymgr import CONNECTIONS_PER_NODE
from keymgr_bench.loadgen import LoadResult, Op, run_rounds

SCENARIOS = ("datakey",)
METHOD = "GenerateDataKey"
SERVICE = "keymgr.v1.KeyManagement"
# the size of a real answer: a 32-byte data key and its envelope
ANSWER = keys_pb2.GenerateDataKeyResponse(
    ciphertext_blob=bytes(109), plaintext=bytes(32), key_id="0" * 32, key_version=1
).SerializeToString()


def _unchanged(body: bytes) -> bytes:
    return body


async def _answer(_request: bytes, _context: grpc.aio.ServicerContext) -> bytes:
    return ANSWER


async def serve(listen: str, cert: Path, key: Path, ca: Path, processes: int) -> None:
    """Answer GenerateDataKey with ANSWER on `listen` until killed."""
    server = api_server(processes)
    handler = grpc.unary_unary_rpc_method_handler(
        _answer, request_deserializer=_unchanged, response_serializer=_unchanged
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(SERVICE, {METHOD: handler})]
    )
    server.add_secure_port(listen, server_credentials(cert, key, ca))
    await server.start()
    await server.wait_for_termination()


def start_servers(certs: Path, processes: int) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """`processes` floor servers sharing one loopback port: (address, their processes)."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "keymgr_bench.grpc_floor",
        "--listen",
        address,
        "--cert",
        str(certs / "node1.pem"),
        "--key",
        str(certs / "node1-key.pem"),
        "--ca",
        str(certs / "ca.pem"),
        "--processes",
        str(processes),
    ]
    started: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(processes):
            started.append(subprocess.Popen(command))
            wait_listening(port, started[-1], timeout=30)
    except BaseException:
        stop_servers(started)
        raise
    return address, started


def stop_servers(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """Stop the floor servers this run started (by their pids)."""
    for process in processes:
        if process.poll() is None:
            process.kill()
    for process in processes:
        process.wait(timeout=10)


async def bench_grpc_floor(
    *,
    concurrencies: Sequence[int],
    duration_s: float,
    warmup_s: float,
    repeats: int,
    processes: int,
    progress: Callable[[str], None] | None = None,
) -> dict[tuple[str, int], LoadResult]:
    """The floor's rows: datakey at every concurrency, `processes` server processes."""
    with tempfile.TemporaryDirectory(prefix="keymgr-floor-") as root:
        certs = Path(root)
        pki.create_ca(certs)
        ca = pki.load_ca(certs)
        pki.issue_client_cert(ca, "admin", kind="admin")
        pki.issue_node_cert(ca, "node1")
        address, servers = start_servers(certs, processes)
        creds = channel_credentials(certs / "admin.pem", certs / "admin-key.pem", certs / "ca.pem")
        own_connection = client_channel_options(own_connection=True)
        channels = [
            grpc.aio.secure_channel(address, creds, own_connection)
            for _ in range(CONNECTIONS_PER_NODE)
        ]
        try:
            stubs = itertools.cycle([keys_stub(c) for c in channels])

            async def datakey(worker: int) -> None:
                await next(stubs).GenerateDataKey(
                    keys_pb2.GenerateDataKeyRequest(key_name="bench-key"), timeout=10
                )

            ops: dict[str, Op] = {"datakey": datakey}
            return await run_rounds(
                ops,
                side="grpc floor",
                scenarios=SCENARIOS,
                concurrencies=concurrencies,
                duration_s=duration_s,
                warmup_s=warmup_s,
                repeats=repeats,
                pids=[s.pid for s in servers],
                progress=progress,
            )
        finally:
            for channel in channels:
                await channel.close()
            stop_servers(servers)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keymgr_bench.grpc_floor")
    parser.add_argument("--listen", required=True)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--ca", type=Path, required=True)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.listen, args.cert, args.key, args.ca, args.processes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
