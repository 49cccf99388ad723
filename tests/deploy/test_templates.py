"""The shared templates, rendered in Python: a broken variable gives keymgr's one-line
error; the renderer matches Terraform's; the systemd unit and boot script are sound."""

from __future__ import annotations

import configparser
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import MINIMAL, config_check
from tests.deploy.terraform import TERRAFORM_DIR, evaluate
from tests.deploy.tftpl import TemplateError, names, render

TEMPLATES = TERRAFORM_DIR / "templates"
NODE_YAML = (TEMPLATES / "node.yaml.tftpl").read_text()


def node_vars(**changes: object) -> dict[str, object]:
    """node1 of a 3-node cluster, as keymgr-nodes passes it to the template."""
    peers = [
        {
            "id": f"node{i}",
            "api": f"node{i}.kms.internal:7001",
            "raft": f"node{i}.kms.internal:7101",
            "zone": zone,
        }
        for i, zone in ((2, "eu-west-1b"), (3, "eu-west-1c"))
    ]
    values: dict[str, object] = {
        "node_id": "node1",
        "zone": "eu-west-1a",
        "fqdn": "node1.kms.internal",
        "api_port": 7001,
        "raft_port": 7101,
        "log_level": "info",
        "peers_json": json.dumps(peers, sort_keys=True, separators=(",", ":")),
    }
    values.update(changes)
    return values


def test_python_rendering_matches_terraform(tmp_path: Path) -> None:
    result = evaluate("aws", MINIMAL["aws"], tmp_path)
    assert result.ok, result.errors
    assert render(NODE_YAML, node_vars()) == result.outputs["node_yaml"]["node1"]


def test_rendered_config_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "node1.yaml"
    path.write_text(render(NODE_YAML, node_vars()))
    checked = config_check(path, "--no-files")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == (
        f"OK: {path}: node node1 (zone eu-west-1a), api node1.kms.internal:7001, "
        "raft node1.kms.internal:7101, 2 peers, seal shamir (referenced files not checked)\n"
    )


BROKEN: list[tuple[str, dict[str, Any], str]] = [
    (
        "bad node id",
        {"node_id": "Node_1"},
        "node.id: expected [a-z0-9][a-z0-9-]{0,62}, got 'Node_1'",
    ),
    ("bad port", {"api_port": 99999}, "api.listen: port must be 0..65535, got '99999'"),
    (
        "port clash",
        {"raft_port": 7001},
        "raft.listen: 'node1.kms.internal:7001' is already used by api.listen",
    ),
    ("bad zone", {"zone": "zone a"}, "node.zone: expected letters, digits"),
    ("bad host", {"fqdn": "node1..internal"}, "api.listen: 'node1..internal' is not a valid host"),
    ("bad log level", {"log_level": "loud"}, "logging.level: expected one of debug, info"),
    (
        "peer is self",
        {"peers_json": json.dumps([{"id": "node1", "api": "a.b:1", "raft": "a.b:2"}])},
        "peers[0].id: 'node1' is already used by node.id",
    ),
    ("quote breaks YAML", {"zone": 'a"b'}, "invalid YAML"),
]


@pytest.mark.parametrize(
    ("changes", "expected"), [(c, e) for _, c, e in BROKEN], ids=[name for name, _, _ in BROKEN]
)
def test_broken_variable_gives_one_line_error(
    tmp_path: Path, changes: dict[str, Any], expected: str
) -> None:
    path = tmp_path / "node1.yaml"
    path.write_text(render(NODE_YAML, node_vars(**changes)))
    checked = config_check(path, "--no-files")
    assert checked.returncode == 2
    assert checked.stdout == ""
    assert checked.stderr.startswith(f"keymgr: {path}: ")
    assert expected in checked.stderr
    assert checked.stderr.count("\n") == 1, checked.stderr


def test_renderer_subset() -> None:
    assert render("a ${x} $${y} %%{z} ${ x }", {"x": 1}) == "a 1 ${y} %{z} 1"
    assert names(NODE_YAML) == set(node_vars())
    with pytest.raises(TemplateError, match="does not contain"):
        render("${x}", {})
    with pytest.raises(TemplateError, match="unsupported expression"):
        render("${upper(x)}", {"x": "a"})
    with pytest.raises(TemplateError, match="directives"):
        render("%{ for x in xs }${x}%{ endfor }", {"x": 1, "xs": []})
    for template in TEMPLATES.glob("*.tftpl"):
        names(template.read_text())  # every shipped template stays inside the subset


def test_systemd_unit_runs_keymgr_hardened() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(TEMPLATES / "keymgr.service")
    service = unit["Service"]
    assert service["ExecStart"] == "/opt/keymgr/bin/keymgr server --config /etc/keymgr/node.yaml"
    assert service["ExecStartPre"] == "/opt/keymgr/bin/keymgr config check /etc/keymgr/node.yaml"
    assert service["User"] == service["Group"] == "keymgr"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "LimitCORE": "0",
        "ReadWritePaths": "/var/lib/keymgr",
        "UMask": "0077",
    }.items():
        assert service[key] == value, key
    assert unit["Unit"]["RequiresMountsFor"] == "/var/lib/keymgr"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_boot_script_is_valid_bash_and_never_traces() -> None:
    script = TEMPLATES / "keymgr-boot.sh"
    checked = subprocess.run(
        ["bash", "-n", str(script)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
    text = script.read_text()
    assert "set -x" not in text and "set -o xtrace" not in text  # would log secrets
    assert "umask 077" in text
    assert "keymgr config check /etc/keymgr/node.yaml" in text
    for cloud in ("aws", "gcp", "azure"):
        assert f"fetch_{cloud}()" in text
