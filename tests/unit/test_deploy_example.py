"""The example node config in deploy/ stays valid as the config schema changes."""

from __future__ import annotations

from pathlib import Path

from keymgr import pki
from keymgr.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def test_example_node_config_is_valid(tmp_path: Path) -> None:
    pki.create_ca(tmp_path / "tls")
    pki.issue_node_cert(pki.load_ca(tmp_path / "tls"), "node1")
    secret = tmp_path / "cluster-secret"
    pki.create_cluster_secret(secret)
    text = (ROOT / "deploy/examples/node.yaml").read_text()
    text = text.replace("/etc/keymgr/tls", str(tmp_path / "tls"))
    text = text.replace("/etc/keymgr/cluster-secret", str(secret))
    text = text.replace("/var/log/keymgr", str(tmp_path))
    text = text.replace("/var/lib/keymgr", str(tmp_path / "data"))
    path = tmp_path / "node.yaml"
    path.write_text(text)
    config = load_config(path)
    assert config.metrics.listen == "10.0.1.10:9101" and config.logging.format == "json"
    assert not config.api.reflection
