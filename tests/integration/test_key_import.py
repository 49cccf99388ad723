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
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-inkey",
        str(tmp / "wrap.pem"),
        "-in",
        str(tmp / "aes.key"),
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        "rsa_oaep_md:sha256",
        "-pkeyopt",
        "rsa_mgf1_md:sha256",
    )
    wrapped = openssl(
        "enc", "-id-aes256-wrap-pad", "-K", ephemeral.hex(), "-iv", "A65959A6", data=secret
    )
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
        key.name,
        import_token=params.import_token,
        wrapped_key_material=payload,
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
    byok.import_key_material(
        key.name,
        import_token=params.import_token,
        wrapped_key_material=public.encrypt(first, OAEP),
        algorithm=DIRECT,
    )
    old_blob = byok.encrypt(key.name, b"v1", consistent=True)
    again = byok.get_import_parameters(key.name)
    second = material()
    two = byok.import_key_material(
        key.name,
        import_token=again.import_token,
        wrapped_key_material=python_wrap(again.public_key, second),
    )
    assert two.current_version == 2
    assert open_envelope_v2(second, byok.encrypt(key.name, b"v2", consistent=True)) == b"v2"
    assert open_envelope_v2(first, old_blob) == b"v1"
    with pytest.raises(FailedPrecondition, match="import a new version"):
        byok.rotate_key(key.name)
    # re-import into version 1: the same material is accepted, other material is not
    third = byok.get_import_parameters(key.name)
    with pytest.raises(FailedPrecondition, match="wrapped_key_material: differs"):
        byok.import_key_material(
            key.name,
            import_token=third.import_token,
            version=1,
            wrapped_key_material=python_wrap(third.public_key, material()),
        )
    same = byok.import_key_material(
        key.name,
        import_token=third.import_token,
        version=1,
        wrapped_key_material=python_wrap(third.public_key, first),
    )
    assert same.current_version == 2 and len(same.versions) == 2


def _state(client: Client, name: str) -> bytes:
    return client.get_key(name).SerializeToString(deterministic=True)


def _refused(client: Client, name: str, error: type[KeymgrError], field: str, **call: Any) -> None:
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
        (
            InvalidArgument,
            "wrapped_key_material",
            {"algorithm": DIRECT, "wrapped_key_material": good},
        ),
        (InvalidArgument, "wrapped_key_material", {"wrapped_key_material": good[:-8]}),
        (InvalidArgument, "wrapped_key_material", {"wrapped_key_material": bytes(flipped)}),
        (InvalidArgument, "wrapped_key_material", {"wrapped_key_material": bytes(rsa_flipped)}),
        (
            InvalidArgument,
            "wrapped_key_material",
            {"wrapped_key_material": python_wrap(params.public_key, material()[:16])},
        ),
        (InvalidArgument, "wrapped_key_material", {"wrapped_key_material": b""}),
        (
            InvalidArgument,
            "import_token",
            {"wrapped_key_material": good, "import_token": other_params.import_token},
        ),
        (
            InvalidArgument,
            "import_token",
            {"wrapped_key_material": good, "import_token": token[:-1]},
        ),
        (InvalidArgument, "version", {"wrapped_key_material": good, "version": 3}),
    ]
    for error, field, call in cases:
        call.setdefault("import_token", token)
        _refused(byok, key.name, error, field, **call)
    assert byok.get_key(key.name).current_version == 0
    byok.import_key_material(key.name, import_token=token, wrapped_key_material=good)
    _refused(
        byok,
        key.name,
        FailedPrecondition,
        "import_token",
        import_token=token,
        wrapped_key_material=good,
    )  # single use


def test_replaced_token_and_keymgr_keys(byok: Client) -> None:
    key = external_key(byok)
    params = byok.get_import_parameters(key.name)
    newer = byok.get_import_parameters(key.name)  # replaces the first token
    _refused(
        byok,
        key.name,
        FailedPrecondition,
        "import_token",
        import_token=params.import_token,
        wrapped_key_material=python_wrap(params.public_key, material()),
    )
    made = byok.create_key(f"made-{uuid.uuid4().hex[:8]}")
    with pytest.raises(FailedPrecondition, match=r"name_or_id: .*origin KEYMGR"):
        byok.get_import_parameters(made.name)
    _refused(
        byok,
        made.name,
        FailedPrecondition,
        "origin KEYMGR",
        import_token=newer.import_token,
        wrapped_key_material=python_wrap(newer.public_key, material()),
    )
    with pytest.raises(InvalidArgument, match="wrapping_key_bits"):
        byok.get_import_parameters(key.name, wrapping_key_bits=2048)
    with pytest.raises(InvalidArgument, match="validity_seconds"):
        byok.get_import_parameters(key.name, validity_seconds=10)
    with pytest.raises(NotFound):
        byok.get_import_parameters("no-such-key-byok")
    with pytest.raises(InvalidArgument, match="rotation_period_seconds"):
        byok.create_key(
            f"rot-{uuid.uuid4().hex[:8]}", origin="external", rotation_period_seconds=3600
        )
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
    params = keymgr(
        "keys",
        "import-params",
        name,
        "--out-public-key",
        str(pem),
        "--out-token",
        str(token),
        env=env,
    )
    assert params.returncode == 0, params.stderr
    assert oct(token.stat().st_mode & 0o777) == "0o600"
    secret = material()
    payload = tmp_path / "payload.bin"
    payload.write_bytes(openssl_wrap(pem.read_text(), secret, tmp_path))
    imported = keymgr(
        "keys", "import", name, "--wrapped", str(payload), "--token", str(token), env=env
    )
    assert imported.returncode == 0, imported.stderr
    history = keymgr("keys", "history", name, env=env)
    assert b"external" in history.stdout
    again = keymgr(
        "keys", "import", name, "--wrapped", str(payload), "--token", str(token), env=env
    )
    assert "import_token" in one_line_error(again)
    with byok_cluster.client() as client:
        blob = client.encrypt(name, b"cli", consistent=True)
    assert open_envelope_v2(secret, blob) == b"cli"


def _until(check: Any, timeout_s: float, what: str) -> Any:
    """Polls `check` until it returns something true (bounded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.2)


def test_imported_material_expires_is_erased_and_comes_back(
    byok_cluster: LocalCluster, tmp_path: Path
) -> None:
    """`keys import --expires-in 4s` on a 3-node cluster: every node serves the version
    until its expiry, then every node refuses it with FAILED_PRECONDITION, the leader
    erases it (audit line, `keys history` says so), and the same material imported
    again brings the version back: an old ciphertext opens again."""
    env = cluster_env(byok_cluster)
    nodes = byok_cluster.spec.nodes
    with byok_cluster.client() as client:
        key = external_key(client)
        params = client.get_import_parameters(key.name)
        with pytest.raises(InvalidArgument, match="expires_at_ms"):
            client.import_key_material(
                key.name,
                import_token=params.import_token,
                expires_at_ms=1000,
                wrapped_key_material=python_wrap(params.public_key, material()),
            )
        secret = material()
        pem, token, payload = tmp_path / "w.pem", tmp_path / "t.txt", tmp_path / "p.bin"
        pem.write_text(params.public_key_pem)
        token.write_text(params.import_token + "\n")
        payload.write_bytes(python_wrap(params.public_key, secret))
        started_ms = time.time() * 1000
        imported = keymgr(
            "keys",
            "import",
            key.name,
            "--wrapped",
            str(payload),
            "--token",
            str(token),
            "--expires-in",
            "4s",
            env=env,
        )
        assert imported.returncode == 0, imported.stderr
        assert b"(expires " in imported.stdout
        version = client.get_key(key.name).versions[0]
        assert started_ms + 3000 < version.expires_at_ms < time.time() * 1000 + 4000
        assert not version.material_expired
        blobs = [
            client.encrypt(key.name, b"before expiry", consistent=True, endpoint=n.api)
            for n in nodes
        ]
        history = keymgr("keys", "history", key.name, env=env)
        assert b"Expires" in history.stdout and b"expired" not in history.stdout

        time.sleep(max(0.0, version.expires_at_ms / 1000 - time.time()))
        message = f"version 1 of key {key.name!r}: imported material expired; import it again"
        for node, blob in zip(nodes, blobs, strict=True):
            with pytest.raises(FailedPrecondition) as refused:
                client.decrypt(blob, endpoint=node.api)
            assert message in str(refused.value)
            with pytest.raises(FailedPrecondition, match="imported material expired"):
                client.encrypt(key.name, b"after expiry", endpoint=node.api)

        def erased_everywhere() -> bool:
            for n in nodes:
                with byok_cluster.client([n.id]) as one:
                    if not one.get_key(key.name).versions[0].material_expired:
                        return False
            return True

        _until(erased_everywhere, 15, "the leader to erase the expired material")
        audit = b"".join(Path(p).read_bytes() for p in byok_cluster.spec.audit_files.values())
        erasures = [
            line
            for line in audit.splitlines()
            if b"ExpireImportedMaterial" in line and key.id.encode() in line
        ]
        assert len(erasures) == 1, erasures  # once, however many rounds the leader ran
        assert b'"principal":"scheduler"' in erasures[0].replace(b" ", b"")
        history = keymgr("keys", "history", key.name, env=env)
        assert b"expired (material erased)" in history.stdout, history.stdout
        shown = keymgr("keys", "get", key.name, env=env)
        assert b"expired (material erased)" in shown.stdout
        with pytest.raises(FailedPrecondition, match="imported material expired"):
            client.request_export(key.name)

        again = client.get_import_parameters(key.name)
        with pytest.raises(FailedPrecondition, match="wrapped_key_material: differs"):
            client.import_key_material(
                key.name,
                import_token=again.import_token,
                version=1,
                wrapped_key_material=python_wrap(again.public_key, material()),
            )
        back = client.import_key_material(
            key.name,
            import_token=again.import_token,
            version=1,
            wrapped_key_material=python_wrap(again.public_key, secret),
        )
        assert back.current_version == 1
        assert not back.versions[0].material_expired and back.versions[0].expires_at_ms == 0
        for node, blob in zip(nodes, blobs, strict=True):
            opened = _until(
                lambda n=node, b=blob: _decrypts(client, b, n.api),
                10,
                f"node {node.id} to serve the re-imported version",
            )
            assert opened == b"before expiry"


def _decrypts(client: Client, blob: bytes, endpoint: str) -> bytes | None:
    try:
        return client.decrypt(blob, endpoint=endpoint)
    except FailedPrecondition:
        return None  # this node has not applied the re-import yet


def test_zz_expired_token_is_refused(byok: Client, expiring: Any) -> None:
    """Last in the module: waits (at most 60 s) for the token made first to expire."""
    key, params = expiring
    time.sleep(max(0.0, params.expires_at_ms / 1000 - time.time()) + 0.5)
    _refused(
        byok,
        key.name,
        FailedPrecondition,
        "import_token: expired",
        import_token=params.import_token,
        wrapped_key_material=python_wrap(params.public_key, material()),
    )
    assert byok.get_key(key.name).current_version == 0
