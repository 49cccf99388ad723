"""The package layering, read from the source: what each room may import.

`keymgr.store` is the pure state machine (etcd-raft's `RawNode`): it must not reach for
Raft, the server, the network, the disk, a clock or threads. `keymgr.raft` replicates
it and must not know about gRPC servicers. A violation names the module and the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import keymgr

PACKAGE_ROOT = Path(keymgr.__file__).parent

# store/ may import only these (and the standard library modules not listed below)
STORE_FORBIDDEN_KEYMGR = (
    "keymgr.raft",
    "keymgr.server",
    "keymgr.seal",
    "keymgr.ops",
    "keymgr.cli",
    "keymgr.client",
    "keymgr.audit",
    "keymgr.config",
    "keymgr.durable_files",
    "keymgr.private_files",
    "keymgr.agents",
)
IO_MODULES = frozenset(
    {
        "os",
        "io",
        "socket",
        "ssl",
        "asyncio",
        "subprocess",
        "shutil",
        "tempfile",
        "pathlib",
        "time",
        "random",
        "secrets",
        "logging",
        "mmap",
        "select",
        "selectors",
        "signal",
        "grpc",
        "pysyncobj",
        "yaml",
        "urllib",
        "http",
        "multiprocessing",
        "concurrent",
    }
)


def imports_of(path: Path, root: Path = PACKAGE_ROOT.parent) -> list[str]:
    """Every module `path` imports, absolute (relative imports resolved against `root`)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parts = path.relative_to(root).with_suffix("").parts
    package = parts[:-1]  # a module's package; an __init__'s is its own directory
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append(module)
            found.extend(f"{module}.{alias.name}" for alias in node.names)
    return found


def modules_under(package: str) -> list[Path]:
    return sorted((PACKAGE_ROOT / package).rglob("*.py"))


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_store_is_pure_it_imports_no_raft_server_or_io_module() -> None:
    offences = [
        f"{path.relative_to(PACKAGE_ROOT.parent)} imports {module}"
        for path in modules_under("store")
        for module in imports_of(path)
        if _within(module, STORE_FORBIDDEN_KEYMGR) or module.split(".")[0] in IO_MODULES
    ]
    assert offences == []


def test_raft_knows_nothing_of_servicers_or_clients() -> None:
    offences = [
        f"{path.relative_to(PACKAGE_ROOT.parent)} imports {module}"
        for path in modules_under("raft")
        for module in imports_of(path)
        if _within(module, ("keymgr.server", "keymgr.cli", "keymgr.client", "grpc"))
    ]
    assert offences == []


def test_lower_layers_know_nothing_of_the_server() -> None:
    """Seals, crypto, audit and config sit below the servicers: they raise the node's
    domain errors (`keymgr.node_errors`) but never import `keymgr.server`."""
    offences = [
        f"{path.relative_to(PACKAGE_ROOT.parent)} imports {module}"
        for package in ("seal", "crypto", "audit", "config", "store", "raft")
        for path in modules_under(package)
        for module in imports_of(path)
        if _within(module, ("keymgr.server", "keymgr.cli", "keymgr.gateway"))
    ]
    assert offences == []


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The walk above is not vacuous: a planted import of each kind is found."""
    planted = tmp_path / "keymgr" / "store" / "planted.py"
    planted.parent.mkdir(parents=True)
    planted.write_text("import os\nfrom keymgr.raft import node\nfrom . import keystore\n")
    found = imports_of(planted, root=tmp_path)
    assert "os" in found
    assert "keymgr.raft.node" in found
    assert "keymgr.store.keystore" in found
