"""Static invariants of every Terraform module (python-hcl2), and proof that the checks
catch a module that breaks them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.deploy import hcl
from tests.deploy.invariants import check_module, check_variables
from tests.deploy.terraform import CLOUDS, MODULES, TERRAFORM_DIR

ALL_TF = sorted(TERRAFORM_DIR.rglob("*.tf"))


def test_there_is_terraform_to_check() -> None:
    assert len(ALL_TF) >= 20
    assert {p.parent.name for p in ALL_TF} >= {
        "keymgr-aws",
        "keymgr-gcp",
        "keymgr-azure",
        "keymgr-nodes",
        *(f"{c}-{k}" for c in CLOUDS for k in ("minimal", "production")),
    }


@pytest.mark.parametrize("path", ALL_TF, ids=[str(p.relative_to(TERRAFORM_DIR)) for p in ALL_TF])
def test_every_tf_file_parses(path: Path) -> None:
    assert hcl.load(path)


@pytest.mark.parametrize("cloud", CLOUDS)
def test_module_invariants_hold(cloud: str) -> None:
    assert check_module(MODULES / f"keymgr-{cloud}", cloud) == []


def test_shared_nodes_module_variables_are_validated() -> None:
    assert check_variables(hcl.load_dir(MODULES / "keymgr-nodes")) == []


@pytest.mark.parametrize("name", ["keymgr-aws", "keymgr-gcp", "keymgr-azure", "keymgr-nodes"])
def test_module_layout(name: str) -> None:
    directory = MODULES / name
    for required in ("variables.tf", "main.tf", "outputs.tf", "versions.tf", "README.md"):
        assert (directory / required).is_file(), f"{name}/{required} missing"
    terraform = hcl.load(directory / "versions.tf")["terraform"][0]
    assert str(terraform["required_version"]).startswith(">=")
    for provider in terraform.get("required_providers", [{}])[0].values():
        assert provider["version"], f"{name}: provider without a version constraint"
    readme = (directory / "README.md").read_text()
    for block in hcl.load_dir(directory).get("output", []):
        for output, body in block.items():
            assert body.get("description"), f"{name}: output {output} has no description"
    if name != "keymgr-nodes":  # the cloud modules' READMEs list every input and output
        module = hcl.load_dir(directory)
        outputs = [o for block in module.get("output", []) for o in block]
        for item in [*hcl.variables(module), *outputs]:
            assert f"`{item}`" in readme, f"{name}/README.md does not mention {item}"


def test_examples_use_the_modules_and_no_public_cidr() -> None:
    for example in sorted((TERRAFORM_DIR / "examples").iterdir()):
        module = hcl.load_dir(example)["module"][0]["keymgr"]
        cloud = example.name.split("-")[0]
        assert module["source"] == f"../../modules/keymgr-{cloud}"
        for key, value in module.items():
            if "cidr" in key and key != "https_egress_cidrs":
                assert all(not str(c).endswith("/0") for c in value), (example.name, key)


# --- the checks catch what they are meant to catch -------------------------------------------

BREAKAGES = [
    (
        "aws",
        "main.tf",
        'description                  = "Raft from the other keymgr nodes only"',
        'description                  = "Raft from the other keymgr nodes only"\n'
        '  cidr_ipv4 = "0.0.0.0/0"',
        [
            "raft_from_peers: ingress from 0.0.0.0/0",
            "raft_from_peers: admits the Raft port (7101) from outside the node peer group",
        ],
    ),
    (
        "aws",
        "main.tf",
        "from_port         = var.api_port\n  to_port           = var.api_port",
        "from_port = 7000\n  to_port = 7200",
        ["api_from_agent_cidrs: admits the Raft port (7101) from outside the node peer group"],
    ),
    (
        "aws",
        "variables.tf",
        'try(tonumber(split("/", c)[1]) >= 8, false)',
        "true",
        ["api_from_agent_cidrs: ingress from var.agent_cidrs, which is not validated"],
    ),
    (
        "aws",
        "main.tf",
        "associate_public_ip_address = false",
        "associate_public_ip_address = true",
        ["aws_instance.node: associate_public_ip_address is not false"],
    ),
    (
        "aws",
        "main.tf",
        "encrypted         = true",
        "encrypted         = false",
        ["aws_ebs_volume.data: not encrypted"],
    ),
    (
        "aws",
        "variables.tf",
        "contains([3, 5], var.node_count)",
        "var.node_count >= 1",
        ["variable node_count: not validated to 3 or 5"],
    ),
    (
        "gcp",
        "variables.tf",
        "length(var.zones) >= 3",
        "length(var.zones) >= 2",
        ["variable zones: not validated to >= 3 distinct zones"],
    ),
    (
        "gcp",
        "main.tf",
        'description             = "Raft from the other keymgr nodes only"',
        'description             = "Raft from the other keymgr nodes only"\n'
        '  source_ranges = ["0.0.0.0/0"]',
        ["raft_from_peers: ingress from 0.0.0.0/0", "raft_from_peers: admits the Raft port"],
    ),
    (
        "gcp",
        "main.tf",
        "    subnetwork = var.subnetwork\n",
        "    subnetwork = var.subnetwork\n    access_config {}\n",
        ["google_compute_instance.node: network_interface has an access_config"],
    ),
    (
        "azure",
        "main.tf",
        'description                                = "Raft from the other keymgr nodes only"',
        'description = "Raft from the other keymgr nodes only"\n'
        '  source_address_prefix = "Internet"',
        ["raft_from_peers: ingress from Internet", "raft_from_peers: admits the Raft port"],
    ),
    (
        "azure",
        "main.tf",
        "disk_encryption_set_id        = azurerm_disk_encryption_set.keymgr.id",
        "disk_encryption_set_id = null",
        ["azurerm_managed_disk.data: not encrypted"],
    ),
]


@pytest.mark.parametrize(
    ("cloud", "file", "old", "new", "expected"),
    BREAKAGES,
    ids=[f"{b[0]}-{b[4][0][:40]}" for b in BREAKAGES],
)
def test_a_broken_module_is_caught(
    tmp_path: Path, cloud: str, file: str, old: str, new: str, expected: list[str]
) -> None:
    copy = tmp_path / f"keymgr-{cloud}"
    shutil.copytree(MODULES / f"keymgr-{cloud}", copy)
    text = (copy / file).read_text()
    assert text.count(old) == 1, f"the breakage no longer applies: {old!r}"
    (copy / file).write_text(text.replace(old, new))
    problems = check_module(copy, cloud)
    for message in expected:
        assert any(message in p for p in problems), (message, problems)
