"""Who a caller is comes from one URI SAN in keymgr's form on a client certificate
(issue 12, finding 1). Certificates signed by the cluster CA, but not as `keymgr pki`
issues them, name nobody: UNAUTHENTICATED before any handler runs, and one bounded audit
line that says why and which certificate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keymgr import pki
from keymgr.audit.bounds import MAX_DETAIL_BYTES
from keymgr.client import Client, Credentials, TlsHandshakeFailed, Unauthenticated
from keymgr.ops.devcluster import LocalCluster
from tests.forged_certs import SERVER_AUTH, fingerprint, forge_files
from tests.integration.helpers import eventually

ADMIN = "spiffe://keymgr/admin/admin"

FORGED = {
    # the reviewer's reproduction: the admin's id as CN, no SAN at all
    "cn-only": {"cn": ADMIN, "ips": ()},
    # a URI SAN that does not parse as keymgr's, the admin's id as CN
    "malformed-uri": {"cn": ADMIN, "uris": [ADMIN + "/extra"]},
    "other-trust-domain": {"cn": ADMIN, "uris": ["spiffe://elsewhere/admin/admin"]},
    "two-uris": {"uris": [ADMIN, "spiffe://keymgr/service/x"]},
    # a glob as name: `volume_id: ${principal.name}` in a policy would match any volume
    "glob-name": {"uris": ["spiffe://keymgr/agent/*"]},
    # TLS accepts a client certificate without EKU; a serverAuth-only one it refuses
    # itself (see below), but keymgr does not rely on that
    "no-extended-key-usage": {"uris": [ADMIN], "ekus": None},
    "ca-certificate": {"uris": [ADMIN], "is_ca": True},
}


def forged_client(cluster: LocalCluster, tmp_path: Path, name: str, **fields: object) -> Client:
    """A client of node1 only (so its audit log has the line), one attempt."""
    cert, key = forge_files(pki.load_ca(cluster.certs), tmp_path, name, **fields)
    creds = Credentials(ca=cluster.credentials.ca, cert=cert, key=key)
    return Client([cluster.node("node1").api], credentials=creds, timeout=5.0, attempts=1)


def audit_records(cluster: LocalCluster, node_id: str) -> list[tuple[str, dict[str, object]]]:
    path = cluster.data_dir(node_id) / "audit" / "audit.log"
    return [(line, json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("case", sorted(FORGED))
def test_forged_certificate_names_nobody_and_is_audited(
    cluster: LocalCluster, tmp_path: Path, case: str
) -> None:
    with cluster.client() as admin:  # control: the real admin certificate still works
        assert admin.whoami().principal == ADMIN
    with (
        forged_client(cluster, tmp_path, case, **FORGED[case]) as forged,
        pytest.raises(Unauthenticated, match="no keymgr identity") as refused,
    ):
        answer = forged.whoami()
        raise AssertionError(f"{case}: answered as {answer.principal} {list(answer.roles)}")
    short = fingerprint((tmp_path / f"{case}.pem").read_bytes())
    assert short in str(refused.value)

    def refusal_line() -> tuple[str, dict[str, object]]:
        found = [
            (line, record)
            for line, record in audit_records(cluster, "node1")
            if record["operation"] == "WhoAmI" and short in str(record["detail"])
        ]
        assert found, f"no audit line for {case}"
        return found[-1]

    line, record = eventually(refusal_line, timeout=5.0)
    assert record["result"] == "UNAUTHENTICATED"
    assert record["principal"] == ""  # nobody: not the CN, not a URI
    assert len(str(record["detail"]).encode()) <= MAX_DETAIL_BYTES
    assert len(line) < 1024


def test_node_of_another_trust_domain_gets_no_node_status(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """Node-only calls (status fan-out, root key exchange) went by kind alone."""
    fields = {"cn": "node2", "uris": ["spiffe://elsewhere/node/node2"]}
    with (
        forged_client(cluster, tmp_path, "foreign-node", **fields) as foreign,
        pytest.raises(Unauthenticated),
    ):
        foreign.local_status(endpoint=cluster.node("node1").api)


def test_server_only_certificate_is_refused_in_the_handshake(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    fields = {"uris": [ADMIN], "ekus": [SERVER_AUTH]}
    with (
        forged_client(cluster, tmp_path, "server-only", **fields) as forged,
        pytest.raises(TlsHandshakeFailed, match="not a client certificate"),
    ):
        forged.whoami()  # said at once and final, not a retryable `Socket closed`
