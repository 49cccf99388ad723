"""The docs harness as a fixture: one working directory, everything it started stopped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.harness import Harness


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path / "work")
    try:
        yield h
    finally:
        h.close()
