"""No key material in the clear at rest: every file the nodes wrote (Raft journal, dump,
term/vote file, sealed root key, logs) is scanned for every secret the test can know.

The test process learns the cluster's secrets the way an attacker holding a threshold
of shares would: it combines the shares, unwraps the root key from the replicated init
record (read from a node's Raft dump), then the keyring and every key version's
material. None of those bytes, nor the data keys and plaintexts the API returned, may
appear in any file, raw, hex or base64.
"""

from __future__ import annotations

import os
import stat

from keymgr.crypto.barrier import Keyring, material_aad, unwrap_term_key
from tests.integration.clients_support import encodings, files_under
from tests.integration.conftest import MakeCluster
from tests.integration.helpers import recover_root_key


def test_no_secret_appears_in_any_file_a_node_wrote(make_cluster: MakeCluster) -> None:
    cluster = make_cluster(log_compaction_min_entries=20)
    shares = cluster.bring_up(shares=3, threshold=2)
    secrets: dict[str, bytes] = {}
    with cluster.client() as client:
        for i in range(12):
            key = client.create_key(f"scan-{i}")
            client.rotate_key(key.name)
            data_key = client.generate_data_key(key.name, context={"i": str(i)})
            secrets[f"data key {i}"] = data_key.plaintext
            plaintext = f"PLAINTEXT-MARKER-{i:04d}-0123456789abcdef".encode()
            client.encrypt(key.name, plaintext)
            secrets[f"plaintext {i}"] = plaintext
        client.rotate_keyring()
        for i in range(12, 30):  # more entries after the keyring rotation: more compactions
            client.create_key(f"scan-{i}")
    for node in cluster.spec.nodes:
        cluster.stop(node.id)

    # Recover the secrets from one node's snapshot, with the shares.
    store, root = recover_root_key(cluster, shares[:2])
    secrets["root key"] = root
    terms, active = store.keyring_state()
    term_keys = {t.term: unwrap_term_key(root, t.term, t.wrapped_key) for t in terms}
    for term, term_key in term_keys.items():
        secrets[f"keyring term {term}"] = term_key
    keyring = Keyring(term_keys, active_term=active)
    keys, _ = store.list_keys(1000, "")
    materials = 0
    for key in keys:
        stored = store.lookup(key.id)
        assert stored is not None
        for version, wrapped in stored.wrapped_material.items():
            secrets[f"{key.name} v{version}"] = keyring.decrypt(
                wrapped, material_aad(key.id, version)
            )
            materials += 1
    assert len(term_keys) == 2 and materials >= 20  # the scan really covers key material

    scanned = 0
    for path, content in files_under(cluster.root / "data", cluster.root / "logs"):
        scanned += 1
        for name, secret in secrets.items():
            for form in encodings(secret):
                assert form not in content, f"{name} found in {path}"
    assert scanned >= 9  # journal, dump, meta per node at least


def test_every_file_a_node_wrote_is_owner_only(make_cluster: MakeCluster) -> None:
    """Journal, dump, term/vote file, sealed root key, audit and logs: 0600 files in 0700
    directories, whatever the umask of whoever started the node."""
    old_umask = os.umask(0o022)  # the usual login umask: files 0644 unless keymgr says so
    try:
        cluster = make_cluster(log_compaction_min_entries=20)
        cluster.bring_up(shares=3, threshold=2)
    finally:
        os.umask(old_umask)
    with cluster.client() as client:
        for i in range(30):  # enough entries for a compaction: dump files too
            client.create_key(f"mode-{i}")
    for node in cluster.spec.nodes:
        cluster.stop(node.id)
    roots = [cluster.root / "data", cluster.root / "logs", cluster.root / "run"]
    seen, wrong = 0, []
    for root in roots:
        for path in [root, *root.rglob("*")]:
            mode = stat.S_IMODE(path.lstat().st_mode)
            if path.is_dir() and mode != 0o700:
                wrong.append(f"{path.relative_to(cluster.root)}/ {mode:o}")
            elif path.is_file():
                seen += 1
                if mode != 0o600:
                    wrong.append(f"{path.relative_to(cluster.root)} {mode:o}")
    assert not wrong
    assert seen >= 12  # journal, dump, meta, root key per node at least


def test_no_secret_value_appears_in_any_file_a_node_wrote(make_cluster: MakeCluster) -> None:
    """50 secrets written (some versions destroyed, the mount's key rotated between
    writes) and a token issued and used: no value and no token, raw, hex or base64, in
    any node's journal, dump, audit or log."""
    cluster = make_cluster(log_compaction_min_entries=20)
    cluster.bring_up(shares=3, threshold=2)
    values: dict[str, bytes] = {}
    with cluster.client() as client:
        mount = client.secrets.enable_mount("secret")
        for i in range(50):
            value = f"SECRET-VALUE-{i:04d}-fedcba9876543210"
            client.secrets.put("secret", f"apps/app-{i}", {"password": value})
            values[f"secret {i}"] = value.encode()
            values[f"secret {i} as stored"] = f'{{"password":"{value}"}}'.encode()
            if i == 25:
                client.rotate_key(mount.key_name)
            if i % 5 == 0:
                client.secrets.put("secret", f"apps/app-{i}", {"password": value + "-v2"})
                values[f"secret {i} v2"] = f"{value}-v2".encode()
                client.secrets.destroy("secret", f"apps/app-{i}", [1])
        assert client.secrets.get("secret", "apps/app-10", version=2).data == {
            "password": "SECRET-VALUE-0010-fedcba9876543210-v2"
        }
        assert client.secrets.get("secret", "apps/app-3").data is not None
        issued = client.secrets.create_token("spiffe://keymgr/service/scan", 600)
        values["token"] = issued.token.encode()
        assert client.secrets.with_token(issued.token).lookup_token().principal.endswith("/scan")
    for node in cluster.spec.nodes:
        cluster.stop(node.id)
    scanned = 0
    for path, content in files_under(cluster.root / "data", cluster.root / "logs"):
        scanned += 1
        for name, secret in values.items():
            for form in encodings(secret):
                assert form not in content, f"{name} found in {path}"
    assert scanned >= 9
