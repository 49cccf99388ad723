"""docs/api.md is generated from the protos; a stale copy fails the build."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

from tests.docs.harness import REPO

SCRIPT = REPO / "scripts" / "gen-api-docs"


def _render() -> str:
    module = runpy.run_path(str(SCRIPT), run_name="gen_api_docs")
    text: str = module["render"](module["descriptor_set"]())
    return text


def test_api_docs_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr + "run scripts/gen-api-docs and commit docs/api.md"


def test_api_docs_cover_every_rpc_field_and_comment() -> None:
    text = _render()
    for proto in sorted((REPO / "proto" / "keymgr" / "v1").glob("*.proto")):
        for line in proto.read_text().splitlines():
            words = line.split()
            if words[:1] == ["rpc"]:
                assert f"| `{words[1].split('(')[0]}` |" in text, line
            if words[:1] == ["service"]:
                assert f"### keymgr.v1.{words[1]}" in text, line
    # comments come through: a field comment and an RPC comment from operator.proto
    assert "Shamir shares of the unseal key" in text
    assert "This node only; ClusterStatus asks every node for it." in text
    assert "| `labels` | map&lt;string, string&gt; |" in text


def test_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    module = runpy.run_path(str(SCRIPT), run_name="gen_api_docs")
    stale = tmp_path / "api.md"
    stale.write_text(_render().replace("Shamir shares", "Shamir pieces"))
    module["main"].__globals__["OUT"] = stale
    module["main"].__globals__["ROOT"] = tmp_path
    assert module["main"](["gen-api-docs", "--check"]) == 1
