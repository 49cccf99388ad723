"""Suite-wide rules: in CI nothing may be skipped; keymgr is imported before grpc.

Like every keymgr process, the test process imports keymgr before any test module
imports grpc, so gRPC here reads keymgr's TLS 1.3-only cipher list (`keymgr.tls13`);
otherwise the first credentials built in this process would refuse, rightly.
"""

from __future__ import annotations

import os

import pytest

import keymgr  # noqa: F401 - first: pins gRPC to TLS 1.3 before any test imports grpc


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
    group.addoption("--fuzz-seed", type=int, default=12, help="seed of the fuzz cases (default 12)")
