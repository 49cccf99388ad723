"""Every shell command of docs/quickstart.md, docs/runbook.md and docs/guide-byok.md
runs in CI.

The docs are run top to bottom by `tests/docs/harness.py` against real local clusters
(node processes over mTLS). A command that fails fails this test with the doc file and
line. The quick start runs first; the runbook runs in the same working directory, so its
failover drill can use the quick start's `dev-cluster/`. The BYOK guide runs on its own
dev cluster, with a real OpenBao (`bao server -dev`) as the peer it pushes a key to.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import pytest

from keymgr.cli.main import build_parser
from tests.docs.harness import REPO, Block, DocError, Harness, iter_keymgr_commands, parse

DOCS = [REPO / "docs" / "quickstart.md", REPO / "docs" / "runbook.md"]
BYOK_GUIDE = REPO / "docs" / "guide-byok.md"  # run by test_byok_guide_runs
# Every keymgr command and option the guides name must exist; the LUKS, MariaDB and
# Kubernetes guides are also run against a dev cluster in tests/docs/test_guides.py.
GUIDES = [
    REPO / "docs" / f"guide-{name}.md"
    for name in ("luks", "mariadb", "kubernetes", "sdk", "secrets")
]
RUNTIME_BUDGET_S = 90.0  # the target is ~60 s on a 2-core machine; fail well before hanging
_INLINE = re.compile(r"`(keymgr [^`]+)`")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def command_path(words: list[str], *, group_ok: bool = False) -> tuple[str, ...]:
    """The subcommand words of a keymgr argv (`operator raft add-peer`), checked to exist;
    `group_ok`: a command group alone (`keymgr volume` in prose) is fine."""
    parser: argparse.ArgumentParser = build_parser()
    path: list[str] = []
    for word in words:
        children = _subparsers(parser)
        if not children:
            break
        if word not in children:
            raise DocError(
                f"`keymgr {' '.join(words)}`: no such command {word!r} "
                f"after {' '.join(['keymgr', *path])!r}"
            )
        path.append(word)
        parser = children[word]
    if _subparsers(parser) and not group_ok:
        raise DocError(f"`keymgr {' '.join(words)}`: incomplete command")
    return tuple(path)


def run_docs(harness: Harness, docs: list[Path], needed: list[tuple[str, ...]]) -> None:
    """Runs `docs` in order within the time budget; they must run every `needed`
    command (the docs exercised what they describe, not just a few blocks)."""
    started = time.monotonic()
    for doc in docs:
        harness.run_doc(doc)
    elapsed = time.monotonic() - started
    print("\n".join(harness.log))
    print(f"docs commands: {len(harness.ran)} blocks in {elapsed:.1f} s")
    assert elapsed < RUNTIME_BUDGET_S, f"docs took {elapsed:.0f} s (budget {RUNTIME_BUDGET_S})"
    ran = {command_path(words) for _, words in iter_keymgr_commands(list(harness.ran))}
    for command in needed:
        assert command in ran, f"no doc block runs `keymgr {' '.join(command)}`"


def test_quickstart_and_runbook_commands_run(harness: Harness) -> None:
    run_docs(
        harness,
        DOCS,
        [
            ("operator", "init"),
            ("operator", "unseal"),
            ("operator", "status"),
            ("keys", "create"),
            ("keys", "rotate"),
            ("datakey",),
            ("encrypt",),
            ("decrypt",),
            ("operator", "rotate"),
            ("operator", "snapshot", "save"),
            ("operator", "snapshot", "restore"),
            ("operator", "raft", "add-peer"),
            ("operator", "raft", "remove-peer"),
            ("approvals", "approve"),
            ("policy", "put"),
            ("drill",),
            ("audit", "verify"),
        ],
    )


def test_byok_guide_runs(harness: Harness) -> None:
    """Import with openssl, export to stand-ins of the three clouds and to a real
    OpenBao, then the re-push after a rotation that `keymgr report byok` drives."""
    run_docs(
        harness,
        [BYOK_GUIDE],
        [
            ("keys", "import-params"),
            ("keys", "import"),
            ("keys", "export-wrapped"),
            ("approvals", "approve"),
            ("keys", "destinations"),
            ("keys", "rotate"),
            ("report", "byok"),
        ],
    )


def _options(words: list[str], *, group_ok: bool = False) -> set[str]:
    parser: argparse.ArgumentParser = build_parser()
    for word in command_path(words, group_ok=group_ok):
        parser = _subparsers(parser)[word]
    return {o for action in parser._actions for o in action.option_strings}


def test_every_keymgr_command_in_the_docs_exists() -> None:
    """Every `keymgr ...` in the docs (blocks, skip-ci blocks and inline in the prose)
    names a real command with real options, so renamed commands or flags fail here.
    The agent guides are checked the same way."""
    steps = [s for doc in [*DOCS, BYOK_GUIDE, *GUIDES] for s in parse(doc)]
    problems = []
    mentions: list[tuple[str, list[str], bool]] = [
        (block.where(), words, False)
        for block, words in iter_keymgr_commands([s for s in steps if isinstance(s, Block)])
    ]
    for doc in [*DOCS, BYOK_GUIDE, *GUIDES]:
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            for text in _INLINE.findall(line):
                mentions.append((f"{doc.name}:{number}", text.split()[1:], True))
    for where, argv, inline in mentions:
        words = []
        for word in argv:
            if not re.fullmatch(r"[a-z][a-z-]*", word):
                break
            words.append(word)
        try:
            options = _options(words, group_ok=inline)
        except DocError as exc:
            problems.append(f"{where}: {exc}")
            continue
        for word in argv:
            flag = word.split("=", 1)[0]
            if re.fullmatch(r"--[a-z][a-z-]*", flag) and flag not in options:
                problems.append(f"{where}: `keymgr {' '.join(words)}` has no option {flag}")
    assert not problems, "\n".join(problems)


def test_harness_reports_file_and_line_of_a_failing_command(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        '# t\n\n```sh\nexport A=1\necho "Unseal Share 1: abc"\n```\n\ntext\n\n'
        '```sh\ntest "$A$SHARE1" = 1abc\ntrue\nfalse\necho never\n```\n'
    )
    h = Harness(tmp_path / "work")
    with pytest.raises(DocError) as caught:
        h.run_doc(doc)
    assert f"{doc}:13: command failed" in str(caught.value)
    assert "false" in str(caught.value)
    assert h.env["A"] == "1" and h.env["SHARE1"] == "abc"


def test_skip_ci_block_must_say_why(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("```sh skip-ci\nkeymgr dev up\n```\n")
    with pytest.raises(DocError, match="must say why"):
        parse(doc)
    doc.write_text("```sh skip-ci\n# runs until Ctrl-C\nkeymgr dev up\n```\n")
    assert parse(doc)[0].skip  # type: ignore[union-attr]


def test_unknown_command_in_docs_is_caught() -> None:
    with pytest.raises(DocError, match="no such command 'bogus'"):
        command_path(["operator", "bogus"])
    assert command_path(["operator", "raft", "add-peer", "node4"]) == (
        "operator",
        "raft",
        "add-peer",
    )


def test_a_negated_command_that_succeeds_fails_the_block(tmp_path: Path) -> None:
    """`! grep secret file` must fail when the file holds the secret (bash's `set -e`
    ignores `!`: the MariaDB guide's check would have passed with the rows in the redo
    log)."""
    doc = tmp_path / "doc.md"
    doc.write_text("```sh\necho secret > f\n! grep -q secret f   # must not be there\n```\n")
    h = Harness(tmp_path / "work")
    with pytest.raises(DocError, match=r"doc.md:3: command failed"):
        h.run_doc(doc)
    doc.write_text("```sh\necho public > f\n! grep -q secret f   # not there\n```\n")
    Harness(tmp_path / "work2").run_doc(doc)
