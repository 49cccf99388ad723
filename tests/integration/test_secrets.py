"""Secrets on a real 3-node cluster through the SDK (`client.secrets`): versions, cas,
soft delete/undelete/destroy, metadata, list, pruning, tokens, forwarded certificates,
bad input (each a clear status, nothing half-written), failover and restart.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from keymgr import pki
from keymgr.client import (
    AlreadyExists,
    Client,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from keymgr.consistency import INDEX_KEY, MIN_INDEX_KEY
from keymgr.ops.devcluster import LocalCluster
from keymgr.stubs import keys_stub, secrets_stub
from keymgr.v1 import keys_pb2, secrets_pb2, store_pb2
from tests.integration.conftest import MakeCluster
from tests.integration.helpers import client_for, grant, principal
from tests.integration.test_crash import restart

MOUNT = "kvtest"


@pytest.fixture(scope="module")
def kv(cluster: LocalCluster) -> Iterator[Client]:
    """An admin client of the shared cluster with mount MOUNT enabled."""
    with cluster.client() as admin:
        if not any(m.mount == MOUNT for m in admin.secrets.list_mounts()):
            admin.secrets.enable_mount(MOUNT, max_versions=3)
        yield admin


def test_versions_cas_and_reads(kv: Client) -> None:
    api = kv.secrets
    v1 = api.put(MOUNT, "apps/web", {"password": "one", "n": 1})
    assert v1.version == 1 and v1.deletion_time == 0.0 and not v1.destroyed
    assert abs(v1.created_time - time.time()) < 60
    v2 = api.put(MOUNT, "apps/web", {"password": "two"}, cas=1)
    assert v2.version == 2
    with pytest.raises(FailedPrecondition) as conflict:
        api.put(MOUNT, "apps/web", {"password": "lost"}, cas=1)
    assert str(conflict.value).startswith("cas:")
    current = api.get(MOUNT, "apps/web")
    assert current.data == {"password": "two"} and current.version.version == 2
    assert "two" not in repr(current)
    assert api.get(MOUNT, "apps/web", version=1).data == {"password": "one", "n": 1}
    with pytest.raises(NotFound):
        api.get(MOUNT, "apps/web", version=9)
    with pytest.raises(NotFound):
        api.get(MOUNT, "apps/never")
    patched = api.patch(MOUNT, "apps/web", {"user": "web", "password": None})
    assert patched.version == 3
    assert api.get(MOUNT, "apps/web").data == {"user": "web"}


def test_a_write_sent_again_under_its_request_id_is_applied_once(
    cluster: LocalCluster, kv: Client
) -> None:
    """What the gateway relies on when it resends an ambiguous write: the second sending,
    even to another node, answers with the first one's version and writes nothing."""
    api = kv.secrets
    first = api.put(MOUNT, "idem/once", {"v": 1}, cas=0, request_id="idem-put-1")
    with cluster.client([cluster.spec.nodes[-1].id]) as other:
        again = other.secrets.put(MOUNT, "idem/once", {"v": 1}, cas=0, request_id="idem-put-1")
    assert again.version == first.version == 1
    assert api.read_metadata(MOUNT, "idem/once").current_version == 1
    api.delete(MOUNT, "idem/once", request_id="idem-del-1")
    api.undelete(MOUNT, "idem/once", [1], request_id="idem-undel-1")
    api.delete(MOUNT, "idem/once", request_id="idem-del-1")  # answered, not applied again
    assert api.get(MOUNT, "idem/once").data == {"v": 1}


def test_max_versions_prunes_oldest(kv: Client) -> None:
    api = kv.secrets
    for i in range(5):
        api.put(MOUNT, "pruned", {"i": i})
    meta = api.read_metadata(MOUNT, "pruned")
    assert (meta.current_version, meta.oldest_version) == (5, 3)  # mount max_versions 3
    assert sorted(meta.versions) == [3, 4, 5]
    with pytest.raises(NotFound):
        api.get(MOUNT, "pruned", version=1)
    api.write_metadata(MOUNT, "pruned", max_versions=1)
    assert sorted(api.read_metadata(MOUNT, "pruned").versions) == [5]


def test_delete_undelete_destroy_and_delete_metadata(kv: Client) -> None:
    api = kv.secrets
    for i in range(3):
        api.put(MOUNT, "lifecycle", {"i": i})
    api.delete(MOUNT, "lifecycle")  # the current version, 3
    deleted = api.get(MOUNT, "lifecycle")
    assert deleted.data is None and deleted.version.deletion_time > 0
    api.undelete(MOUNT, "lifecycle", [3])
    assert api.get(MOUNT, "lifecycle").data == {"i": 2}
    api.destroy(MOUNT, "lifecycle", [1])
    gone = api.get(MOUNT, "lifecycle", version=1)
    assert gone.data is None and gone.version.destroyed
    api.undelete(MOUNT, "lifecycle", [1])  # a destroyed version stays destroyed
    assert api.get(MOUNT, "lifecycle", version=1).data is None
    with pytest.raises(NotFound):
        api.destroy(MOUNT, "lifecycle", [2, 42])  # all or nothing
    assert api.get(MOUNT, "lifecycle", version=2).data == {"i": 1}
    api.delete_metadata(MOUNT, "lifecycle")
    with pytest.raises(NotFound):
        api.read_metadata(MOUNT, "lifecycle")
    assert api.put(MOUNT, "lifecycle", {"again": True}).version == 1


def test_metadata_custom_and_cas_required(kv: Client) -> None:
    api = kv.secrets
    api.write_metadata(MOUNT, "guarded", cas_required=True, custom_metadata={"owner": "ops"})
    with pytest.raises(FailedPrecondition) as refused:
        api.put(MOUNT, "guarded", {"a": "b"})
    assert str(refused.value).startswith("cas:")
    api.put(MOUNT, "guarded", {"a": "b"}, cas=0)
    secret = api.get(MOUNT, "guarded")
    assert secret.custom_metadata == {"owner": "ops"}
    meta = api.read_metadata(MOUNT, "guarded")
    assert meta.cas_required and meta.custom_metadata == {"owner": "ops"}
    with pytest.raises(InvalidArgument) as too_many:
        api.write_metadata(MOUNT, "guarded", custom_metadata={str(i): "x" for i in range(65)})
    assert "custom_metadata" in str(too_many.value)
    assert api.read_metadata(MOUNT, "guarded").custom_metadata == {"owner": "ops"}


def test_list_children_of_a_folder(kv: Client) -> None:
    api = kv.secrets
    for path in ("tree/a", "tree/b/c", "tree/b/d", "tree/e/f/g"):
        api.put(MOUNT, path, {"x": "y"})
    assert api.list(MOUNT, "tree/") == ["a", "b/", "e/"]
    assert api.list(MOUNT, "tree/b/") == ["c", "d"]
    assert "tree/" in api.list(MOUNT)
    with pytest.raises(NotFound):
        api.list(MOUNT, "nothing-here/")
    with pytest.raises(InvalidArgument) as huge:
        api.list(MOUNT, "x" * 600 + "/")
    assert "prefix" in str(huge.value)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("../etc", "path"),
        ("a/../b", "path"),
        ("a//b", "path"),
        ("/a", "path"),
        ("a/", "path"),
        ("a/./b", "path"),
        ("x" * 129, "path"),
        ("a b", "path"),
    ],
)
def test_bad_paths_are_refused_naming_the_field(kv: Client, path: str, field: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        kv.secrets.put(MOUNT, path, {"a": "b"})
    assert str(refused.value).startswith(f"{field}:")


def test_bad_values_refused_and_nothing_written(cluster: LocalCluster, kv: Client) -> None:
    api = kv.secrets
    api.put(MOUNT, "sized", {"small": "x"})
    with pytest.raises(InvalidArgument) as big:
        api.put(MOUNT, "sized", {"big": "x" * (512 * 1024)})
    assert str(big.value).startswith("data:")
    with pytest.raises(InvalidArgument):
        api.put("no/such", "a", {"a": "b"})
    with pytest.raises(NotFound):
        api.put("nosuchmount", "a", {"a": "b"})
    with pytest.raises(FailedPrecondition):
        api.put(MOUNT, "sized", {"a": "b"}, cas=7)
    meta = api.read_metadata(MOUNT, "sized")
    assert meta.current_version == 1 and sorted(meta.versions) == [1]
    channel = grpc.secure_channel(
        cluster.node("node1").api, cluster.credentials.channel_credentials()
    )
    raw = secrets_stub(channel)  # bodies the SDK would not send
    with pytest.raises(grpc.RpcError) as not_json:
        raw.Put(
            secrets_pb2.PutSecretRequest(mount=MOUNT, path="sized", data=b"{nope"),
            metadata=(),
            timeout=5,
        )
    assert not_json.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "data: not valid JSON" in (not_json.value.details() or "")
    with pytest.raises(grpc.RpcError) as array:
        raw.Put(
            secrets_pb2.PutSecretRequest(mount=MOUNT, path="sized", data=b"[1]"),
            metadata=(),
            timeout=5,
        )
    assert "data: must be a JSON object" in (array.value.details() or "")
    channel.close()
    assert api.read_metadata(MOUNT, "sized").current_version == 1


def test_tokens_policies_and_revocation(cluster: LocalCluster, kv: Client) -> None:
    api = kv.secrets
    api.put(MOUNT, "scoped/web/cfg", {"k": "web"})
    api.put(MOUNT, "scoped/db/cfg", {"k": "db"})
    nobody = principal("service", "nopolicy")
    web = principal("service", "webapp")
    plain = api.create_token(nobody, 3600)
    assert plain.token.startswith("kmt_") and len(plain.token) == 47
    assert plain.token not in repr(plain)
    with pytest.raises(PermissionDenied):
        api.with_token(plain.token).get(MOUNT, "scoped/web/cfg")
    grant(
        kv,
        store_pb2.Policy(
            name="webapp-secrets",
            principals=[web],
            operations=["secret-read", "secret-list"],
            path_patterns=[f"{MOUNT}/scoped/web/*"],
        ),
    )
    issued = api.create_token(web, 3600, display_name="web")
    scoped = api.with_token(issued.token)
    assert scoped.get(MOUNT, "scoped/web/cfg").data == {"k": "web"}
    with pytest.raises(PermissionDenied):
        scoped.get(MOUNT, "scoped/db/cfg")
    with pytest.raises(PermissionDenied):
        scoped.put(MOUNT, "scoped/web/cfg", {"k": "mine"})
    info = scoped.lookup_token()
    assert (info.principal, info.accessor, info.display_name) == (web, issued.info.accessor, "web")
    assert issued.info.accessor in [t.accessor for t in api.list_tokens()]
    api.revoke_token(issued.info.accessor)
    with pytest.raises(Unauthenticated) as revoked:
        scoped.get(MOUNT, "scoped/web/cfg")
    assert "token not valid" in str(revoked.value)
    with pytest.raises(Unauthenticated):
        api.with_token("kmt_" + "A" * 43).get(MOUNT, "scoped/web/cfg")
    short = api.create_token(web, 1)
    time.sleep(1.5)
    with pytest.raises(Unauthenticated):
        api.with_token(short.token).get(MOUNT, "scoped/web/cfg")
    with pytest.raises(Unauthenticated):
        api.lookup_token()  # no token on the call
    with pytest.raises(InvalidArgument):
        api.create_token("spiffe://keymgr/node/node1", 60)
    # a token's holder is not an admin even when the token's caller is
    with pytest.raises(PermissionDenied):
        api.with_token(plain.token).create_token(web, 60)


def test_forwarded_certificate_only_from_role_gateway(cluster: LocalCluster, kv: Client) -> None:
    api = kv.secrets
    api.put(MOUNT, "fwd/cfg", {"k": "v"})
    reader = principal("service", "fwd-reader")
    grant(
        kv,
        store_pb2.Policy(
            name="fwd-reader",
            principals=[reader],
            operations=["secret-read"],
            path_patterns=[f"{MOUNT}/fwd/*"],
        ),
    )
    with client_for(cluster, "fwd-reader", "service"):
        pass  # issues the reader's certificate
    reader_pem = (cluster.certs / "fwd-reader.pem").read_bytes()
    with client_for(cluster, "gw", "service") as gateway:
        forwarded = gateway.secrets.with_forwarded_certificate(reader_pem)
        with pytest.raises(PermissionDenied) as not_gateway:
            forwarded.get(MOUNT, "fwd/cfg")
        assert "gateway" in str(not_gateway.value)
        op = kv.set_roles(principal("service", "gw"), ["gateway"])
        assert op.state == store_pb2.OPERATION_STATE_EXECUTED
        assert forwarded.get(MOUNT, "fwd/cfg").data == {"k": "v"}
        der = x509.load_pem_x509_certificate(reader_pem).public_bytes(Encoding.DER)
        assert gateway.secrets.with_forwarded_certificate(der).get(MOUNT, "fwd/cfg").data
        with pytest.raises(PermissionDenied):  # the reader may not write
            forwarded.put(MOUNT, "fwd/cfg", {"k": "w"})
        with pytest.raises(PermissionDenied):  # the gateway itself has no policy
            gateway.secrets.get(MOUNT, "fwd/cfg")
        foreign = _foreign_certificate(cluster.root / "foreign-ca")
        with pytest.raises(Unauthenticated):
            gateway.secrets.with_forwarded_certificate(foreign).get(MOUNT, "fwd/cfg")


def _foreign_certificate(directory: Path) -> bytes:
    """A client certificate of the right shape from a CA that is not the cluster's."""
    directory.mkdir(exist_ok=True)
    ca = (
        pki.load_ca(directory)
        if (directory / "ca.pem").exists()
        else (pki.create_ca(directory), pki.load_ca(directory))[1]
    )
    files = pki.issue_client_cert(ca, "fwd-reader", kind="service")
    return files.cert.read_bytes()


def test_mounts_and_config(kv: Client) -> None:
    api = kv.secrets
    config = api.read_config(MOUNT)
    assert config.key_name == f"secrets-{MOUNT}" and config.max_versions == 3
    changed = api.write_config(MOUNT, delete_version_after_s=0, cas_required=False)
    assert changed.max_versions == 3
    assert MOUNT in [m.mount for m in api.list_mounts()]
    with pytest.raises(NotFound):
        api.read_config("nosuchmount")
    with pytest.raises(AlreadyExists):
        api.enable_mount(MOUNT)
    kv.create_key(f"{MOUNT}-tde", purpose=keys_pb2.KEY_PURPOSE_TDE)
    with pytest.raises(InvalidArgument) as wrong_key:
        api.enable_mount(f"{MOUNT}2", key_name=f"{MOUNT}-tde")
    assert str(wrong_key.value).startswith("key_name:")
    with pytest.raises(NotFound):
        api.enable_mount(f"{MOUNT}2", key_name="no-such-key")
    with pytest.raises(InvalidArgument) as bad_name:
        api.enable_mount("bad/name")
    assert str(bad_name.value).startswith("mount:")
    assert f"{MOUNT}2" not in [m.mount for m in api.list_mounts()]


def test_only_admins_manage_mounts_and_tokens(cluster: LocalCluster, kv: Client) -> None:
    with client_for(cluster, "not-admin", "service") as other:
        for call in (
            lambda: other.secrets.enable_mount("mine"),
            lambda: other.secrets.write_config(MOUNT, max_versions=1),
            lambda: other.secrets.create_token(principal("service", "x"), 60),
            lambda: other.secrets.list_tokens(),
        ):
            with pytest.raises(PermissionDenied):
                call()
        with pytest.raises(PermissionDenied):  # no policy: no secret either
            other.secrets.get(MOUNT, "apps/web")
    assert kv.secrets.read_config(MOUNT).max_versions == 3


def test_kill_a_node_then_restart_keeps_secrets(make_cluster: MakeCluster) -> None:
    cluster = make_cluster(log_compaction_min_entries=20)
    shares = cluster.bring_up()
    with cluster.client() as admin:
        admin.secrets.enable_mount("secret")
        for i in range(25):  # enough entries for a compaction: the secrets go in a dump
            admin.secrets.put("secret", f"app/{i}", {"i": i})
        cluster.stop("node1", kill=True)
        assert admin.secrets.get("secret", "app/3").data == {"i": 3}
        assert admin.secrets.put("secret", "app/3", {"i": 33}).version == 2
    for node in cluster.spec.nodes[1:]:
        cluster.stop(node.id)
    restart(cluster, shares[:2])
    for node in cluster.spec.nodes:  # each node answers from its own dump and journal
        with cluster.client([node.id]) as one:
            assert one.secrets.get("secret", "app/3").data == {"i": 33}
            assert one.secrets.get("secret", "app/24").data == {"i": 24}


def test_every_process_of_a_node_serves_secrets_tokens_and_forwarding(
    make_cluster: MakeCluster,
) -> None:
    """serving.processes > 1: Secrets calls reach the Raft process from any worker, a
    token works on services a worker serves itself, and a gateway's forwarded
    certificate survives the worker's relay (and is still refused from a non-gateway)."""
    cluster = make_cluster(processes=2)
    cluster.bring_up()
    node = "node1"
    cluster.wait_workers(node)
    reader = principal("service", "w-reader")
    with cluster.client() as admin:
        admin.secrets.enable_mount("secret")
        admin.create_key("w-key")
        grant(
            admin,
            store_pb2.Policy(
                name="w-reader",
                principals=[reader],
                operations=["secret-read", "secret-write", "describe"],
                key_patterns=["w-*"],
                path_patterns=["secret/w/*"],
            ),
        )
        token = admin.secrets.create_token(reader, 600).token
        admin.set_roles(principal("service", "w-gw"), ["gateway"])
    with client_for(cluster, "w-reader", "service"):
        pass
    reader_pem = (cluster.certs / "w-reader.pem").read_bytes()
    with client_for(cluster, "w-gw", "service"):
        pass
    gw_creds = grpc.ssl_channel_credentials(
        root_certificates=cluster.credentials.ca.read_bytes(),
        private_key=(cluster.certs / "w-gw-key.pem").read_bytes(),
        certificate_chain=(cluster.certs / "w-gw.pem").read_bytes(),
    )
    api = cluster.node(node).api
    channels = [
        grpc.secure_channel(api, creds, options=[("grpc.use_local_subchannel_pool", 1)])
        for creds in [cluster.credentials.channel_credentials()] * 12 + [gw_creds] * 12
    ]
    try:
        for i, channel in enumerate(channels):
            secrets_api = secrets_stub(channel)
            keys_api = keys_stub(channel)
            as_token = (("keymgr-token", token),)
            _, call = secrets_api.Put.with_call(
                secrets_pb2.PutSecretRequest(
                    mount="secret", path=f"w/{i}", data=b'{"i":1}', request_id=f"w-{i}"
                ),
                metadata=as_token,
                timeout=10,
            )
            index = max(int(v) for k, v in call.trailing_metadata() if k == INDEX_KEY)
            for other in channels[:4]:
                got = secrets_stub(other).Get(
                    secrets_pb2.GetSecretRequest(mount="secret", path=f"w/{i}"),
                    metadata=(*as_token, (MIN_INDEX_KEY, str(index))),
                    timeout=10,
                )
                assert got.data == b'{"i":1}'
            key = keys_api.GetKey(
                keys_pb2.GetKeyRequest(name_or_id="w-key"), metadata=as_token, timeout=10
            )
            assert key.key.name == "w-key"
            forwarded = (("keymgr-forwarded-cert-bin", reader_pem),)
            if i >= 12:  # the gateway's connections
                got = secrets_api.Get(
                    secrets_pb2.GetSecretRequest(mount="secret", path="w/0"),
                    metadata=forwarded,
                    timeout=10,
                )
                assert got.data == b'{"i":1}'
                key = keys_api.GetKey(
                    keys_pb2.GetKeyRequest(name_or_id="w-key"), metadata=forwarded, timeout=10
                )
                assert key.key.name == "w-key"
            else:  # the admin is no gateway: refused, relayed or not
                with pytest.raises(grpc.RpcError) as relayed:
                    secrets_api.Get(
                        secrets_pb2.GetSecretRequest(mount="secret", path="w/0"),
                        metadata=forwarded,
                        timeout=10,
                    )
                with pytest.raises(grpc.RpcError) as local:
                    keys_api.GetKey(
                        keys_pb2.GetKeyRequest(name_or_id="w-key"), metadata=forwarded, timeout=10
                    )
                for refused in (relayed, local):
                    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        # one path written through every process of the node at once: distinct versions
        done: list[int] = []

        def put_race(channel: grpc.Channel) -> None:
            reply = secrets_stub(channel).Put(
                secrets_pb2.PutSecretRequest(mount="secret", path="w/race", data=b"{}"),
                metadata=(("keymgr-token", token),),
                timeout=30,
            )
            done.append(reply.version.version)

        racers = [threading.Thread(target=put_race, args=(c,)) for c in channels[:12]]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(timeout=60)
        assert sorted(done) == list(range(1, 13))
    finally:
        for channel in channels:
            channel.close()


def test_every_secrets_call_is_audited_without_the_value(cluster: LocalCluster, kv: Client) -> None:
    reader = principal("service", "audited")
    grant(
        kv,
        store_pb2.Policy(
            name="audited",
            principals=[reader],
            operations=["secret-read"],
            path_patterns=[f"{MOUNT}/aud/*"],
        ),
    )
    issued = kv.secrets.create_token(reader, 600)
    with cluster.client(["node2"]) as one:
        one.secrets.put(MOUNT, "aud/x", {"pw": "AUDIT-VALUE-7781"})
        one.secrets.with_token(issued.token).get(MOUNT, "aud/x")
        with pytest.raises(PermissionDenied):
            one.secrets.with_token(issued.token).destroy(MOUNT, "aud/x", [1])
    text = (cluster.data_dir("node2") / "audit" / "audit.log").read_text()
    assert "AUDIT-VALUE-7781" not in text and issued.token not in text
    lines = [json.loads(line) for line in text.splitlines() if "path=aud/x" in line]
    by_op = {line["operation"]: line for line in lines}
    assert by_op["Put"]["result"] == "OK" and "versions=1" in by_op["Put"]["detail"]
    get = by_op["Get"]
    assert get["principal"] == reader
    assert f"token {issued.info.accessor}" in get["detail"]
    assert "via spiffe://keymgr/admin/" in get["detail"]
    assert f"mount={MOUNT} path=aud/x versions=1" in get["detail"]
    denied = by_op["Destroy"]
    assert denied["result"] == "PERMISSION_DENIED" and "versions=1" in denied["detail"]


def test_concurrent_writers_on_every_node_each_get_their_own_version(
    cluster: LocalCluster, kv: Client
) -> None:
    """Writers on three nodes at once, threads sharing clients: every acknowledged put
    has its own version (the version is bound into the envelope: a node that lost the
    race seals again) and every version opens to what its writer wrote."""
    kv.secrets.write_metadata(MOUNT, "race", max_versions=100)
    results: list[tuple[int, int]] = []
    lock = threading.Lock()
    clients = [cluster.client([n.id]) for n in cluster.spec.nodes]

    def writer(number: int) -> None:
        api = clients[number % 3].secrets
        for i in range(5):
            version = api.put(MOUNT, "race", {"w": number, "i": i}).version
            with lock:
                results.append((version, number * 100 + i))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(results) == 30
        versions = sorted(v for v, _ in results)
        assert versions == list(range(versions[0], versions[0] + 30))
        for version, tag in results:
            data = kv.secrets.get(MOUNT, "race", version=version).data
            assert data == {"w": tag // 100, "i": tag % 100}
    finally:
        for client in clients:
            client.close()
