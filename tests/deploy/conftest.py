"""Shared inputs of the deploy tests: per cloud, the smallest valid module arguments."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

MINIMAL: dict[str, dict[str, Any]] = {
    "aws": {
        "zones": ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
        "vpc_id": "vpc-0123456789abcdef0",
        "private_subnet_ids": {
            "eu-west-1a": "subnet-0a1a1a1a1a1a1a1a1",
            "eu-west-1b": "subnet-0b1b1b1b1b1b1b1b1",
            "eu-west-1c": "subnet-0c1c1c1c1c1c1c1c1",
        },
        "keymgr_package": "keymgr==0.1.0",
    },
    "gcp": {
        "project": "example-kms-project",
        "zones": ["europe-west1-b", "europe-west1-c", "europe-west1-d"],
        "network": "projects/example-kms-project/global/networks/private",
        "subnetwork": "projects/example-kms-project/regions/europe-west1/subnetworks/kms",
        "keymgr_package": "keymgr==0.1.0",
    },
    "azure": {
        "resource_group_name": "kms",
        "location": "westeurope",
        "subnet_id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
        "network/providers/Microsoft.Network/virtualNetworks/private/subnets/kms",
        "key_vault_name": "example-keymgr-kv",
        "admin_ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample operator",
        "keymgr_package": "keymgr==0.1.0",
    },
}


def config_check(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """The real command an operator (and the boot script) runs."""
    return subprocess.run(
        [sys.executable, "-m", "keymgr", "config", "check", *extra, str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
