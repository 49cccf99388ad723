"""Clusters whose nodes seal with their own SoftHSM2 "HSM" (one SoftHSM config and token
dir per node, so node1 and node2 really hold different HSM keys)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keymgr.ops.devcluster import LocalCluster
from keymgr.ops.softhsm import SOFTHSM_MODULE, SoftHsm
from tests.integration.conftest import MakeCluster
from tests.unmistakable_secrets import unmistakable

PIN = unmistakable("hsm-pin")  # scanned for in node logs
KEY_LABEL = "keymgr-root-kek"


def token_label(node_id: str) -> str:
    return f"{node_id}-zone-hsm"


def pin_file(root: Path, node_id: str, pin: str = PIN) -> Path:
    path = root / f"{node_id}.pin"
    path.write_text(pin + "\n")
    path.chmod(0o600)
    return path


def hsm_cluster(
    make_cluster: MakeCluster,
    root: Path,
    seals: tuple[str, ...] = ("pkcs11", "pkcs11", "shamir"),
    *,
    module: Path = SOFTHSM_MODULE,
    seal_options: dict[str, Any] | None = None,
    **overrides: object,
) -> tuple[LocalCluster, dict[str, SoftHsm]]:
    """A cluster (not started) and, for each pkcs11 node, its HSM with a fresh token."""
    cluster = make_cluster(seals=seals, **overrides)
    hsms: dict[str, SoftHsm] = {}
    for node in cluster.spec.nodes:
        if node.seal != "pkcs11":
            continue
        hsm = SoftHsm(root / f"hsm-{node.id}").create()
        hsm.init_token(token_label(node.id), PIN)
        hsms[node.id] = hsm
        node.seal_options = {
            "module": str(module),
            "token_label": token_label(node.id),
            "key_label": KEY_LABEL,
            "pin_file": str(pin_file(root, node.id)),
            "module_env": hsm.env,
            "health_interval_s": 0.5,
            "retry_min_s": 0.2,
            "retry_max_s": 1.0,
            "timeout_s": 5.0,
            **(seal_options or {}),
        }
    return cluster, hsms
