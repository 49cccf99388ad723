"""The pkcs11 seal against a real SoftHSM2 token: key properties, faults that heal
(wrong PIN, missing key, missing token), serialized calls from many threads."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from keymgr.crypto.errors import DecryptionFailed
from keymgr.ops.softhsm import SOFTHSM_MODULE
from keymgr.seal.pkcs11 import HsmUnavailable, PinSource, Pkcs11Seal, read_pin_file
from tests.unit.softhsm_process import PIN, new_token, process_softhsm, token_seal, write_pin_file

ROOT = bytes(range(32))


def test_key_is_sensitive_and_never_extractable(tmp_path: Path) -> None:
    import pkcs11
    from pkcs11 import Attribute

    seal = token_seal(new_token(), write_pin_file(tmp_path))
    seal.wrap_root_key(ROOT)  # creates the key
    key = seal._owner.call(lambda: seal._key(create=False), 5.0)

    def value() -> object:
        return key[Attribute.VALUE]

    with pytest.raises(pkcs11.AttributeSensitive):
        seal._owner.call(value, 5.0)
    flags = seal._owner.call(
        lambda: (
            key[Attribute.EXTRACTABLE],
            key[Attribute.SENSITIVE],
            key[Attribute.NEVER_EXTRACTABLE],
            key[Attribute.TOKEN],
        ),
        5.0,
    )
    assert flags == (False, True, True, True)


def test_uses_an_existing_key_and_never_creates_one_when_told_not_to(tmp_path: Path) -> None:
    token, pin = new_token(), write_pin_file(tmp_path)
    no_create = token_seal(token, pin, create_key=False)
    with pytest.raises(HsmUnavailable, match="key 'kek' not found in token"):
        no_create.wrap_root_key(ROOT)
    blob = token_seal(token, pin).wrap_root_key(ROOT)  # a "ceremony" made the key
    assert no_create.unwrap_root_key(blob) == ROOT


def test_wrong_pin_is_not_retried_until_it_changes(tmp_path: Path) -> None:
    token = new_token()
    pin_file = write_pin_file(tmp_path, "9999")
    seal = token_seal(token, pin_file)
    with pytest.raises(HsmUnavailable, match="rejected the PIN") as info:
        seal.check()
    assert "9999" not in str(info.value) and str(pin_file) in str(info.value)
    with pytest.raises(HsmUnavailable, match="not retrying it until it changes"):
        seal.check()
    pin_file.write_text(PIN)
    blob = seal.wrap_root_key(ROOT)
    assert seal.unwrap_root_key(blob) == ROOT


def test_token_made_after_start_is_found(tmp_path: Path) -> None:
    label = f"late-{os.urandom(4).hex()}"
    seal = token_seal(label, write_pin_file(tmp_path))
    with pytest.raises(HsmUnavailable, match=f"token '{label}' not found"):
        seal.check()
    process_softhsm().init_token(label, PIN)
    assert seal.unwrap_root_key(seal.wrap_root_key(ROOT)) == ROOT


def test_missing_module_is_unavailable(tmp_path: Path) -> None:
    seal = Pkcs11Seal(
        module=tmp_path / "missing.so",
        token_label="x",
        key_label="k",
        pin=PinSource(file=write_pin_file(tmp_path)),
    )
    with pytest.raises(HsmUnavailable, match="cannot load PKCS#11 module"):
        seal.check()


def test_blob_from_another_token_fails_cleanly(tmp_path: Path) -> None:
    pin = write_pin_file(tmp_path)
    a, b = token_seal(new_token(), pin), token_seal(new_token(), pin)
    b.wrap_root_key(ROOT)
    with pytest.raises(DecryptionFailed):
        b.unwrap_root_key(a.wrap_root_key(ROOT))
    a.check()
    b.check()  # the failed unwrap left both tokens usable


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o700, 0o604])
def test_pin_file_must_be_private(tmp_path: Path, mode: int) -> None:
    path = write_pin_file(tmp_path)
    path.chmod(mode)
    with pytest.raises(HsmUnavailable, match="must have mode 0600 or 0400") as info:
        read_pin_file(path)
    assert PIN not in str(info.value)


def test_pin_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = new_token()
    seal = Pkcs11Seal(
        module=SOFTHSM_MODULE,
        token_label=token,
        key_label="kek",
        pin=PinSource(env="KEYMGR_TEST_HSM_PIN"),
        module_env=process_softhsm().env,
    )
    with pytest.raises(HsmUnavailable, match="KEYMGR_TEST_HSM_PIN is not set"):
        seal.check()
    monkeypatch.setenv("KEYMGR_TEST_HSM_PIN", PIN)
    assert seal.unwrap_root_key(seal.wrap_root_key(ROOT)) == ROOT


def test_repr_names_no_pin(tmp_path: Path) -> None:
    seal = token_seal(new_token(), write_pin_file(tmp_path))
    assert PIN not in repr(seal) and "kek" in repr(seal)


def test_sixteen_threads_share_one_owner(tmp_path: Path) -> None:
    """The library segfaults when called from several threads; the owner serializes."""
    seal = token_seal(new_token(), write_pin_file(tmp_path))
    blob = seal.wrap_root_key(ROOT)
    errors: list[BaseException] = []
    counts = [0] * 16

    def worker(index: int) -> None:
        try:
            for _ in range(100):
                assert seal.unwrap_root_key(blob) == ROOT
                assert seal.unwrap_root_key(seal.wrap_root_key(ROOT)) == ROOT
                counts[index] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    elapsed = time.perf_counter() - started
    assert not errors and sum(counts) == 1600
    print(
        f"\n16 threads x 100 (unwrap + wrap + unwrap): {elapsed:.2f}s, "
        f"{4800 / elapsed:.0f} HSM ops/s"
    )


def test_latency(tmp_path: Path) -> None:
    seal = token_seal(new_token(), write_pin_file(tmp_path))
    blob = seal.wrap_root_key(ROOT)
    n = 500
    started = time.perf_counter()
    for _ in range(n):
        seal.wrap_root_key(ROOT)
    wrap_us = (time.perf_counter() - started) / n * 1e6
    started = time.perf_counter()
    for _ in range(n):
        seal.unwrap_root_key(blob)
    unwrap_us = (time.perf_counter() - started) / n * 1e6
    print(f"\npkcs11 seal: wrap {wrap_us:.0f} us, unwrap {unwrap_us:.0f} us (SoftHSM2, via owner)")
    assert wrap_us < 50_000 and unwrap_us < 50_000
