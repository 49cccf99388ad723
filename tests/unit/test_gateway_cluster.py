"""The gateway's cluster client follows its certificate files: a reissued client
certificate is used from the next call on, the old client is closed a while later, and
a half-written pair keeps the old one."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from keymgr import pki
from keymgr.client import Client, Credentials
from keymgr.gateway.cluster import ClusterClient


def test_a_reissued_cluster_certificate_is_used_without_a_restart(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    pki.create_ca(certs)
    ca = pki.load_ca(certs)
    pki.issue_client_cert(ca, "gw", kind="service")
    credentials = Credentials(ca=certs / "ca.pem", cert=certs / "gw.pem", key=certs / "gw-key.pem")
    built: list[Client] = []

    def build() -> Client:
        client = Client(["127.0.0.1:1"], credentials=credentials)
        built.append(client)
        return client

    cluster = ClusterClient(
        build,
        (credentials.ca, credentials.cert, credentials.key),
        check_interval_s=0.05,
        retire_after_s=0.2,
    )
    first = cluster.current()
    time.sleep(0.1)
    assert cluster.current() is first  # nothing changed

    (certs / "gw-key.pem").unlink()  # mid-rotation: the key is not there yet
    time.sleep(0.1)
    assert cluster.current() is first and cluster.rebuilds == 0

    staging = tmp_path / "staging"
    pki.issue_client_cert(ca, "gw", kind="service", out_dir=staging)
    shutil.copy(staging / "gw-key.pem", certs / "gw-key.pem")
    shutil.copy(staging / "gw.pem", certs / "gw.pem")
    time.sleep(0.1)
    second = cluster.current()
    assert second is not first and cluster.rebuilds == 1 and len(built) == 2
    time.sleep(0.3)
    assert cluster.current() is second
    assert not cluster._retiring  # the first client was closed after retire_after_s
    cluster.close()
