"""The CLI's parser builds (no conflicting flags) and every command has help."""

from __future__ import annotations

import argparse

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
