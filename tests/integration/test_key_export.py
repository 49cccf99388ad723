"""Export for a destination (BYOK out of keymgr), end to end on a real cluster, where
the test plays the cloud: it holds the RSA private key and unwraps each payload exactly
as AWS KMS, Google Cloud KMS, Azure Key Vault and OpenBao transit document their import,
then checks the recovered material by an independent path (it opens a ciphertext keymgr
made, following the documented envelope format). Every export leaves a record (no
material) that `keymgr keys destinations` lists; bad requests get a status naming the
field and leave the grant usable; no material reaches a node's files."""

from __future__ import annotations

import base64
import json
import re
import shlex
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from keymgr.client import Client, FailedPrecondition, InvalidArgument, NotFound
from keymgr.ops.devcluster import LocalCluster
from keymgr.v1 import keys_pb2, store_pb2
from tests.integration.byok_support import (
    OAEP,
    approved_grant,
    audit_bytes,
    fingerprint,
    open_envelope_v2,
    pem,
    rsa_key,
    two_admin_cluster,
    unwrap_rsa_aes,
)
from tests.integration.clients_support import assert_not_in_files
from tests.integration.helpers import client_for, eventually
from tests.integration.test_cli import cluster_env, keymgr, one_line_error

AZURE_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
RECOVERED: list[bytes] = []  # every material a test recovered: none may be in a node's files


@pytest.fixture(scope="module")
def export_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    local = two_admin_cluster(tmp_path_factory.mktemp("export-cluster"))
    try:
        yield local
        assert len(RECOVERED) >= 6
        assert assert_not_in_files(RECOVERED, local.root) > 10  # logs, audit, journal, dumps
        audit = audit_bytes(local)
        for destination in (b"aws", b"gcp", b"azure", b"openbao"):
            assert b"export to " + destination in audit
    finally:
        local.close()


@pytest.fixture(scope="module")
def admins(export_cluster: LocalCluster) -> Iterator[tuple[Client, Client]]:
    with export_cluster.client() as alice, client_for(export_cluster, "bob", "admin") as bob:
        yield alice, bob


def check_material(material: bytes, blob: bytes) -> None:
    RECOVERED.append(material)
    assert len(material) == 32
    assert open_envelope_v2(material, blob) == b"made inside keymgr"


def test_aws_both_wrapping_algorithms_and_the_import_token(admins: tuple[Client, Client]) -> None:
    alice, bob = admins
    token = b"\x01\x02AWS-import-token\xff" * 40
    for bits, algorithm in ((3072, "RSA_AES_KEY_WRAP_SHA_256"), (4096, "RSAES_OAEP_SHA_256")):
        grant_id, blob, _ = approved_grant(alice, bob)
        private = rsa_key(bits)
        exported = alice.export_key(
            grant_id, pem(private), destination="aws", algorithm=algorithm, import_token=token
        )
        assert exported.algorithm == algorithm and exported.import_token == token
        if algorithm == "RSAES_OAEP_SHA_256":
            assert len(exported.wrapped_key) == bits // 8
            material = private.decrypt(exported.wrapped_key, OAEP)
        else:
            assert len(exported.wrapped_key) == bits // 8 + 40  # KWP of 32 bytes: 40
            material = unwrap_rsa_aes(private, exported.wrapped_key, OAEP)
        check_material(material, blob)


def test_gcp_import_job_methods(admins: tuple[Client, Client]) -> None:
    alice, bob = admins
    for bits in (3072, 4096):
        grant_id, blob, _ = approved_grant(alice, bob)
        method = f"RSA_OAEP_{bits}_SHA256_AES_256"
        other = rsa_key(7168 - bits)  # the other size: the method's key size is checked
        with pytest.raises(InvalidArgument, match=f"wrapping_public_key: {method} needs"):
            alice.export_key(grant_id, pem(other), destination="gcp", algorithm=method)
        exported = alice.export_key(
            grant_id, pem(rsa_key(bits)), destination="gcp", algorithm=method
        )  # the refusal left the grant unused
        assert exported.algorithm == method
        check_material(unwrap_rsa_aes(rsa_key(bits), exported.wrapped_key, OAEP), blob)


def test_azure_byok_file(admins: tuple[Client, Client]) -> None:
    alice, bob = admins
    grant_id, blob, name = approved_grant(alice, bob)
    kid = "https://contoso.vault.azure.net/keys/KEKforBYOK/0123456789abcdef"
    with pytest.raises(InvalidArgument, match="kek_id"):
        alice.export_key(grant_id, pem(rsa_key(4096)), destination="azure")
    with pytest.raises(InvalidArgument, match="usage: azure takes"):
        alice.export_key(
            grant_id,
            pem(rsa_key(4096)),
            destination="azure",
            kek_id=kid,
            usage="generate-verify-mac",
        )
    exported = alice.export_key(
        grant_id, pem(rsa_key(4096)), destination="azure", kek_id=kid, usage="wrap-unwrap"
    )
    document = json.loads(exported.wrapped_key)
    assert set(document) == {"schema_version", "header", "ciphertext", "generator"}
    assert document["header"] == {"kid": kid, "alg": "dir", "enc": "CKM_RSA_AES_KEY_WRAP"}
    assert document["generator"] and document["schema_version"]
    ciphertext = document["ciphertext"]
    assert "=" not in ciphertext and "+" not in ciphertext and "/" not in ciphertext
    raw = base64.urlsafe_b64decode(ciphertext + "=" * (-len(ciphertext) % 4))
    check_material(unwrap_rsa_aes(rsa_key(4096), raw, AZURE_OAEP), blob)
    [record] = alice.list_export_bundles(name)
    assert (record.destination, record.kek_id, record.usage) == ("azure", kid, "wrap-unwrap")


def test_openbao_transit_ciphertext(admins: tuple[Client, Client]) -> None:
    alice, bob = admins
    grant_id, blob, _ = approved_grant(alice, bob)
    with pytest.raises(InvalidArgument, match="openbao needs an RSA-4096 wrapping key"):
        alice.export_key(grant_id, pem(rsa_key(3072)), destination="openbao")
    exported = alice.export_key(grant_id, pem(rsa_key(4096)), destination="openbao")
    raw = base64.b64decode(exported.wrapped_key, validate=True)
    check_material(unwrap_rsa_aes(rsa_key(4096), raw, OAEP), blob)


def test_every_export_is_recorded_and_listed(
    admins: tuple[Client, Client], export_cluster: LocalCluster, tmp_path: Path
) -> None:
    alice, bob = admins
    grant_id, blob, name = approved_grant(alice, bob)
    assert alice.list_export_bundles(name) == []
    private = rsa_key(3072)
    exported = alice.export_key(
        grant_id, pem(private), destination="rsa-aes", destination_name="vault-7@dc2"
    )
    check_material(unwrap_rsa_aes(private, exported.wrapped_key, OAEP), blob)
    [record] = alice.list_export_bundles(name)
    assert record.destination_name == "vault-7@dc2"
    key = alice.get_key(name)
    assert (record.id, record.key_id, record.version) == (grant_id, key.id, 1)
    assert record.destination == "rsa-aes" and record.wrapping_key_sha256 == fingerprint(private)
    assert record.usage == "encrypt-decrypt"  # the default for an encrypt key
    assert sorted(record.approvers) == sorted([alice.whoami().principal, bob.whoami().principal])
    assert record.exported_by == alice.whoami().principal and record.exported_at_ms > 0
    for node in export_cluster.spec.nodes:  # replicated: every node gets the record
        assert eventually(lambda api=node.api: _on(export_cluster, api, name)) == [record]
    env = cluster_env(export_cluster)
    listed = keymgr("keys", "destinations", name, env=env)
    assert listed.returncode == 0, listed.stderr.decode()
    assert "rsa-aes:vault-7@dc2" in listed.stdout.decode()
    assert fingerprint(private).hex() in listed.stdout.decode()
    assert "usage=encrypt-decrypt" in listed.stdout.decode()
    assert b"export to rsa-aes:vault-7@dc2 (RSA_AES_KEY_WRAP_SHA_256) for encrypt-decrypt" in (
        audit_bytes(export_cluster)
    )
    missing = keymgr("keys", "destinations", "no-such-key", env=env)
    assert "no-such-key" in one_line_error(missing) or "not found" in one_line_error(missing)


def _on(cluster: LocalCluster, endpoint: str, name: str) -> list[store_pb2.ExportBundle]:
    with Client([endpoint], credentials=cluster.credentials) as one:
        return one.list_export_bundles(name)


def test_refusals_are_clear_and_change_nothing(admins: tuple[Client, Client]) -> None:
    alice, bob = admins
    name = f"exp-{uuid.uuid4().hex[:8]}"
    alice.create_key(name)
    pending = alice.request_export(name)
    with pytest.raises(NotFound, match="grant_id: no export grant"):  # not approved yet
        alice.export_key(pending.id, pem(rsa_key(3072)), destination="aws")
    hsm = f"exp-hsm-{uuid.uuid4().hex[:8]}"
    alice.create_key(hsm, purpose=keys_pb2.KEY_PURPOSE_HSM)
    with pytest.raises(FailedPrecondition, match="HSM-held keys cannot be exported"):
        alice.request_export(hsm)
    grant_id, blob, _ = approved_grant(alice, bob)
    ec_pem = (
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    cases: list[tuple[dict[str, Any], str]] = [
        ({"wrapping_public_key": ec_pem, "destination": "aws"}, "wrapping_public_key"),
        ({"wrapping_public_key": pem(rsa_key(2048)), "destination": "aws"}, "wrapping_public_key"),
        ({"destination": "aws", "algorithm": "SYMMETRIC_DEFAULT"}, "algorithm"),
        ({"destination": "gcp"}, "algorithm"),
        ({"destination": "gcp", "algorithm": "RSA_OAEP_3072_SHA1_AES_256"}, "algorithm"),
        ({"destination": "rsa-aes", "import_token": b"tok"}, "import_token"),
        ({"destination": "aws", "kek_id": "kid"}, "kek_id"),
        ({"destination": "aws", "destination_name": "prod eu"}, "destination_name"),
        ({"destination": "aws", "usage": "wrap-unwrap"}, "usage"),
        ({"destination": "rsa-aes", "usage": "sign"}, "usage"),
    ]
    for call, field in cases:
        call.setdefault("wrapping_public_key", pem(rsa_key(3072)))
        with pytest.raises(InvalidArgument) as caught:
            alice.export_key(grant_id, **call)
        assert str(caught.value).find(field) >= 0, str(caught.value)
    exported = alice.export_key(grant_id, pem(rsa_key(3072)), destination="aws")
    check_material(unwrap_rsa_aes(rsa_key(3072), exported.wrapped_key, OAEP), blob)
    with pytest.raises(FailedPrecondition, match="already used"):
        alice.export_key(grant_id, pem(rsa_key(3072)), destination="aws")


def test_non_exportable_keys_never_leave(
    admins: tuple[Client, Client], export_cluster: LocalCluster
) -> None:
    """A key created non-exportable gets no export grant (refused before any approval is
    asked for) for any version, from the SDK or the CLI; the flag shows and stays."""
    alice, _ = admins
    name = f"kept-{uuid.uuid4().hex[:8]}"
    env = cluster_env(export_cluster)
    created = keymgr("keys", "create", name, "--non-exportable", env=env)
    assert created.returncode == 0, created.stderr.decode()
    assert "no (fixed at creation)" in created.stdout.decode()
    alice.rotate_key(name)
    for version in (0, 1, 2):
        with pytest.raises(FailedPrecondition, match="created non-exportable"):
            alice.request_export(name, version=version)
    refused = keymgr("export", "request", name, env=env)
    assert "created non-exportable" in one_line_error(refused)
    assert alice.get_key(name).non_exportable
    operations = alice.list_approvals(include_decided=True).operations
    assert not [op for op in operations if name in op.summary]
    assert alice.list_export_bundles(name) == []


def test_export_wrapped_files_the_request_then_writes_the_payload(
    admins: tuple[Client, Client], export_cluster: LocalCluster, tmp_path: Path
) -> None:
    """`keymgr keys export-wrapped`: exit 3 with the approve and re-run commands, no
    second request while one waits, then (approved) the payload exactly as `export
    fetch` writes it, a record with the usage, and `report byok --json` showing it."""
    alice, bob = admins
    env = cluster_env(export_cluster)
    name = f"wrapped-{uuid.uuid4().hex[:8]}"
    alice.create_key(name)
    blob = alice.encrypt(name, b"made inside keymgr", consistent=True)
    private = rsa_key(3072)
    wrapping = tmp_path / "WrappingPublicKey.pem"
    wrapping.write_bytes(pem(private))
    out = tmp_path / "EncryptedKeyMaterial.bin"
    argv = [
        "keys",
        "export-wrapped",
        name,
        "--to",
        "aws",
        "--wrapping-key",
        str(wrapping),
        "--out",
        str(out),
        "--destination-name",
        "acct-1",
        "--usage",
        "generate-verify-mac",
    ]
    first = keymgr(*argv, env=env)
    assert first.returncode == 3, first.stderr.decode()
    text = first.stdout.decode()
    [operation_id] = re.findall(r"keymgr approvals approve (\S+)", text)
    [rerun] = re.findall(r"Then run again: +(.+)", text)
    assert shlex.split(rerun)[:3] == ["keymgr", "keys", "export-wrapped"] and not out.exists()
    waiting = keymgr(*argv, env=env)
    assert waiting.returncode == 3 and operation_id in waiting.stdout.decode()
    assert b"waits" in waiting.stdout
    requests = [
        op
        for op in alice.list_approvals(include_decided=True).operations
        if op.kind == "export-key" and name in op.summary
    ]
    assert [op.id for op in requests] == [operation_id]  # no second request filed
    assert bob.approve(operation_id).state == store_pb2.OPERATION_STATE_EXECUTED
    done = keymgr(*shlex.split(rerun)[1:], env=env)
    assert done.returncode == 0, done.stderr.decode()
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    check_material(unwrap_rsa_aes(private, out.read_bytes(), OAEP), blob)
    [record] = alice.list_export_bundles(name)
    assert record.id == operation_id and record.usage == "generate-verify-mac"
    assert (record.destination, record.destination_name) == ("aws", "acct-1")
    listed = keymgr("keys", "destinations", name, "--json", env=env)
    assert json.loads(listed.stdout)[0]["usage"] == "generate-verify-mac"
    out.unlink()
    again = keymgr(*argv, env=env)  # the grant is spent: a new request
    assert again.returncode == 3 and operation_id not in again.stdout.decode()
    [second] = re.findall(r"keymgr approvals approve (\S+)", again.stdout.decode())
    assert bob.approve(second).state == store_pb2.OPERATION_STATE_EXECUTED
    fetched = keymgr(
        "export",
        "fetch",
        second,
        "--destination",
        "aws",
        "--public-key",
        str(wrapping),
        "--out",
        str(tmp_path / "two.bin"),
        "--usage",
        "encrypt-decrypt",
        env=env,
    )  # the two-step flow still works
    assert fetched.returncode == 0, fetched.stderr.decode()
    check_material(unwrap_rsa_aes(private, (tmp_path / "two.bin").read_bytes(), OAEP), blob)
    assert [b.usage for b in alice.list_export_bundles(name)] == [
        "generate-verify-mac",
        "encrypt-decrypt",
    ]
    alice.rotate_key(name)
    report = keymgr("report", "byok", "--json", env=env)
    assert report.returncode == 2, report.stderr.decode()
    rows = {
        (r["destination"], r["destination_name"]): r["last_usage"]
        for r in json.loads(report.stdout)["missing"]
        if r["key"] == name
    }
    assert rows == {("aws", "acct-1"): "generate-verify-mac", ("aws", ""): "encrypt-decrypt"}
    bad = keymgr(
        "keys",
        "export-wrapped",
        name,
        "--to",
        "aws",
        "--wrapping-key",
        str(tmp_path / "missing.pem"),
        "--out",
        str(out),
        env=env,
    )
    assert "--wrapping-key: file not found" in one_line_error(bad)
