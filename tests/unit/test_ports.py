"""Ports handed to servers are free, distinct, and outside the kernel's source ports."""

from __future__ import annotations

import socket

from keymgr.ops.ports import _ephemeral_low, free_port


def test_ports_are_distinct_free_and_below_the_ephemeral_range() -> None:
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(p < _ephemeral_low() for p in ports)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[-1]))  # still free: nothing held it


def test_a_pair_leaves_the_next_port_free_and_unreused() -> None:
    port = free_port(pair=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port + 1))
    assert port + 1 not in {free_port() for _ in range(100)}
