"""`raft.dial_overrides`: a fault-injection field, loaded, passed to Raft, validated."""

from __future__ import annotations

from pathlib import Path

import pytest

from keymgr.config import ConfigError, load_config
from keymgr.server.node import raft_settings
from tests.unit.test_config import cluster_dir, good, write

__all__ = ["cluster_dir"]


def test_dial_overrides_load_and_reach_the_raft_settings(cluster_dir: Path) -> None:
    data = good()
    data["raft"]["dial_overrides"] = {"127.0.0.1:7102": "127.0.0.1:17102"}
    config = load_config(write(cluster_dir, data, "overrides.yaml"))
    assert config.raft.dial_overrides == (("127.0.0.1:7102", "127.0.0.1:17102"),)
    assert raft_settings(config).dial_overrides == (("127.0.0.1:7102", "127.0.0.1:17102"),)


def test_no_dial_overrides_by_default(cluster_dir: Path) -> None:
    config = load_config(write(cluster_dir, good(), "plain.yaml"))
    assert config.raft.dial_overrides == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["127.0.0.1:7102"], "raft.dial_overrides: expected a mapping"),
        ({"127.0.0.1:7102": 17102}, "raft.dial_overrides: expected 'host:port' strings"),
        ({"127.0.0.1:7102": "nohost"}, "raft.dial_overrides: expected host:port"),
        ({"127.0.0.1:7102": "127.0.0.1:0"}, "raft.dial_overrides: port must not be 0"),
        (
            {"127.0.0.1:7999": "127.0.0.1:17102"},
            "raft.dial_overrides: '127.0.0.1:7999' is not the raft address of a peer",
        ),
    ],
)
def test_bad_dial_overrides_name_the_field(cluster_dir: Path, value: object, expected: str) -> None:
    data = good()
    data["raft"]["dial_overrides"] = value
    with pytest.raises(ConfigError) as caught:
        load_config(write(cluster_dir, data, "bad-overrides.yaml"))
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)
