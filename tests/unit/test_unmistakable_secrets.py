"""Secrets that tests look for in logs, errors and repr cannot be found there by chance."""

from __future__ import annotations

import re

import pytest

from tests.integration import hsm
from tests.unit import softhsm_process, test_config
from tests.unmistakable_secrets import MIN_LENGTH, unmistakable

SCANNED = {
    "tests/integration/hsm.py PIN (node logs)": hsm.PIN,
    "tests/unit/softhsm_process.py PIN (errors, repr)": softhsm_process.PIN,
    "tests/unit/test_config.py CONFIG_PIN (repr, config errors)": test_config.CONFIG_PIN,
}


@pytest.mark.parametrize("where", sorted(SCANNED))
def test_scanned_secrets_are_unmistakable(where: str) -> None:
    value = SCANNED[where]
    assert len(value) >= MIN_LENGTH, f"{where}: {value!r} is short enough to occur by chance"
    assert not value.isdigit(), f"{where}: digits only would match a port or a PID"


def test_a_port_number_no_longer_contains_the_pin() -> None:
    """The failure seen in a full run: port 24321 "contained" the PIN 4321."""
    log = "raft listening on 127.0.0.1:24321, pid 14321, at 1733512345.4321"
    assert hsm.PIN not in log
    assert re.fullmatch(r"x-[0-9a-f]{32}", unmistakable("x"))
