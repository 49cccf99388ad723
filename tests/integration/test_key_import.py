"""Key import (BYOK) end to end: a real wrapping client (`openssl`, then Python
`cryptography`) wraps material, keymgr imports it, and a keymgr ciphertext made with the
imported key is opened outside keymgr with the original material. Every bad input gets
its own status naming the field, leaves the key as it was, and no material reaches the
nodes' logs or audit files."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from keymgr.client import Client, FailedPrecondition, InvalidArgument, KeymgrError, NotFound
from keymgr.ops.devcluster import LocalCluster
from keymgr.v1 import keys_pb2
from tests.integration.byok_support import OAEP, open_envelope_v2
from tests.integration.clients_support import assert_not_in_files
from tests.integration.conftest import _spec
from tests.integration.test_cli import cluster_env, keymgr, one_line_error

TWO_STEP = "RSA_AES_KEY_WRAP_SHA_256"
DIRECT = "RSAES_OAEP_SHA_256"
MATERIALS: list[bytes] = []  # every material a test wrapped: none may reach a node's files


@pytest.fixture(scope="module")
def byok_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    root = tmp_path_factory.mktemp("byok-cluster")
    spec = _spec()
    spec.audit_files = {node.id: str(root / f"audit-{node.id}.log") for node in spec.nodes}
    local = LocalCluster(root, spec)
    try:
        local.bring_up()
        yield local
        assert len(MATERIALS) >= 8
        assert assert_not_in_files(MATERIALS, local.root) > 10  # logs, audit, journal, dumps
        audit = b"".join(Path(path).read_bytes() for path in spec.audit_files.values())
        assert b"ImportKeyMaterial" in audit and b"GetImportParameters" in audit
    finally:
        local.close()


@pytest.fixture(scope="module")
def expiring(
    byok_cluster: LocalCluster,
) -> tuple[keys_pb2.Key, keys_pb2.GetImportParametersResponse]:
    """A token with the shortest validity (60 s), made first so that the last test of the
    module waits for its expiry as little as possible."""
    with byok_cluster.client() as client:
        key = external_key(client)
        return key, client.get_import_parameters(key.name, validity_seconds=60)


@pytest.fixture
def byok(byok_cluster: LocalCluster) -> Iterator[Client]:
    with byok_cluster.client() as c:
        yield c


def material() -> bytes:
    value = os.urandom(32)
    MATERIALS.append(value)
    return value


def external_key(client: Client) -> keys_pb2.Key:
    return client.create_key(f"byok-{uuid.uuid4().hex[:8]}", origin="external")


def openssl(*args: str, data: bytes = b"") -> bytes:
    done = subprocess.run(["openssl", *args], input=data, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def openssl_wrap(public_pem: str, secret: bytes, tmp: Path) -> bytes:
    """The RSA_AES_KEY_WRAP_SHA_256 payload as an operator makes it with openssl."""
    (tmp / "wrap.pem").write_text(public_pem)
    ephemeral = os.urandom(32)
    (tmp / "aes.key").write_bytes(ephemeral)
    rsa_part = openssl(
        "pkeyutl", "-encrypt", "-pubin", "-inkey", str(tmp / "wrap.pem"),
        "-in", str(tmp / "aes.key"),
        "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256",
        "-pkeyopt", "rsa_mgf1_md:sha256",
    )
    wrapped = openssl("enc", "-id-aes256-wrap-pad", "-K", ephemeral.hex(), "-iv", "A65959A6",
                      data=secret)
    return rsa_part + wrapped


def python_wrap(public_der: bytes, secret: bytes) -> bytes:
    """RSA_AES_KEY_WRAP_SHA_256 with Python's `cryptography` (for the bad-input cases)."""
    public: Any = serialization.load_der_public_key(public_der)
    ephemeral = os.urandom(32)
    return public.encrypt(ephemeral, OAEP) + aes_key_wrap_with_padding(ephemeral, secret)


def test_openssl_wrapped_material_imports_and_ciphertexts_open_outside(
    byok: Client, tmp_path: Path, byok_cluster: LocalCluster, expiring: Any
) -> None:
    key = external_key(byok)
    assert key.origin == keys_pb2.KEY_ORIGIN_EXTERNAL and key.current_version == 0
    with pytest.raises(FailedPrecondition, match="key has no material: import it"):
        byok.encrypt(key.name, b"too early")
    params = byok.get_import_parameters(key.name)
    assert params.wrapping_key_bits == 3072 and params.key_id == key.id
    secret = material()
    payload = openssl_wrap(params.public_key_pem, secret, tmp_path)
    imported = byok.import_key_material(
        key.name, import_token=params.import_token, wrapped_key_material=payload,
        algorithm=TWO_STEP,
    )
    assert imported.current_version == 1
    version = imported.versions[0]
    assert version.origin == keys_pb2.KEY_ORIGIN_EXTERNAL and version.created_by
    for node in byok_cluster.spec.nodes:  # every node opens it: the material replicated
        blob = byok.encrypt(key.name, b"made by keymgr", consistent=True, endpoint=node.api)
        assert open_envelope_v2(secret, blob) == b"made by keymgr"
    data_key = byok.generate_data_key(key.name)
    assert open_envelope_v2(secret, data_key.ciphertext_blob) == data_key.plaintext
    history = byok.get_key(key.id)
    assert [v.origin for v in history.versions] == [keys_pb2.KEY_ORIGIN_EXTERNAL]


def test_direct_oaep_import_4096_and_a_second_version(byok: Client) -> None:
    key = external_key(byok)
    params = byok.get_import_parameters(key.name, wrapping_key_bits=4096)
    assert params.wrapping_key_bits == 4096
    public: Any = serialization.load_der_public_key(params.public_key)
    first = material()
    byok.import_key_material(key.name, import_token=params.import_token,
                             wrapped_key_material=public.encrypt(first, OAEP), algorithm=DIRECT)
    old_blob = byok.encrypt(key.name, b"v1", consistent=True)
    again = byok.get_import_parameters(key.name)
    second = material()
    two = byok.import_key_material(key.name, import_token=again.import_token,
                                   wrapped_key_material=python_wrap(again.public_key, second))
    assert two.current_version == 2
    assert open_envelope_v2(second, byok.encrypt(key.name, b"v2", consistent=True)) == b"v2"
    assert open_envelope_v2(first, old_blob) == b"v1"
    with pytest.raises(FailedPrecondition, match="import a new version"):
        byok.rotate_key(key.name)
    # re-import into version 1: the same material is accepted, other material is not
    third = byok.get_import_parameters(key.name)
    with pytest.raises(FailedPrecondition, match="wrapped_key_material: differs"):
        byok.import_key_material(key.name, import_token=third.import_token, version=1,
                                 wrapped_key_material=python_wrap(third.public_key, material()))
    same = byok.import_key_material(key.name, import_token=third.import_token, version=1,
                                    wrapped_key_material=python_wrap(third.public_key, first))
    assert same.current_version == 2 and len(same.versions) == 2


def _state(client: Client, name: str) -> bytes:
    return client.get_key(name).SerializeToString(deterministic=True)


def _refused(
    client: Client, name: str, error: type[KeymgrError], field: str, **call: Any
) -> None:
    before = _state(client, name)
    with pytest.raises(error) as caught:
        client.import_key_material(name, **call)
    assert field in str(caught.value), str(caught.value)
    for secret in MATERIALS:
        assert secret.hex() not in str(caught.value)
    assert _state(client, name) == before  # nothing half-imported


def test_bad_imports_name_the_field_and_change_nothing(byok: Client) -> None:
    key = external_key(byok)
    other = external_key(byok)
    params = byok.get_import_parameters(key.name)
    other_params = byok.get_import_parameters(other.name)
    secret = material()
    good = python_wrap(params.public_key, secret)
    token = params.import_token
    flipped = bytearray(good)
    flipped[-3] ^= 0x01
    rsa_flipped = bytearray(good)
    rsa_flipped[10] ^= 0x01
    cases: list[tuple[type[KeymgrError], str, dict[str, Any]]] = [
        (InvalidArgument, "algorithm", {"algorithm": "AES_GCM", "wrapped_key_material": good}),
        (InvalidArgument, "wrapped_key_material", {"algorithm": DIRECT,
                                                   "wrapped_key_material": good}),
        (InvalidArgument, "wrapped_key_material", {"wrapped_key_material": good[:-8]}),
        (InvalidArgument, "wrapped_key_material", {"wrapped_key_material": bytes(flipped)}),
        (InvalidArgument, "wrapped_key_material", {"wrapped_key_material": bytes(rsa_flipped)}),
        (InvalidArgument, "wrapped_key_material",
         {"wrapped_key_material": python_wrap(params.public_key, material()[:16])}),
        (InvalidArgument, "wrapped_key_material", {"wrapped_key_material": b""}),
        (InvalidArgument, "import_token", {"wrapped_key_material": good,
                                           "import_token": other_params.import_token}),
        (InvalidArgument, "import_token", {"wrapped_key_material": good,
                                           "import_token": token[:-1]}),
        (InvalidArgument, "version", {"wrapped_key_material": good, "version": 3}),
    ]
    for error, field, call in cases:
        call.setdefault("import_token", token)
        _refused(byok, key.name, error, field, **call)
    assert byok.get_key(key.name).current_version == 0
    byok.import_key_material(key.name, import_token=token, wrapped_key_material=good)
    _refused(byok, key.name, FailedPrecondition, "import_token", import_token=token,
             wrapped_key_material=good)  # single use


def test_replaced_token_and_keymgr_keys(byok: Client) -> None:
    key = external_key(byok)
    params = byok.get_import_parameters(key.name)
    newer = byok.get_import_parameters(key.name)  # replaces the first token
    _refused(byok, key.name, FailedPrecondition, "import_token",
             import_token=params.import_token,
             wrapped_key_material=python_wrap(params.public_key, material()))
    made = byok.create_key(f"made-{uuid.uuid4().hex[:8]}")
    with pytest.raises(FailedPrecondition, match=r"name_or_id: .*origin KEYMGR"):
        byok.get_import_parameters(made.name)
    _refused(byok, made.name, FailedPrecondition, "origin KEYMGR",
             import_token=newer.import_token,
             wrapped_key_material=python_wrap(newer.public_key, material()))
    with pytest.raises(InvalidArgument, match="wrapping_key_bits"):
        byok.get_import_parameters(key.name, wrapping_key_bits=2048)
    with pytest.raises(InvalidArgument, match="validity_seconds"):
        byok.get_import_parameters(key.name, validity_seconds=10)
    with pytest.raises(NotFound):
        byok.get_import_parameters("no-such-key-byok")
    with pytest.raises(InvalidArgument, match="rotation_period_seconds"):
        byok.create_key(f"rot-{uuid.uuid4().hex[:8]}", origin="external",
                        rotation_period_seconds=3600)
    for call in (
        lambda: byok.generate_data_key(key.name),
        lambda: byok.re_encrypt(byok.encrypt(made.name, b"x"), destination_key_name=key.name),
    ):
        with pytest.raises(FailedPrecondition, match="key has no material: import it"):
            call()


def test_cli_import_as_the_guide_runs_it(byok_cluster: LocalCluster, tmp_path: Path) -> None:
    env = cluster_env(byok_cluster)
    name = f"cli-byok-{uuid.uuid4().hex[:6]}"
    created = keymgr("keys", "create", name, "--origin", "external", env=env)
    assert created.returncode == 0 and b"external" in created.stdout, created.stderr
    pem, token = tmp_path / "wrap.pem", tmp_path / "token.txt"
    params = keymgr("keys", "import-params", name, "--out-public-key", str(pem),
                    "--out-token", str(token), env=env)
    assert params.returncode == 0, params.stderr
    assert oct(token.stat().st_mode & 0o777) == "0o600"
    secret = material()
    payload = tmp_path / "payload.bin"
    payload.write_bytes(openssl_wrap(pem.read_text(), secret, tmp_path))
    imported = keymgr("keys", "import", name, "--wrapped", str(payload), "--token", str(token),
                      env=env)
    assert imported.returncode == 0, imported.stderr
    history = keymgr("keys", "history", name, env=env)
    assert b"external" in history.stdout
    again = keymgr("keys", "import", name, "--wrapped", str(payload), "--token", str(token),
                   env=env)
    assert "import_token" in one_line_error(again)
    with byok_cluster.client() as client:
        blob = client.encrypt(name, b"cli", consistent=True)
    assert open_envelope_v2(secret, blob) == b"cli"


def test_zz_expired_token_is_refused(byok: Client, expiring: Any) -> None:
    """Last in the module: waits (at most 60 s) for the token made first to expire."""
    key, params = expiring
    time.sleep(max(0.0, params.expires_at_ms / 1000 - time.time()) + 0.5)
    _refused(byok, key.name, FailedPrecondition, "import_token: expired",
             import_token=params.import_token,
             wrapped_key_material=python_wrap(params.public_key, material()))
    assert byok.get_key(key.name).current_version == 0
