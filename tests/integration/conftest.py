"""Real clusters for the integration tests: node processes over TCP + mTLS.

`cluster` is one shared, healthy 3-node cluster for tests that do not break it;
`make_cluster` builds a private one for tests that kill, seal or crash nodes. Every
process is stopped by its PID in a finalizer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from keymgr.client import Client
from keymgr.ops.devcluster import ClusterSpec, LocalCluster, default_spec
from tests.integration.clients_support import Processes
from tests.integration.raft_toy_cluster import ToyCluster

MakeCluster = Callable[..., LocalCluster]


def _spec(seals: tuple[str, ...] = ("file", "file", "file"), **overrides: object) -> ClusterSpec:
    spec = default_spec(len(seals))
    for node, seal in zip(spec.nodes, seals, strict=True):
        node.seal = seal
    spec.min_deletion_window_s = 1
    spec.min_rotation_period_s = 1
    for name, value in overrides.items():
        setattr(spec, name, value)
    return spec


@pytest.fixture
def processes() -> Iterator[Processes]:
    """Client processes a test starts (agents, gateways, mariadbd), stopped by PID."""
    running = Processes()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    local = LocalCluster(tmp_path_factory.mktemp("shared-cluster"), _spec())
    try:
        local.bring_up()
        yield local
    finally:
        local.close()


@pytest.fixture
def client(cluster: LocalCluster) -> Iterator[Client]:
    with cluster.client() as c:
        yield c


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[MakeCluster]:
    made: list[LocalCluster] = []

    def make(
        seals: tuple[str, ...] = ("file", "file", "file"), **overrides: object
    ) -> LocalCluster:
        local = LocalCluster(tmp_path / f"cluster{len(made)}", _spec(seals, **overrides))
        made.append(local)
        return local

    try:
        yield make
    finally:
        for local in made:
            local.close()


@pytest.fixture
def make_toy_cluster(tmp_path: Path) -> Iterator[Callable[..., ToyCluster]]:
    made: list[ToyCluster] = []

    def make(**kwargs: Any) -> ToyCluster:
        root = tmp_path / f"toy{len(made)}"
        root.mkdir()
        cluster = ToyCluster(root, **kwargs)
        made.append(cluster)
        return cluster

    try:
        yield make
    finally:
        for cluster in made:
            cluster.close()
