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
