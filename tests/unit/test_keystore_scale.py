"""KeyStore at scale: counts and due-time indexes kept by apply agree with the keys,
are the same on every replica, cost O(1)/O(due) to read, and a key costs little memory."""

from __future__ import annotations

import gc
import random
import time
import tracemalloc
from collections.abc import Callable

import pytest

from keymgr.store.keystore import KeyStore, rotation_due_ms
from keymgr.v1 import keys_pb2, store_pb2
from tests.unit.test_keystore import FAR, encode, init_op, kid

DAY_MS = 86_400_000


def _random_log(seed: int, keys: int, commands: int) -> list[bytes]:
    """Creates (half with a rotation period), then rotations, policy changes, enables,
    disables, deletions, cancellations and ticks at increasing times."""
    rng = random.Random(seed)
    log = [encode(t=1, init_cluster=init_op())]
    t = 1000
    for n in range(keys):
        period = rng.choice([0, 3600, 86400])
        log.append(
            encode(
                t=t,
                create_key=store_pb2.CreateKey(
                    key_id=kid(n), name=f"k{n}", wrapped_material=b"m", rotation_period_s=period
                ),
            )
        )
    versions = dict.fromkeys(range(keys), 1)
    for _ in range(commands):
        t += rng.randint(0, 2 * 3600 * 1000)
        n = rng.randrange(keys)
        op = rng.randrange(7)
        if op == 0:
            versions[n] += 1
            cmd = {
                "rotate_key": store_pb2.RotateKey(
                    key_id=kid(n), new_version=versions[n], wrapped_material=b"m"
                )
            }
        elif op == 1:
            cmd = {
                "set_rotation_policy": store_pb2.SetRotationPolicy(
                    key_id=kid(n), rotation_period_s=rng.choice([0, 3600, 7200])
                )
            }
        elif op == 2:
            cmd = {
                "set_key_enabled": store_pb2.SetKeyEnabled(
                    key_id=kid(n), enabled=rng.random() < 0.5
                )
            }
        elif op == 3:
            cmd = {
                "schedule_deletion": store_pb2.ScheduleDeletion(
                    key_id=kid(n), deletion_time_ms=t + rng.randint(1, 3 * 3600 * 1000)
                )
            }
        elif op == 4:
            cmd = {"cancel_deletion": store_pb2.CancelDeletion(key_id=kid(n))}
        else:
            cmd = {"tick": store_pb2.Tick()}
        log.append(encode(t=t, **cmd))
    return log


def _all_keys(store: KeyStore) -> list[keys_pb2.Key]:
    keys, token = store.list_keys(100_000, "")
    assert token == ""
    return keys


def _check_against_a_full_scan(store: KeyStore, now: int) -> None:
    keys = _all_keys(store)
    words = {
        keys_pb2.KEY_STATE_ENABLED: "enabled",
        keys_pb2.KEY_STATE_DISABLED: "disabled",
        keys_pb2.KEY_STATE_PENDING_DELETION: "pending deletion",
        keys_pb2.KEY_STATE_DESTROYED: "destroyed",
    }
    scanned = dict.fromkeys(words.values(), 0)
    for key in keys:
        scanned[words[key.state]] += 1
    assert store.key_counts() == scanned
    due = sorted(k.id for k in keys if (w := rotation_due_ms(k)) is not None and w <= now)
    assert sorted(k.id for k in store.rotations_due(now, limit=10**6)) == due
    pending = [k for k in keys if k.state == keys_pb2.KEY_STATE_PENDING_DELETION]
    assert store.deletion_due(now) == sum(1 for k in pending if k.deletion_time_ms <= now)


def test_counts_and_due_indexes_agree_with_a_full_scan_after_any_log() -> None:
    for seed in range(5):
        store = KeyStore()
        log = _random_log(seed, keys=60, commands=400)
        for raw in log:
            store.apply(raw)
        last = store_pb2.Command.FromString(log[-1]).time_ms
        for now in (0, last // 2, last, last + DAY_MS, FAR):
            _check_against_a_full_scan(store, now)


def test_replicas_derive_the_same_indexes_whether_they_replayed_or_restored() -> None:
    log = _random_log(7, keys=80, commands=500)
    replayed, prefix, restored = KeyStore(), KeyStore(), KeyStore()
    for raw in log:
        replayed.apply(raw)
    cut = len(log) // 2
    for raw in log[:cut]:
        prefix.apply(raw)
    restored.restore(prefix.snapshot())
    for raw in log[cut:]:
        restored.apply(raw)
    assert restored.snapshot() == replayed.snapshot()
    last = store_pb2.Command.FromString(log[-1]).time_ms
    for now in range(0, last + 2 * DAY_MS, last // 7 + 1):
        assert restored.rotations_due(now, 10**6) == replayed.rotations_due(now, 10**6)
        assert restored.deletion_due(now) == replayed.deletion_due(now)
    assert restored.key_counts() == replayed.key_counts()


def _loaded(keys: int) -> KeyStore:
    store = KeyStore()
    store.apply(encode(t=1, init_cluster=init_op()))
    for n in range(keys):
        store.apply(
            encode(
                t=1000 + n,
                create_key=store_pb2.CreateKey(
                    key_id=kid(n),
                    name=f"key-{n:08d}",
                    wrapped_material=bytes(80),
                    rotation_period_s=30 * 86400,
                ),
            )
        )
    return store


def _fastest(call: Callable[[], object], repeat: int = 20) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def test_what_the_sampler_and_scheduler_read_does_not_grow_with_the_key_count() -> None:
    small, large = _loaded(1_000), _loaded(100_000)
    now = 2_000_000  # nothing is due: rotation in 30 days, no deletion scheduled

    def idle_reads(store: KeyStore) -> Callable[[], object]:
        return lambda: (store.key_counts(), store.deletion_due(now), store.rotations_due(now))

    # a scan of 100,000 keys takes tens of milliseconds; these stay at microseconds
    assert _fastest(idle_reads(large)) < 10 * _fastest(idle_reads(small)) + 0.0005
    assert large.key_counts()["enabled"] == 100_000


def test_a_key_costs_under_900_bytes_of_memory() -> None:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        store = _loaded(20_000)
        gc.collect()
        per_key = (tracemalloc.get_traced_memory()[0] - before) / 20_000
    finally:
        tracemalloc.stop()
    assert store.key_counts()["enabled"] == 20_000
    assert per_key < 900, f"{per_key:.0f} bytes per key"


def test_a_frozen_cut_encodes_the_state_at_the_cut_not_later_changes() -> None:
    store = _loaded(50)
    at_cut = store.snapshot()
    frozen = store.freeze()
    store.apply(
        encode(
            t=5000,
            create_key=store_pb2.CreateKey(key_id=kid(999), name="later", wrapped_material=b"m"),
        )
    )
    store.apply(
        encode(t=5001, set_key_enabled=store_pb2.SetKeyEnabled(key_id=kid(1), enabled=False))
    )
    assert frozen.encode() == at_cut and frozen.size() == len(at_cut)
    assert store.snapshot() != at_cut


def test_a_snapshot_in_protobuf_order_restores_too() -> None:
    """Older dumps and backups were encoded by protobuf (keys sorted by id)."""
    store = _loaded(30)
    state = store_pb2.StoreState.FromString(store.snapshot())
    copy = KeyStore()
    copy.restore(state.SerializeToString(deterministic=True))
    assert _all_keys(copy) == _all_keys(store) and copy.key_counts() == store.key_counts()
    assert copy.rotations_due(FAR, 100) == store.rotations_due(FAR, 100)


def test_a_snapshot_prepared_off_the_apply_thread_swaps_in_whole() -> None:
    """A follower decodes a leader's snapshot on another thread: the live store is
    untouched until the swap, and after it applies exactly as a restored one."""
    log = _random_log(11, keys=80, commands=300)
    leader = KeyStore()
    for command in log[:250]:
        leader.apply(command)
    snapshot = leader.snapshot()
    follower = KeyStore()
    for command in log[:20]:
        follower.apply(command)
    before = follower.snapshot()
    prepared = KeyStore.prepare_restore(snapshot)
    follower.apply(log[20])  # the live store keeps applying while it is prepared
    assert follower.snapshot() != before
    restored = KeyStore()
    restored.restore(snapshot)
    follower.install_prepared(prepared)
    assert follower.snapshot() == restored.snapshot() == snapshot
    for command in log[250:]:
        assert follower.apply(command) == restored.apply(command) == leader.apply(command)
    assert follower.snapshot() == leader.snapshot()
    _check_against_a_full_scan(follower, now=10**13)


def test_a_bad_snapshot_is_refused_before_anything_is_swapped() -> None:
    store = KeyStore()
    for command in _random_log(3, keys=10, commands=20):
        store.apply(command)
    before = store.snapshot()
    with pytest.raises(ValueError, match="StoreState"):
        KeyStore.prepare_restore(b"\xff\x00 not a snapshot")
    assert store.snapshot() == before
