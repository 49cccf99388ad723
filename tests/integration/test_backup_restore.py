"""Snapshot save -> restore on a fresh cluster: every key decrypts old ciphertexts;
a tampered file and wrong shares are refused with a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from keymgr.cli.main import main
from keymgr.client import InvalidArgument
from keymgr.ops.devcluster import LocalCluster
from tests.integration.conftest import MakeCluster
from tests.integration.helpers import eventually


def _cli_flags(cluster: LocalCluster, node_ids: list[str]) -> list[str]:
    creds = cluster.credentials
    return [
        "--address", ",".join(cluster.node(i).api for i in node_ids),
        "--ca", str(creds.ca), "--cert", str(creds.cert), "--key", str(creds.key),
    ]


def _fresh(cluster: LocalCluster) -> None:
    cluster.prepare()
    cluster.start_all()
    for node in cluster.spec.nodes:
        cluster.wait_answering(node.id)


def test_snapshot_save_restore_on_a_fresh_cluster(
    make_cluster: MakeCluster, tmp_path: Path
) -> None:
    source = make_cluster()
    shares = source.bring_up()
    blobs = []
    with source.client() as client:
        for i in range(5):
            key = client.create_key(f"dr-{i}")
            blobs.append((client.encrypt(key.name, f"secret {i}".encode()), f"secret {i}"))
            if i % 2:
                client.rotate_key(key.name)
                blobs.append((client.encrypt(key.name, b"after rotation"), "after rotation"))
        client.rotate_keyring()
    backup = tmp_path / "backup.kms"
    assert main(["operator", "snapshot", "save", str(backup), *_cli_flags(source, ["node1"])]) == 0
    assert backup.read_bytes().startswith(b"KMSNAP")
    with source.client() as client:
        client.create_key("after-backup")  # not in the backup
    source.close()

    target = make_cluster()
    _fresh(target)
    shares_file = tmp_path / "shares.txt"
    shares_file.write_text("\n".join(shares[:2]) + "\n")
    node = "node2"

    # tampered: one bit flipped inside the state -> checksum; header-preserving tamper -> MAC
    data = bytearray(backup.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad = tmp_path / "tampered.kms"
    bad.write_bytes(bytes(data))
    with target.client([node]) as client:
        with pytest.raises(InvalidArgument, match="corrupt or was modified"):
            client.restore_snapshot(bytes(data), shares[:2], endpoint=target.node(node).api)
        forged = bytearray(backup.read_bytes())
        forged[-1] ^= 0x01  # MAC byte: only the keyed check can see it
        with pytest.raises(InvalidArgument, match="integrity check failed"):
            client.restore_snapshot(bytes(forged), shares[:2], endpoint=target.node(node).api)
        with pytest.raises(InvalidArgument, match="shares"):
            client.restore_snapshot(backup.read_bytes(), shares[:1],
                                    endpoint=target.node(node).api)
    code = main(["operator", "snapshot", "restore", str(bad), "--shares-file", str(shares_file),
                 *_cli_flags(target, [node])])
    assert code == 2

    assert main(["operator", "snapshot", "restore", str(backup), "--shares-file",
                 str(shares_file), *_cli_flags(target, [node])]) == 0
    for other in ("node1", "node3"):
        target.unseal(other, shares[:2])
    target.wait_serving()
    for node_id in ("node1", "node2", "node3"):
        with target.client([node_id]) as client:
            for blob, plain in blobs:
                # bounded retry: a node of a loaded machine may briefly refuse (fail closed)
                got = eventually(lambda c=client, b=blob, n=node_id: c.decrypt(
                    b, endpoint=target.node(n).api, consistent=True), timeout=15)
                assert got == plain.encode()
    with target.client() as client:
        names = {k.name for k in client.list_keys(page_size=100)[0]}
        assert {f"dr-{i}" for i in range(5)} <= names and "after-backup" not in names
        assert client.create_key("new-after-restore").current_version == 1
        # a second restore onto the now-initialised cluster is refused
        with pytest.raises(Exception, match="already initialized"):
            client.restore_snapshot(backup.read_bytes(), shares[:2],
                                    endpoint=target.node("node1").api)
