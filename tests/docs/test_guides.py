"""The agent guides run as written against a dev cluster, like the quick start.

Each guide starts with `<!-- ci: cluster dev -->` and `. dev-cluster/env` (what a user
does after `./scripts/dev-up`), then every `sh` block runs in order against real node
processes and the real clients: cryptsetup on an image file, the KMS v2 plugin over its
unix socket, MariaDB with its unmodified hashicorp_key_management plugin.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.harness import REPO, DocError, Harness, iter_keymgr_commands
from tests.docs.test_docs_commands import command_path

# what each guide must have run (not just that a few blocks did)
NEEDED = {
    "luks": [
        ("keys", "create"),
        ("pki", "client"),
        ("policy", "put"),
        ("roles", "set"),
        ("volume", "format"),
        ("volume", "unlock"),
        ("volume", "rotate"),
        ("volume", "rewrap"),
    ],
    "kubernetes": [
        ("keys", "create"),
        ("pki", "client"),
        ("policy", "put"),
        ("kms-plugin",),
        ("kms-probe",),
        ("keys", "rotate"),
    ],
    "mariadb": [
        ("keys", "create"),
        ("pki", "client"),
        ("pki", "server"),
        ("policy", "put"),
        ("tde-gateway",),
        ("tde-rotate",),
    ],
}


@pytest.mark.parametrize("name", sorted(NEEDED))
def test_guide_runs_as_written_against_a_dev_cluster(harness: Harness, name: str) -> None:
    doc = REPO / "docs" / f"guide-{name}.md"
    harness.run_doc(doc)
    print("\n".join(harness.log))
    ran = {command_path(words) for _, words in iter_keymgr_commands(list(harness.ran))}
    for needed in NEEDED[name]:
        assert needed in ran, f"no block of {doc.name} runs `keymgr {' '.join(needed)}`"
    _guide_checks(name, harness.work)


def _guide_checks(name: str, work: Path) -> None:
    """What the guide promises, checked on what it left behind."""
    if name == "kubernetes":
        assert not (work / "kms" / "keymgr.sock").exists()  # the plugin was stopped
    if name == "mariadb":
        data = work / "mariadb" / "data"
        assert (data / "shop" / "secret.ibd").exists() and (data / "ib_logfile0").exists()
        for path in (p for p in data.rglob("*") if p.is_file()):
            assert b"card-4111" not in path.read_bytes(), f"plaintext row in {path}"


def test_mariadb_guide_check_finds_the_rows_without_innodb_encrypt_log(
    harness: Harness, tmp_path: Path
) -> None:
    """The guide's own check has teeth: with `innodb-encrypt-log` left out, the rows
    are in ib_logfile0 after shutdown and the guide fails at that line."""
    guide = (REPO / "docs" / "guide-mariadb.md").read_text()
    assert "innodb-encrypt-log = ON\n" in guide
    without = tmp_path / "guide-mariadb-without-encrypt-log.md"
    without.write_text(guide.replace("innodb-encrypt-log = ON\n", ""))
    with pytest.raises(DocError, match=r"command failed[^\n]*\n.*ib_logfile0"):
        harness.run_doc(without)
