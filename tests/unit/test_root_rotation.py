"""Root key rotation: the replicated record (pure state machine) and how a node's seal
controller follows it, with real crypto, real Shamir shares and a real file seal."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from keymgr.crypto.barrier import wrap_term_key
from keymgr.node_errors import InvalidArgument, Sealed, Unavailable
from keymgr.seal.base import SealedRootKeyStore
from keymgr.seal.controller import RetryPolicy, SealController
from keymgr.seal.devfile import FileSeal
from keymgr.seal.shamir import new_shamir_init
from keymgr.server.root_rotation import build_rotation
from keymgr.store import keystore as keystore_module
from keymgr.store.keystore import KeyStore
from keymgr.v1 import store_pb2

from .test_keystore import CONFLICT, ok, run

EXECUTED = store_pb2.OPERATION_STATE_EXECUTED
FAILED = store_pb2.OPERATION_STATE_FAILED


class Cluster:
    """One replicated state (applied in order) and the root key made at init."""

    def __init__(self) -> None:
        self.root = secrets.token_bytes(32)
        self.shares, wrapped, digests = new_shamir_init(self.root, 3, 2)
        self.store = KeyStore()
        self.term_keys = {1: secrets.token_bytes(32)}
        ok(
            run(
                self.store,
                init_cluster=store_pb2.InitCluster(
                    shamir_wrapped_root_key=wrapped,
                    secret_shares=3,
                    secret_threshold=2,
                    admins=["alice"],
                    share_digests=digests,
                    first_term=store_pb2.KeyringTerm(
                        term=1,
                        wrapped_key=wrap_term_key(self.root, 1, self.term_keys[1]),
                        created_at_ms=1,
                    ),
                ),
            )
        )
        self.operations = 0

    def request(self, op: str, message: object, t: int = 2000) -> store_pb2.PendingOperation:
        """Requests a split-key operation; with one approval needed it runs at once."""
        self.operations += 1
        inner = store_pb2.Command()
        getattr(inner, op).CopyFrom(message)
        kind = {"rotate_root": "rotate-root"}[op]
        result = ok(
            run(
                self.store,
                t=t,
                request_approval=store_pb2.RequestApproval(
                    operation_id=f"op{self.operations}",
                    kind=kind,
                    command=inner,
                    expires_at_ms=10**12,
                ),
            )
        )
        return result.operation

    def rotate(
        self, root: bytes, *, shares: int = 5, threshold: int = 3, t: int = 2000
    ) -> tuple[list[str], store_pb2.PendingOperation]:
        terms, _ = self.store.keyring_state()
        texts, rotation = build_rotation(
            root, self.store.root_generation, terms, shares, threshold, t
        )
        return texts, self.request("rotate_root", rotation, t=t)


def controller(cluster: Cluster, data_dir: Path, seal: FileSeal | None = None) -> SealController:
    return SealController(
        store=cluster.store,
        root_store=SealedRootKeyStore(data_dir),
        auto_seal=seal,
        retry=RetryPolicy(0.05, 0.2, 0.05),
    )


def unsealed(
    cluster: Cluster, data_dir: Path, shares: list[str], seal: FileSeal | None = None
) -> SealController:
    node = controller(cluster, data_dir, seal)
    for share in shares:
        node.submit_share(share)
    assert not node.sealed
    return node


# --- the state machine ------------------------------------------------------------------


def test_rotation_cannot_skip_the_approval_flow() -> None:
    cluster = Cluster()
    _, rotation = build_rotation(cluster.root, 0, cluster.store.keyring_state()[0], 3, 2, 9)
    result = run(cluster.store, rotate_root=rotation)
    assert "split-key operation" in result.error.message
    assert cluster.store.root_generation == 0


def test_an_approved_rotation_replaces_the_shamir_record_and_rewraps_the_keyring() -> None:
    cluster = Cluster()
    before = cluster.store.init_cluster()
    assert before is not None
    old_terms = cluster.store.keyring_terms()
    _, operation = cluster.rotate(cluster.root, shares=5, threshold=3, t=4242)
    assert operation.state == EXECUTED and operation.kind == "rotate-root"
    init = cluster.store.init_cluster()
    assert init is not None
    assert (init.root_generation, init.secret_shares, init.secret_threshold) == (1, 5, 3)
    assert len(init.share_digests) == 5 and init.share_digests != before.share_digests
    assert init.shamir_wrapped_root_key != before.shamir_wrapped_root_key
    assert [link.generation for link in init.root_links] == [1]
    assert init.root_rotated_at_ms == 4242
    assert init.root_rotated_by == "alice" and list(init.admins) == ["alice"]
    terms = cluster.store.keyring_terms()  # term 1 re-wrapped, term 2 new under the new root
    assert [(t.term, t.created_at_ms) for t in terms] == [(1, 1), (2, 4242)]
    assert terms[0].wrapped_key != old_terms[0].wrapped_key
    assert cluster.store.active_term == 2 and cluster.store.root_view() == (1, terms)


def test_a_stale_rotation_fails_and_changes_nothing() -> None:
    cluster = Cluster()
    terms = cluster.store.keyring_state()[0]
    _, stale = build_rotation(cluster.root, 0, terms, 3, 2, 9)
    cluster.rotate(cluster.root)  # generation 0 -> 1
    snapshot = cluster.store.snapshot()
    operation = cluster.request("rotate_root", stale)
    assert operation.state == FAILED and operation.result.error.code == CONFLICT
    assert "rotated since this request" in operation.result.error.message
    assert cluster.store.root_generation == 1
    after = store_pb2.StoreState.FromString(cluster.store.snapshot())
    before = store_pb2.StoreState.FromString(snapshot)
    assert after.init == before.init and list(after.keyring) == list(before.keyring)


def test_a_rotation_made_before_a_keyring_rotation_fails() -> None:
    cluster = Cluster()
    _, rotation = build_rotation(cluster.root, 0, cluster.store.keyring_state()[0], 3, 2, 9)
    ok(
        run(
            cluster.store,
            rotate_keyring=store_pb2.RotateKeyring(
                new_term=store_pb2.KeyringTerm(
                    term=2,
                    wrapped_key=wrap_term_key(cluster.root, 2, secrets.token_bytes(32)),
                    created_at_ms=5,
                ),
                root_generation=0,
            ),
        )
    )
    operation = cluster.request("rotate_root", rotation)
    assert operation.state == FAILED and "keyring was rotated" in operation.result.error.message


def test_a_keyring_term_wrapped_by_an_old_root_key_is_refused() -> None:
    cluster = Cluster()
    cluster.rotate(cluster.root)
    result = run(
        cluster.store,
        rotate_keyring=store_pb2.RotateKeyring(
            new_term=store_pb2.KeyringTerm(term=3, wrapped_key=b"w", created_at_ms=5),
            root_generation=0,
        ),
    )
    assert result.error.code == CONFLICT and "root key was rotated" in result.error.message
    assert cluster.store.active_term == 2


def test_rotation_state_survives_snapshot_and_restore() -> None:
    cluster = Cluster()
    cluster.rotate(cluster.root)
    copy = KeyStore()
    copy.restore(cluster.store.snapshot())
    assert copy.snapshot() == cluster.store.snapshot()
    assert copy.root_generation == 1


# --- nodes following a rotation ---------------------------------------------------------


def test_an_unsealed_node_follows_and_old_ciphertexts_still_decrypt(tmp_path: Path) -> None:
    cluster = Cluster()
    node = unsealed(cluster, tmp_path / "a", cluster.shares[:2])
    blob = node.keyring().encrypt(b"secret material", b"aad")
    audit_before = node.audit_key()
    new_shares, _ = cluster.rotate(cluster.root)
    assert node.keyring().decrypt(blob, b"aad") == b"secret material"
    assert node.root_generation == 1 and not node.sealed
    assert node.audit_key() != audit_before  # derived from the root key it now holds
    root, generation = node.current_root_key()
    assert generation == 1 and root != cluster.root
    # a node unsealed now needs the NEW shares: the old ones are rejected one by one
    fresh = controller(cluster, tmp_path / "b")
    with pytest.raises(InvalidArgument, match="share"):
        fresh.submit_share(cluster.shares[0])
    for share in new_shares[:3]:
        fresh.submit_share(share)
    assert not fresh.sealed and fresh.root_generation == 1
    assert fresh.keyring().decrypt(blob, b"aad") == b"secret material"


def test_shares_collected_before_a_rotation_are_void_after_it(tmp_path: Path) -> None:
    cluster = Cluster()
    unsealed_node = unsealed(cluster, tmp_path / "a", cluster.shares[:2])
    node = controller(cluster, tmp_path / "b")
    node.submit_share(cluster.shares[0])
    assert node.progress == 1
    cluster.rotate(unsealed_node.current_root_key()[0])
    with pytest.raises(InvalidArgument):
        node.submit_share(cluster.shares[1])  # progress restarted against the new record
    assert node.sealed and node.progress == 0


def test_a_node_several_rotations_behind_follows_every_link(tmp_path: Path) -> None:
    cluster = Cluster()
    leader = unsealed(cluster, tmp_path / "a", cluster.shares[:2])
    lagging = unsealed(cluster, tmp_path / "b", cluster.shares[:2])
    blob = lagging.keyring().encrypt(b"old", b"aad")
    for _ in range(3):
        cluster.rotate(leader.current_root_key()[0])
    assert lagging.keyring().decrypt(blob, b"aad") == b"old"
    assert lagging.root_generation == 3 and not lagging.sealed
    assert lagging.current_root_key() == leader.current_root_key()


def test_a_node_missing_a_link_seals_itself_with_a_reason(tmp_path: Path) -> None:
    cluster = Cluster()
    leader = unsealed(cluster, tmp_path / "a", cluster.shares[:2])
    cluster.rotate(leader.current_root_key()[0])
    shares, _ = cluster.rotate(leader.current_root_key()[0])
    state = store_pb2.StoreState.FromString(cluster.store.snapshot())
    del state.init.root_links[0]  # as if it had dropped out of the kept window
    cluster.store.restore(state.SerializeToString(deterministic=True))
    lagging = controller(cluster, tmp_path / "b")
    lagging._install(bytearray(cluster.root), generation=0)
    with pytest.raises(Sealed, match="generation 2"):
        lagging.keyring()
    assert lagging.sealed and "current shares" in lagging.reason
    for share in shares[:3]:
        lagging.submit_share(share)
    assert not lagging.sealed and lagging.root_generation == 2


def test_a_reader_during_the_apply_of_a_rotation_never_seals(tmp_path: Path) -> None:
    """The Raft thread publishes the new init record, then the keyring: a crypto call
    that reads in between must see one consistent (generation, terms) pair."""
    cluster = Cluster()
    node = unsealed(cluster, tmp_path / "a", cluster.shares[:2])
    blob = node.keyring().encrypt(b"x", b"aad")
    seen: list[str] = []

    class Spy(keystore_module._Tables):
        __slots__ = ()

        def __setattr__(self, name: str, value: object) -> None:
            if (
                name in ("keyring", "root_view")
                and self.init is not None
                and (self.init.root_generation == 1)
            ):
                node._keyring = None  # a cold cache, as right after an unseal
                try:
                    seen.append(node.keyring().decrypt(blob, b"aad").decode())
                except Exception as exc:  # recorded, then asserted on below
                    seen.append(repr(exc))
            super().__setattr__(name, value)

    spy = Spy()
    for slot in keystore_module._Tables.__slots__:
        object.__setattr__(spy, slot, getattr(cluster.store._t, slot))
    cluster.store._t = spy
    cluster.rotate(cluster.root)
    assert seen == ["x", "x"] and not node.sealed
    assert node.keyring().decrypt(blob, b"aad") == b"x" and node.root_generation == 1


def test_a_file_sealed_node_stores_the_new_root_key_and_restarts_with_it(
    tmp_path: Path,
) -> None:
    cluster = Cluster()
    seal = FileSeal(tmp_path / "seal.key")
    node = unsealed(cluster, tmp_path / "n", cluster.shares[:2], seal)
    stored = SealedRootKeyStore(tmp_path / "n")
    assert stored.load() is not None and stored.load().generation == 0  # type: ignore[union-attr]
    cluster.rotate(cluster.root)
    node.start_monitor()
    try:
        node.follow_root()
        deadline = time.monotonic() + 10
        while (loaded := stored.load()) is None or loaded.generation != 1:
            assert time.monotonic() < deadline, "new root key not stored under the seal"
            time.sleep(0.05)
    finally:
        node.stop_monitor()
    new_root, _ = node.current_root_key()
    assert seal.unwrap_root_key(loaded.wrapped) == new_root != cluster.root
    restarted = controller(cluster, tmp_path / "n", seal)
    assert restarted.try_auto_unseal()
    assert restarted.root_generation == 1 and restarted.current_root_key()[0] == new_root
    assert restarted.keyring().active_term == 2


def test_a_restarted_node_whose_state_lags_its_root_key_waits_instead_of_sealing(
    tmp_path: Path,
) -> None:
    ahead = Cluster()
    seal = FileSeal(tmp_path / "seal.key")
    node = unsealed(ahead, tmp_path / "n", ahead.shares[:2], seal)
    ahead.rotate(ahead.root)
    node.follow_root()
    root, generation = node.current_root_key()
    SealedRootKeyStore(tmp_path / "n").save("file", seal.wrap_root_key(root), generation=1)
    # the restarted node has replayed only up to before the rotation
    replaying = Cluster()
    replaying.store = KeyStore()
    replaying.store.restore(_before_rotation(ahead))
    restarted = controller(replaying, tmp_path / "n", seal)
    assert generation == 1 and restarted.try_auto_unseal()
    assert restarted.root_generation == 1
    with pytest.raises(Unavailable, match="catching up"):
        restarted.keyring()
    assert not restarted.sealed


def _before_rotation(cluster: Cluster) -> bytes:
    state = store_pb2.StoreState.FromString(cluster.store.snapshot())
    state.init.root_generation = 0
    del state.init.root_links[:]
    return state.SerializeToString(deterministic=True)


def test_a_kind_without_a_rule_needs_as_many_approvals_as_the_strictest_rule() -> None:
    cluster = Cluster()
    state = store_pb2.StoreState.FromString(cluster.store.snapshot())
    for rule in state.approval_rules:
        rule.required = 2 if rule.kind == "put-policy" else 1
    kept = [r for r in state.approval_rules if r.kind != "rotate-root"]
    del state.approval_rules[:]
    state.approval_rules.extend(kept)  # a snapshot from before rotate-root existed
    cluster.store.restore(state.SerializeToString(deterministic=True))
    assert cluster.store.access.required("rotate-root") == 2
    assert cluster.store.access.required("destroy-key") == 1


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda init: init.root_links.add(generation=1, wrapped=b"w"), "root links for root"),
        (lambda init: setattr(init, "root_generation", 3), "not consecutive"),
        (lambda init: init.root_links[0].ClearField("wrapped"), "1.."),
        (lambda init: init.root_links.add(generation=2, wrapped=b"w"), "root links for root"),
    ],
)
def test_a_snapshot_with_unfollowable_root_links_is_refused(mutate: object, fragment: str) -> None:
    cluster = Cluster()
    cluster.rotate(cluster.root)
    state = store_pb2.StoreState.FromString(cluster.store.snapshot())
    mutate(state.init)  # type: ignore[operator]
    with pytest.raises(ValueError, match=fragment):
        KeyStore().restore(state.SerializeToString(deterministic=True))


def test_a_rotation_followed_while_the_seal_stores_the_key_is_stored_too(
    tmp_path: Path,
) -> None:
    """The seal monitor wraps generation g while the node follows to g+1: the flag that
    asks for storing g+1 must survive the end of the first store."""
    cluster = Cluster()
    node: SealController | None = None

    class FollowsMidWrap(FileSeal):
        armed = False

        def wrap_root_key(self, root_key: bytes) -> bytes:
            wrapped = super().wrap_root_key(root_key)
            if FollowsMidWrap.armed and node is not None:
                FollowsMidWrap.armed = False
                cluster.rotate(node.current_root_key()[0])
                node.follow_root()  # another thread follows meanwhile, asks for a store
            return wrapped

    seal = FollowsMidWrap(tmp_path / "seal.key")
    node = unsealed(cluster, tmp_path / "n", cluster.shares[:2], seal)
    FollowsMidWrap.armed = True
    node._persist()
    stored = SealedRootKeyStore(tmp_path / "n")
    assert node.root_generation == 1 and node._persist_pending
    node._persist()
    loaded = stored.load()
    assert loaded is not None and loaded.generation == 1 and not node._persist_pending
