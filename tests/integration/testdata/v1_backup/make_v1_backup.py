"""How `backup.kms` and `backup.json` were made: run ONCE, at commit dd2ff7e (format v1).

A 3-node dev cluster of that commit: keys created, used, rotated; the keyring rotated;
the root key rotated (so the file holds a root link, re-wrapped terms and the Shamir-
wrapped root of generation 1, all in format v1); then `SaveSnapshot`. The JSON holds
the shares of generation 1 and ciphertexts that cluster made. Run today it would make
v2 blobs: do not regenerate.

    .venv/bin/python tests/integration/testdata/v1_backup/make_v1_backup.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[3]))

from keymgr.ops.devcluster import LocalCluster, default_spec  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cluster = LocalCluster(Path(tmp), default_spec(3))
        try:
            cluster.bring_up(shares=3, threshold=2)
            samples = []
            with cluster.client() as client:
                a = client.create_key("v1-alpha")
                b = client.create_key("v1-beta")
                hsm_free = [(a.name, {"tenant": "acme"}), (b.name, {})]
                for name, context in hsm_free:
                    blob = client.encrypt(name, f"v1 secret of {name}".encode(), context=context)
                    samples.append(
                        {
                            "blob": blob.hex(),
                            "context": context,
                            "plaintext": f"v1 secret of {name}".encode().hex(),
                        }
                    )
                data_key = client.generate_data_key(a.name, context={"db": "orders"})
                samples.append(
                    {
                        "blob": data_key.ciphertext_blob.hex(),
                        "context": {"db": "orders"},
                        "plaintext": data_key.plaintext.hex(),
                    }
                )
                client.rotate_key(a.name)
                blob = client.encrypt(a.name, b"v1 after key rotation")
                samples.append(
                    {"blob": blob.hex(), "context": {}, "plaintext": b"v1 after key rotation".hex()}
                )
                client.rotate_keyring()
                client.rotate_key(b.name)  # material of v2 under keyring term 2
                blob = client.encrypt(b.name, b"v1 under term 2", context={"t": "2"})
                samples.append(
                    {
                        "blob": blob.hex(),
                        "context": {"t": "2"},
                        "plaintext": b"v1 under term 2".hex(),
                    }
                )
                rotated = client.rotate_root()
                assert rotated.operation_state == "executed", rotated
                shares = list(rotated.unseal_shares)
                data, _ = client.save_snapshot(endpoint=cluster.node("node1").api)
        finally:
            cluster.close()
    (HERE / "backup.kms").write_bytes(data)
    (HERE / "backup.json").write_text(
        json.dumps(
            {
                "_about": "Made by make_v1_backup.py at commit dd2ff7e (format v1). Never "
                "regenerate: restoring it proves v1 backups and ciphertexts still work.",
                "shares": shares,
                "threshold": rotated.secret_threshold,
                "keys": ["v1-alpha", "v1-beta"],
                "ciphertexts": samples,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
