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
        "--address",
        ",".join(cluster.node(i).api for i in node_ids),
        "--ca",
        str(creds.ca),
        "--cert",
        str(creds.cert),
        "--key",
        str(creds.key),
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
        client.secrets.enable_mount("secret")  # secrets travel in the backup too
        client.secrets.put("secret", "dr/db", {"password": "one"})
        client.secrets.put("secret", "dr/db", {"password": "two"})
        client.secrets.destroy("secret", "dr/db", [1])
        token = client.secrets.create_token("spiffe://keymgr/service/dr", 3600).token
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
            client.restore_snapshot(backup.read_bytes(), shares[:1], endpoint=target.node(node).api)
    code = main(
        [
            "operator",
            "snapshot",
            "restore",
            str(bad),
            "--shares-file",
            str(shares_file),
            *_cli_flags(target, [node]),
        ]
    )
    assert code == 2

    assert (
        main(
            [
                "operator",
                "snapshot",
                "restore",
                str(backup),
                "--shares-file",
                str(shares_file),
                *_cli_flags(target, [node]),
            ]
        )
        == 0
    )
    for other in ("node1", "node3"):
        target.unseal(other, shares[:2])
    target.wait_serving()
    for node_id in ("node1", "node2", "node3"):
        with target.client([node_id]) as client:
            for blob, plain in blobs:
                # bounded retry: a node of a loaded machine may briefly refuse (fail closed)
                got = eventually(
                    lambda c=client, b=blob, n=node_id: c.decrypt(
                        b, endpoint=target.node(n).api, consistent=True
                    ),
                    timeout=15,
                )
                assert got == plain.encode()
    with target.client() as client:
        names = {k.name for k in client.list_keys(page_size=100)[0]}
        assert {f"dr-{i}" for i in range(5)} <= names and "after-backup" not in names
        assert client.secrets.get("secret", "dr/db").data == {"password": "two"}
        assert client.secrets.get("secret", "dr/db", version=1).version.destroyed
        assert client.secrets.with_token(token).lookup_token().principal.endswith("/dr")
        assert client.create_key("new-after-restore").current_version == 1
        # a second restore onto the now-initialised cluster is refused
        with pytest.raises(Exception, match="already initialized"):
            client.restore_snapshot(
                backup.read_bytes(), shares[:2], endpoint=target.node("node1").api
            )


V1_BACKUP = Path(__file__).parent / "testdata" / "v1_backup"


def test_a_backup_made_before_format_v2_restores_and_its_ciphertexts_open(
    make_cluster: MakeCluster,
) -> None:
    """`backup.kms` was made by the code before format v2 (see make_v1_backup.py): its
    Shamir-wrapped root key, root link, wrapped term keys and key material are all v1,
    and so are the client ciphertexts beside it. Restored by today's code, everything
    opens; what is made afterwards is v2; a node restarting on its file seal unwraps the
    root key it stored in the new format."""
    import json

    saved = json.loads((V1_BACKUP / "backup.json").read_text())
    shares = saved["shares"][: saved["threshold"]]
    target = make_cluster()
    _fresh(target)
    with target.client(["node2"]) as client:
        client.restore_snapshot(
            (V1_BACKUP / "backup.kms").read_bytes(), shares, endpoint=target.node("node2").api
        )
    for other in ("node1", "node3"):
        target.unseal(other, shares)
    target.wait_serving()

    samples = [
        (bytes.fromhex(s["blob"]), s["context"], bytes.fromhex(s["plaintext"]))
        for s in saved["ciphertexts"]
    ]
    assert {blob[0] for blob, _, _ in samples} == {1}
    for node_id in ("node1", "node2", "node3"):
        with target.client([node_id]) as client:
            for blob, context, plain in samples:
                got = eventually(
                    lambda c=client, b=blob, x=context: c.decrypt(b, context=x, consistent=True),
                    timeout=15,
                )
                assert got == plain

    with target.client() as client:
        old_blob, old_context, old_plain = samples[0]
        moved = client.re_encrypt(old_blob, source_context=old_context)
        assert moved.ciphertext_blob[0] == 2
        assert client.decrypt(moved.ciphertext_blob, context=old_context) == old_plain
        for name in saved["keys"]:
            fresh = client.encrypt(name, b"made after the restore", context={"n": name})
            assert fresh[0] == 2
            assert client.decrypt(fresh, context={"n": name}) == b"made after the restore"
        client.rotate_keyring()  # a new term, wrapped (v2) under the restored root key
        rotated = client.rotate_key(saved["keys"][1])  # material under the new term (v2)
        data_key = client.generate_data_key(rotated.name, context={"db": "x"})
        assert data_key.ciphertext_blob[0] == 2 and data_key.key_version == 3
        assert client.decrypt(data_key.ciphertext_blob, context={"db": "x"}) == (data_key.plaintext)

    target.stop("node3")  # restarts on the root key its file seal stored (format v2)
    target.start("node3")
    target.wait_serving(["node3"])
    with target.client(["node3"]) as client:
        for blob, context, plain in [
            *samples,
            (data_key.ciphertext_blob, {"db": "x"}, data_key.plaintext),
        ]:
            got = eventually(
                lambda c=client, b=blob, x=context: c.decrypt(b, context=x, consistent=True),
                timeout=15,
            )
            assert got == plain
