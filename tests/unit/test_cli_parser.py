"""The CLI's parser builds (no conflicting flags) and every command has help."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from keymgr.cli.main import build_parser, main


def _commands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((*prefix, name))
                found.extend(_commands(sub, (*prefix, name)))
    return found


def test_every_command_builds_and_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    commands = _commands(build_parser())
    assert ("operator", "init") in commands and ("report", "rotation") in commands
    for command in commands:
        with pytest.raises(SystemExit) as exited:
            main([*command, "--help"])
        assert exited.value.code == 0, command
    assert "usage" in capsys.readouterr().out


def test_usage_error_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["keys", "frobnicate"])
    assert exited.value.code == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["operator", "rotate-root", "--shares", "-1"], "--shares: must be between 0"),
        (["operator", "rotate-root", "--threshold", "two"], "--threshold: expected a whole"),
        (["operator", "rotate-root", "--ttl", "1e3"], "--ttl: expected a whole number"),
        (["operator", "init", "--shares", "-5"], "--shares: must be between 0"),
    ],
)
def test_count_flags_give_one_line_usage_errors(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err, err


@pytest.mark.parametrize(
    ("argv", "module"),
    [
        (["bench", "--no-openbao", "--duration", "1"], "keymgr_bench.bench"),
        (["bench-scale", "--keys", "1000"], "keymgr_bench.bench_scale"),
        (["bench-clients"], "keymgr_bench.bench_clients"),
    ],
)
def test_bench_commands_say_what_to_install_when_the_benchmarks_are_missing(
    argv: list[str],
    module: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nodes do not install keymgr_bench: a bench command then names the fix, one line."""
    monkeypatch.setitem(sys.modules, "keymgr_bench", None)
    monkeypatch.setitem(sys.modules, module, None)
    assert main(argv) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "pip install -e ./bench" in err and "KEYMGR_EXTRAS=bench" in err


def test_a_node_imports_no_benchmark_code() -> None:
    """Starting a node (its command module and the server) pulls in no keymgr_bench."""
    code = (
        "import sys, keymgr.cli.main, keymgr.server.node; "
        "print(sorted(m for m in sys.modules if m.startswith(('keymgr_bench', 'aiohttp'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60
    ).stdout.strip()
    assert loaded == "[]"
