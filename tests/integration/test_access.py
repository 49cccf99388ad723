"""Access control and split-key authority on a real cluster.

Default deny for every operation; policies grant exactly what they say (operation,
key pattern, required encryption context); M-of-N approvals run an operation once,
never early, never after expiry, and survive a leader failover."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from keymgr.client import (
    Client,
    FailedPrecondition,
    InvalidArgument,
    KeymgrError,
    PermissionDenied,
)
from keymgr.ops.devcluster import LocalCluster
from keymgr.v1 import store_pb2
from tests.integration.conftest import MakeCluster
from tests.integration.helpers import client_for, eventually, grant, leader_id, principal

PENDING = store_pb2.OPERATION_STATE_PENDING
EXECUTED = store_pb2.OPERATION_STATE_EXECUTED


@pytest.fixture
def admin(cluster: LocalCluster) -> Iterator[Client]:
    with cluster.client() as client:
        yield client


def all_calls(blob: bytes) -> dict[str, Callable[[Client], object]]:
    return {
        "create": lambda c: c.create_key("denied-new"),
        "get": lambda c: c.get_key("acl-target"),
        "rotate": lambda c: c.rotate_key("acl-target"),
        "disable": lambda c: c.disable_key("acl-target"),
        "enable": lambda c: c.enable_key("acl-target"),
        "schedule": lambda c: c.schedule_key_deletion("acl-target", pending_window_seconds=99),
        "cancel": lambda c: c.cancel_key_deletion("acl-target"),
        "set-rotation": lambda c: c.set_key_rotation("acl-target", rotation_period_seconds=0),
        "datakey": lambda c: c.generate_data_key("acl-target"),
        "encrypt": lambda c: c.encrypt("acl-target", b"x"),
        "decrypt": lambda c: c.decrypt(blob),
        "reencrypt": lambda c: c.re_encrypt(blob),
        "random": lambda c: c.generate_random(8),
        "policies": lambda c: c.list_policies(),
        "approvals": lambda c: c.list_approvals(),
    }


def test_principal_without_policy_is_denied_everything(
    cluster: LocalCluster, admin: Client
) -> None:
    admin.create_key("acl-target")
    blob = admin.encrypt("acl-target", b"secret", consistent=True)
    with client_for(cluster, "nobody", "service") as nobody:
        for name, call in all_calls(blob).items():
            with pytest.raises(PermissionDenied):
                call(nobody)
                pytest.fail(f"{name} was allowed")
        assert nobody.list_keys()[0] == []  # sees no key at all


def test_policy_grants_exactly_what_it_says(cluster: LocalCluster, admin: Client) -> None:
    app = principal("service", "billing")
    grant(
        admin,
        store_pb2.Policy(
            name="billing-use",
            principals=[app],
            operations=["generate-data-key", "decrypt"],
            key_patterns=["billing-*"],
        ),
    )
    admin.create_key("billing-main")
    admin.create_key("payroll-main")
    other_blob = admin.encrypt("payroll-main", b"pay", consistent=True)
    with client_for(cluster, "billing", "service") as billing:
        data_key = billing.generate_data_key("billing-main", consistent=True)
        assert billing.decrypt(data_key.ciphertext_blob) == data_key.plaintext
        with pytest.raises(PermissionDenied):  # operation not granted
            billing.encrypt("billing-main", b"x")
        with pytest.raises(PermissionDenied):  # key outside the pattern
            billing.generate_data_key("payroll-main")
        with pytest.raises(PermissionDenied):
            billing.decrypt(other_blob)
        with pytest.raises(PermissionDenied):  # manage not granted
            billing.rotate_key("billing-main")


def test_role_policy_and_context_restricted_agent(cluster: LocalCluster, admin: Client) -> None:
    grant(
        admin,
        store_pb2.Policy(
            name="agents-own-volume",
            roles=["agent"],
            operations=["generate-data-key", "decrypt"],
            key_patterns=["volumes"],
            required_context={"volume_id": "${principal.name}"},
        ),
    )
    admin.set_roles(principal("agent", "vol-a"), ["agent"])
    admin.set_roles(principal("agent", "vol-b"), ["agent"])
    admin.create_key("volumes")
    with (
        client_for(cluster, "vol-a", "agent") as agent_a,
        client_for(cluster, "vol-b", "agent") as agent_b,
    ):
        mine = agent_a.generate_data_key("volumes", context={"volume_id": "vol-a"}, consistent=True)
        assert agent_a.decrypt(mine.ciphertext_blob, context={"volume_id": "vol-a"}) == (
            mine.plaintext
        )
        with pytest.raises(PermissionDenied):  # B's volume id in the context
            agent_a.generate_data_key("volumes", context={"volume_id": "vol-b"})
        theirs = agent_b.generate_data_key("volumes", context={"volume_id": "vol-b"})
        with pytest.raises(PermissionDenied):  # a valid ciphertext of another volume
            agent_a.decrypt(theirs.ciphertext_blob, context={"volume_id": "vol-b"})
        with pytest.raises(InvalidArgument, match="decryption failed"):  # lying: AAD mismatch
            agent_a.decrypt(theirs.ciphertext_blob, context={"volume_id": "vol-a"})


def _three_admins(cluster: LocalCluster) -> tuple[Client, Client, Client]:
    with cluster.client() as root:
        for name in ("bob", "carol"):
            op = root.set_roles(principal("admin", name), ["admin"])
            assert op.state == EXECUTED
        for kind in (
            "put-policy",
            "delete-policy",
            "set-roles",
            "destroy-key",
            "set-approval-rule",
        ):
            assert root.set_approval_rule(kind, 2).state == EXECUTED
    return (
        cluster.client(),
        client_for(cluster, "bob", "admin"),
        client_for(cluster, "carol", "admin"),
    )


def test_two_of_three_approvals(make_cluster: MakeCluster) -> None:
    cluster = make_cluster()
    cluster.bring_up()
    alice, bob, carol = _three_admins(cluster)
    with alice, bob, carol:
        policy = store_pb2.Policy(
            name="m-of-n", roles=["service"], operations=["encrypt"], key_patterns=["x"]
        )
        pending = alice.put_policy(policy)
        assert pending.state == PENDING and list(pending.approvals) == [principal("admin", "admin")]
        assert "m-of-n" not in {p.name for p in alice.list_policies()}
        again = alice.approve(pending.id)  # the requester again: still one approval
        assert again.state == PENDING and len(again.approvals) == 1
        done = bob.approve(pending.id)
        assert done.state == EXECUTED
        assert "m-of-n" in {p.name for p in carol.list_policies()}
        with pytest.raises(FailedPrecondition, match="executed"):
            carol.approve(pending.id)  # runs exactly once

        expiring = alice.delete_policy("m-of-n", ttl_seconds=1)
        time.sleep(1.5)
        with pytest.raises(FailedPrecondition, match="expired"):
            bob.approve(expiring.id)
        assert "m-of-n" in {p.name for p in alice.list_policies()}  # never ran

        rejected = alice.delete_policy("m-of-n")
        assert carol.reject(rejected.id).state == store_pb2.OPERATION_STATE_REJECTED
        with pytest.raises(FailedPrecondition, match="rejected"):
            bob.approve(rejected.id)


def test_pending_approval_survives_leader_failover(make_cluster: MakeCluster) -> None:
    cluster = make_cluster()
    cluster.bring_up()
    alice, bob, carol = _three_admins(cluster)
    with alice, bob, carol:
        doomed = alice.create_key("to-destroy")
        alice.schedule_key_deletion("to-destroy", pending_window_seconds=3600)
        pending = alice.destroy_key("to-destroy")
        assert pending.state == PENDING
        old = leader_id(cluster)
        cluster.stop(old, kill=True)
        eventually(lambda: leader_id(cluster, [n.id for n in cluster.spec.nodes if n.id != old]))
        done = eventually(lambda: bob.approve(pending.id), timeout=20)
        assert done.state == EXECUTED
        assert bob.get_key(doomed.id).state == 4  # KEY_STATE_DESTROYED


def test_split_key_changes_cannot_bypass_approval(cluster: LocalCluster, admin: Client) -> None:
    with client_for(cluster, "mallory", "service") as mallory, pytest.raises(PermissionDenied):
        mallory.put_policy(
            store_pb2.Policy(name="evil", principals=["x"], operations=["*"], key_patterns=["*"])
        )
    with pytest.raises(KeymgrError, match="policy"):
        admin.put_policy(store_pb2.Policy(name="bad", operations=["*"], key_patterns=["*"]))


def test_scheduled_rotation_and_history(cluster: LocalCluster, admin: Client) -> None:
    key = admin.create_key("auto-rotated", rotation_period_seconds=1)
    rotated = eventually(lambda: admin.get_key(key.id).current_version >= 3, timeout=15)
    assert rotated
    history = admin.get_key(key.id)
    assert [v.version for v in history.versions][:3] == [1, 2, 3]
    assert history.versions[0].created_by == principal("admin", "admin")
    assert {v.created_by for v in history.versions[1:]} == {"scheduler"}
    stamps = [v.created_at_ms for v in history.versions]
    assert stamps == sorted(stamps)
    admin.set_key_rotation(key.id, rotation_period_seconds=0)


def test_min_decryption_version(cluster: LocalCluster, admin: Client, tmp_path: Path) -> None:
    key = admin.create_key("min-version")
    old = admin.encrypt(key.name, b"v1", consistent=True)
    admin.rotate_key(key.name)
    admin.set_key_rotation(key.name, min_decryption_version=2)
    with pytest.raises(FailedPrecondition, match="minimum decryption version"):
        admin.decrypt(old, consistent=True)
    new = admin.encrypt(key.name, b"v2", consistent=True)
    assert admin.decrypt(new) == b"v2"


def test_export_needs_approvals_and_happens_once(make_cluster: MakeCluster) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    from keymgr.client import NotFound
    from keymgr.crypto import envelope

    cluster = make_cluster()
    cluster.bring_up()
    alice, bob, carol = _three_admins(cluster)
    with alice, bob, carol:
        assert alice.set_approval_rule("export-key", 2).state == PENDING  # rule change: 2 of 3
        pending_rule = next(
            op for op in alice.list_approvals().operations if op.kind == "set-approval-rule"
        )
        assert bob.approve(pending_rule.id).state == EXECUTED
        key = alice.create_key("exportable")
        blob = alice.encrypt(key.name, b"escrowed", context={"c": "1"}, consistent=True)
        private = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        grant = alice.request_export(key.name)
        assert grant.state == PENDING
        with pytest.raises(NotFound):  # not approved yet: no grant exists
            alice.export_key(grant.id, public_pem)
        assert carol.approve(grant.id).state == EXECUTED
        with pytest.raises(NotFound):  # the grant is alice's, not bob's
            bob.export_key(grant.id, public_pem)
        exported = alice.export_key(grant.id, public_pem)
        material = private.decrypt(
            exported.wrapped_key,
            padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
        )
        assert (exported.key_id, exported.version) == (key.id, 1)
        assert envelope.open(material, blob, {"c": "1"}) == b"escrowed"
        with pytest.raises(FailedPrecondition, match="already used"):
            alice.export_key(grant.id, public_pem)
        with pytest.raises(InvalidArgument, match="wrapping_public_key"):
            alice.export_key(grant.id, b"not a key")


def test_removing_a_node_needs_approvals(make_cluster: MakeCluster) -> None:
    cluster = make_cluster()
    cluster.bring_up()
    alice, bob, carol = _three_admins(cluster)
    with alice, bob, carol:
        rule = alice.set_approval_rule("remove-node", 2)
        assert bob.approve(rule.id).state == EXECUTED
        leader = cluster.node(leader_id(cluster)).api
        victim = next(n.id for n in cluster.spec.nodes if n.api != leader)
        with pytest.raises(FailedPrecondition, match="needs 2 admin approvals") as asked:
            alice.remove_peer(victim, endpoint=leader)
        assert victim in {p.id for p in alice.list_peers(endpoint=leader).peers}  # not yet
        operation_id = str(asked.value).split("operation ")[1].split()[0]
        assert carol.approve(operation_id).state == EXECUTED
        peers = alice.remove_peer(victim, endpoint=leader)
        assert victim not in {p.id for p in peers.peers}
        with pytest.raises(KeymgrError, match="no member"):  # gone, and the approval used
            alice.remove_peer(victim, endpoint=leader)
        assert alice.list_approvals(include_decided=True).operations
