"""Suite-wide rules: in CI nothing may be skipped."""

from __future__ import annotations

import os

import pytest


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("CI") and skipped:
        if reporter:
            reporter.write_line(f"FAILED: {skipped} test(s) skipped; nothing may skip in CI")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("keymgr")
    group.addoption(
        "--fuzz-requests",
        type=int,
        default=10_000,
        help="requests tests/integration/test_fuzz.py sends, half as admin, half as an "
        "agent without policy (default 10,000, about 15 s; raise it for a longer run)",
    )
    group.addoption(
        "--fuzz-seed", type=int, default=12, help="seed of the fuzz cases (default 12)"
    )
