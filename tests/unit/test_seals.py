"""Seals: one contract suite for every Seal, then the file seal, the sealed-root-key
file and the Shamir share collector."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keymgr.crypto import shamir as sss
from keymgr.crypto.barrier import unwrap_root_key, wrap_root_key
from keymgr.crypto.errors import DecryptionFailed, InvalidShare
from keymgr.seal import Seal, SealedRootKeyStore
from keymgr.seal import shamir as shamir_seal
from keymgr.seal.devfile import FileSeal
from keymgr.seal.shamir import ShareCollector, new_shamir_init
from keymgr.v1 import store_pb2
from tests.unit.softhsm_process import new_token, token_seal, write_pin_file

ROOT = bytes(range(32))

# --- contract: every Seal implementation ------------------------------------------
# Each factory makes a fresh, independent seal in a directory. The PKCS#11 seal gets a
# new SoftHSM token each time, in the one SoftHSM this test process can load.
SealFactory = Callable[[Path], Seal]


def _file_seal(directory: Path) -> Seal:
    return FileSeal(directory / "seal.key")


def _pkcs11_seal(directory: Path) -> Seal:
    return token_seal(new_token(), write_pin_file(directory))


SEAL_FACTORIES: dict[str, SealFactory] = {"file": _file_seal, "pkcs11": _pkcs11_seal}


@pytest.fixture(params=sorted(SEAL_FACTORIES))
def factory(request: pytest.FixtureRequest) -> SealFactory:
    return SEAL_FACTORIES[request.param]


@pytest.fixture
def seal(factory: SealFactory, tmp_path: Path) -> Seal:
    (tmp_path / "a").mkdir()
    return factory(tmp_path / "a")


@pytest.fixture
def other_seal(factory: SealFactory, tmp_path: Path) -> Seal:
    (tmp_path / "b").mkdir()
    return factory(tmp_path / "b")


def test_contract_is_a_seal(seal: Seal) -> None:
    assert isinstance(seal, Seal)
    assert seal.seal_type in {"file", "pkcs11"}
    assert isinstance(seal.auto_unseal, bool)


def test_contract_round_trip(seal: Seal) -> None:
    root = os.urandom(32)
    assert seal.unwrap_root_key(seal.wrap_root_key(root)) == root


def test_contract_wraps_are_randomised(seal: Seal) -> None:
    assert seal.wrap_root_key(ROOT) != seal.wrap_root_key(ROOT)


def test_contract_flipped_byte_fails(seal: Seal) -> None:
    blob = seal.wrap_root_key(ROOT)
    for index in range(len(blob)):
        tampered = bytearray(blob)
        tampered[index] ^= 0x01
        with pytest.raises(DecryptionFailed):
            seal.unwrap_root_key(bytes(tampered))


def test_contract_truncated_blob_fails(seal: Seal) -> None:
    blob = seal.wrap_root_key(ROOT)
    for size in (0, 1, len(blob) - 1):
        with pytest.raises(DecryptionFailed):
            seal.unwrap_root_key(blob[:size])


def test_contract_wrong_seal_fails(seal: Seal, other_seal: Seal) -> None:
    # other_seal has made its key (an HSM seal whose key is missing reports the HSM
    # as unavailable instead, so that the node retries: see the pkcs11 tests)
    other_seal.unwrap_root_key(other_seal.wrap_root_key(ROOT))
    with pytest.raises(DecryptionFailed):
        other_seal.unwrap_root_key(seal.wrap_root_key(ROOT))


def test_contract_blob_does_not_contain_root_key(seal: Seal) -> None:
    root = os.urandom(32)
    blob = seal.wrap_root_key(root)
    assert root not in blob
    assert root[:8] not in blob
    assert root.hex().encode() not in blob
    assert base64.b64encode(root) not in blob


def test_contract_rejects_root_key_of_wrong_length(seal: Seal) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        seal.wrap_root_key(bytes(16))


def test_contract_repr_holds_no_key(seal: Seal) -> None:
    seal.wrap_root_key(ROOT)
    assert ROOT.hex() not in repr(seal)


# --- file seal ----------------------------------------------------------------------


def test_file_seal_creates_private_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "seal.key"
    file_seal = FileSeal(key_file)
    assert file_seal.seal_type == "file"
    assert file_seal.auto_unseal is True
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_bytes()) == 32
    assert key_file.read_bytes() != bytes(32)


def test_file_seal_reuses_existing_key(tmp_path: Path) -> None:
    key_file = tmp_path / "seal.key"
    blob = FileSeal(key_file).wrap_root_key(ROOT)
    assert FileSeal(key_file).unwrap_root_key(blob) == ROOT


def test_file_seal_uses_the_documented_construction(tmp_path: Path) -> None:
    import hashlib
    import hmac

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key_file = tmp_path / "seal.key"
    blob = FileSeal(key_file).wrap_root_key(ROOT)
    key = key_file.read_bytes()
    # wrapped-key format v2: 0x02 ‖ salt ‖ nonce ‖ ct ‖ tag under a per-message key
    assert len(blob) == 93 and blob[0] == 2
    salt, nonce, body = blob[1:33], blob[33:45], blob[45:]
    aad = b"\x02keymgr/seal/file"
    message_key = hmac.digest(key, b"keymgr/wrap/v2\0" + salt + aad + b"\x01", hashlib.sha256)
    assert AESGCM(message_key).decrypt(nonce, body, aad) == ROOT


def test_file_seal_opens_a_blob_made_by_the_old_code(tmp_path: Path) -> None:
    fixtures = json.loads(
        (Path(__file__).parent / "testdata" / "v1" / "v1_ciphertexts.json").read_text()
    )
    key_file = tmp_path / "seal.key"
    key_file.write_bytes(bytes.fromhex(fixtures["keys"]["file"]))
    key_file.chmod(0o600)
    blob = bytes.fromhex(fixtures["file_seal"]["blob"])
    assert len(blob) == 60  # v1: nonce ‖ root key ‖ tag, GCM under the file's key
    assert FileSeal(key_file).unwrap_root_key(blob) == bytes.fromhex(fixtures["keys"]["root"])


def test_file_seal_unwrap_secret_is_wipeable(tmp_path: Path) -> None:
    file_seal = FileSeal(tmp_path / "seal.key")
    root = file_seal.unwrap_root_key_secret(file_seal.wrap_root_key(ROOT))
    assert isinstance(root, bytearray) and root == ROOT


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o666])
def test_file_seal_refuses_shared_key_file(tmp_path: Path, mode: int) -> None:
    key_file = tmp_path / "seal.key"
    key_file.write_bytes(os.urandom(32))
    key_file.chmod(mode)
    with pytest.raises(ValueError, match="group or others") as info:
        FileSeal(key_file)
    assert str(key_file) in str(info.value)


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_file_seal_refuses_wrong_length(tmp_path: Path, size: int) -> None:
    key_file = tmp_path / "seal.key"
    key_file.write_bytes(b"k" * size)
    key_file.chmod(0o600)
    with pytest.raises(ValueError, match=f"exactly 32 bytes, has {size}") as info:
        FileSeal(key_file)
    assert str(key_file) in str(info.value)
    assert "kkkk" not in str(info.value)


def test_file_seal_refuses_directory(tmp_path: Path) -> None:
    key_dir = tmp_path / "seal.key"
    key_dir.mkdir(mode=0o700)
    with pytest.raises(ValueError, match="not a regular file"):
        FileSeal(key_dir)


def test_file_seal_refuses_symlink(tmp_path: Path) -> None:
    target = tmp_path / "real.key"
    target.write_bytes(os.urandom(32))
    target.chmod(0o600)
    link = tmp_path / "seal.key"
    link.symlink_to(target)
    with pytest.raises(ValueError, match="cannot open"):
        FileSeal(link)


def test_file_seal_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        FileSeal(tmp_path / "missing" / "seal.key")


# --- sealed root key file ------------------------------------------------------------


def test_store_round_trip(tmp_path: Path) -> None:
    store = SealedRootKeyStore(tmp_path)
    assert store.load() is None
    store.save("file", b"\x00wrapped\xff", generation=2)
    assert store.load() == ("file", b"\x00wrapped\xff", 2)
    path = tmp_path / "sealed-root-key.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "seal_type": "file",
        "format": 1,
        "wrapped": base64.b64encode(b"\x00wrapped\xff").decode(),
        "root_generation": 2,
    }


def test_store_replaces_atomically_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = SealedRootKeyStore(tmp_path)
    store.save("file", b"one")
    store.save("pkcs11", b"two")
    assert store.load() == ("pkcs11", b"two", 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sealed-root-key.json"]


def test_store_creates_data_dir(tmp_path: Path) -> None:
    store = SealedRootKeyStore(tmp_path / "new" / "dir")
    store.save("file", b"x")
    assert store.load() == ("file", b"x", 0)


def test_store_clear(tmp_path: Path) -> None:
    store = SealedRootKeyStore(tmp_path)
    store.clear()  # nothing stored: fine
    store.save("file", b"x")
    store.clear()
    assert store.load() is None
    assert not (tmp_path / "sealed-root-key.json").exists()


def test_store_with_file_seal_end_to_end(tmp_path: Path) -> None:
    file_seal = FileSeal(tmp_path / "seal.key")
    store = SealedRootKeyStore(tmp_path)
    store.save(file_seal.seal_type, file_seal.wrap_root_key(ROOT))
    assert ROOT not in (tmp_path / "sealed-root-key.json").read_bytes()
    loaded = store.load()
    assert loaded is not None
    assert file_seal.unwrap_root_key(loaded[1]) == ROOT


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[]", "expected a JSON object"),
        (b'{"seal_type": "file", "wrapped": "AA=="}', "unsupported format"),
        (b'{"seal_type": "file", "format": 2, "wrapped": "AA=="}', "unsupported format 2"),
        (b'{"format": 1, "wrapped": "AA=="}', "'seal_type'"),
        (b'{"seal_type": "", "format": 1, "wrapped": "AA=="}', "'seal_type'"),
        (b'{"seal_type": "file", "format": 1}', "'wrapped'"),
        (b'{"seal_type": "file", "format": 1, "wrapped": 5}', "'wrapped'"),
        (b'{"seal_type": "file", "format": 1, "wrapped": "!!"}', "not valid base64"),
        (b'{"seal_type": "file", "format": 1, "wrapped": ""}', "'wrapped' is empty"),
        (
            b'{"seal_type": "file", "format": 1, "wrapped": "AA==", "root_generation": -1}',
            "'root_generation'",
        ),
        (
            b'{"seal_type": "file", "format": 1, "wrapped": "AA==", "root_generation": "1"}',
            "'root_generation'",
        ),
    ],
)
def test_store_rejects_corrupt_file(tmp_path: Path, content: bytes, reason: str) -> None:
    (tmp_path / "sealed-root-key.json").write_bytes(content)
    with pytest.raises(ValueError, match=reason) as info:
        SealedRootKeyStore(tmp_path).load()
    assert "sealed-root-key.json" in str(info.value)


@pytest.mark.parametrize(("seal_type", "wrapped"), [("", b"x"), ("file", b"")])
def test_store_save_validates(tmp_path: Path, seal_type: str, wrapped: bytes) -> None:
    with pytest.raises(ValueError):
        SealedRootKeyStore(tmp_path).save(seal_type, wrapped)


# --- Shamir seal -------------------------------------------------------------------


def _init(shares: int = 5, threshold: int = 3) -> tuple[list[str], store_pb2.InitCluster]:
    texts, wrapped, digests = new_shamir_init(ROOT, shares, threshold)
    init = store_pb2.InitCluster(
        shamir_wrapped_root_key=wrapped,
        secret_shares=shares,
        secret_threshold=threshold,
        share_digests=digests,
    )
    return texts, init


def test_seal_type_constant() -> None:
    assert shamir_seal.SEAL_TYPE == "shamir"


def test_new_shamir_init_outputs() -> None:
    texts, wrapped, digests = new_shamir_init(ROOT, 5, 3)
    assert len(texts) == 5 and len(digests) == 5
    assert all(t.startswith("km1-") for t in texts)
    assert [sss.share_digest(sss.decode_share(t)) for t in texts] == digests
    assert ROOT not in wrapped
    assert all(ROOT.hex() not in t for t in texts)
    # The wrapped root key opens under the key the shares combine to, with the fixed AAD.
    unseal_key = sss.combine([sss.decode_share(t) for t in texts[:3]])
    assert unwrap_root_key(unseal_key, wrapped, b"keymgr/root-key") == ROOT


def test_new_shamir_init_is_randomised() -> None:
    a = new_shamir_init(ROOT, 3, 2)
    b = new_shamir_init(ROOT, 3, 2)
    assert a[0] != b[0] and a[1] != b[1]


@pytest.mark.parametrize(("shares", "threshold"), [(0, 0), (2, 3), (256, 1), (3, 0)])
def test_new_shamir_init_validates(shares: int, threshold: int) -> None:
    with pytest.raises(ValueError, match="threshold"):
        new_shamir_init(ROOT, shares, threshold)


def test_new_shamir_init_rejects_bad_root_key() -> None:
    with pytest.raises(ValueError, match="root key must be 32 bytes"):
        new_shamir_init(bytes(16), 3, 2)


def test_collector_unseals_at_threshold() -> None:
    texts, init = _init(5, 3)
    collector = ShareCollector(init)
    assert (collector.progress, collector.threshold, collector.complete) == (0, 3, False)
    assert collector.submit(texts[4]) == 1
    assert collector.submit(texts[0]) == 2
    with pytest.raises(RuntimeError, match="threshold not reached"):
        collector.take_root_key()
    assert collector.submit(texts[2]) == 3
    assert collector.complete
    root = collector.take_root_key()
    assert isinstance(root, bytearray) and root == ROOT
    with pytest.raises(RuntimeError, match="already taken"):
        collector.take_root_key()


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_collector_any_threshold_subset_in_any_order(data: st.DataObject) -> None:
    shares = data.draw(st.integers(1, 6))
    threshold = data.draw(st.integers(1, shares))
    texts, init = _init(shares, threshold)
    order = data.draw(st.permutations(texts))
    collector = ShareCollector(init)
    for text in order[:threshold]:
        collector.submit(text)
    assert collector.take_root_key() == ROOT


def test_collector_threshold_one() -> None:
    texts, init = _init(3, 1)
    collector = ShareCollector(init)
    assert collector.submit(texts[1]) == 1
    assert collector.take_root_key() == ROOT


def test_collector_duplicate_counts_once() -> None:
    texts, init = _init(5, 3)
    collector = ShareCollector(init)
    assert collector.submit(texts[0]) == 1
    assert collector.submit(texts[0]) == 1
    assert collector.submit("  " + texts[0].upper() + "\n") == 1
    assert collector.submit(texts[1]) == 2
    assert not collector.complete


def test_collector_rejects_foreign_share_without_counting_it() -> None:
    texts, init = _init(5, 3)
    foreign, _ = _init(5, 3)
    collector = ShareCollector(init)
    collector.submit(texts[0])
    with pytest.raises(InvalidShare, match="not one of this cluster's") as info:
        collector.submit(foreign[1])
    assert foreign[1] not in str(info.value)
    assert collector.progress == 1
    collector.submit(texts[1])
    collector.submit(texts[2])
    assert collector.take_root_key() == ROOT


def test_collector_rejects_mistyped_share_without_counting_it() -> None:
    texts, init = _init(5, 3)
    collector = ShareCollector(init)
    typo = texts[0][:-1] + ("0" if texts[0][-1] != "0" else "1")
    with pytest.raises(InvalidShare):
        collector.submit(typo)
    assert collector.progress == 0


@pytest.mark.parametrize("text", ["", "hello", "km1-1-zz", "km1-300-00"])
def test_collector_rejects_malformed_text(text: str) -> None:
    _, init = _init()
    collector = ShareCollector(init)
    with pytest.raises(InvalidShare):
        collector.submit(text)
    assert collector.progress == 0


def test_collector_reset() -> None:
    texts, init = _init(5, 3)
    collector = ShareCollector(init)
    collector.submit(texts[0])
    collector.submit(texts[1])
    collector.reset()
    assert collector.progress == 0
    collector.submit(texts[2])
    collector.submit(texts[3])
    collector.submit(texts[4])
    collector.reset()  # discards the untaken root key too
    assert not collector.complete
    with pytest.raises(RuntimeError):
        collector.take_root_key()


def test_collector_submit_after_unseal_is_a_no_op() -> None:
    texts, init = _init(3, 2)
    collector = ShareCollector(init)
    collector.submit(texts[0])
    collector.submit(texts[1])
    assert collector.submit(texts[2]) == 2
    assert collector.submit("garbage") == 2


def test_collector_wipes_shares_when_done() -> None:
    texts, init = _init(3, 2)
    collector = ShareCollector(init)
    collector.submit(texts[0])
    held = [y for _, y in collector._shares.values()]
    collector.submit(texts[1])
    assert collector._shares == {}
    assert all(y == bytes(len(y)) for y in held)


def test_collector_wipes_root_key_on_reset() -> None:
    texts, init = _init(2, 2)
    collector = ShareCollector(init)
    collector.submit(texts[0])
    collector.submit(texts[1])
    root = collector._root_key
    assert root is not None and root == ROOT
    collector.reset()
    assert root == bytes(32)


def test_collector_inconsistent_init_raises_decryption_failed_and_resets() -> None:
    texts, init = _init(3, 2)
    init.shamir_wrapped_root_key = wrap_root_key(os.urandom(32), ROOT)
    collector = ShareCollector(init)
    collector.submit(texts[0])
    with pytest.raises(DecryptionFailed):
        collector.submit(texts[1])
    assert collector.progress == 0 and not collector.complete


def test_collector_rejects_same_index_with_other_value() -> None:
    # Digests of two different shares with the same x cannot come from one split,
    # but a hand-edited init record could hold them: the second one must not count.
    shares = [sss.Share(1, os.urandom(32)), sss.Share(1, os.urandom(32))]
    _, init = _init(3, 2)
    init.share_digests.extend(sss.share_digest(s) for s in shares)
    collector = ShareCollector(init)
    collector.submit(sss.encode_share(shares[0]))
    with pytest.raises(InvalidShare, match="different share with index 1"):
        collector.submit(sss.encode_share(shares[1]))
    assert collector.progress == 1


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda i: setattr(i, "secret_threshold", 0), "threshold"),
        (lambda i: setattr(i, "secret_threshold", 256), "threshold"),
        (lambda i: i.ClearField("shamir_wrapped_root_key"), "wrapped root key"),
        (lambda i: i.ClearField("share_digests"), "digests"),
    ],
)
def test_collector_rejects_unusable_init(
    mutate: Callable[[store_pb2.InitCluster], object], reason: str
) -> None:
    _, init = _init()
    mutate(init)
    with pytest.raises(ValueError, match=reason):
        ShareCollector(init)


def test_collector_repr_holds_no_secret() -> None:
    texts, init = _init(3, 2)
    collector = ShareCollector(init)
    collector.submit(texts[0])
    assert repr(collector) == "ShareCollector(progress=1, threshold=2)"
