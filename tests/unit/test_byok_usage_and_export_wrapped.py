"""BYOK odds and ends that need no cluster: the usage an export states (checked per
destination, default from the key's purpose, in the record and the audit line), which
grant `keys export-wrapped` picks, the command it prints, and the import expiry flags."""

from __future__ import annotations

import argparse
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from keymgr.cli.keys_export_wrapped_cmd import rerun_command, usable_grant
from keymgr.cli.keys_import_cmd import expiry_ms, rfc3339_ms
from keymgr.cli.main import build_parser
from keymgr.node_errors import InvalidArgument
from keymgr.server import key_export
from keymgr.v1 import access_pb2, keys_pb2, store_pb2

WRAPPING = rsa.generate_private_key(public_exponent=65537, key_size=3072).public_key()


def request(destination: int, **fields: Any) -> access_pb2.ExportKeyRequest:
    return access_pb2.ExportKeyRequest(destination=destination, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("destination", "usage"),
    [
        (access_pb2.EXPORT_DESTINATION_AWS, "wrap-unwrap"),
        (access_pb2.EXPORT_DESTINATION_GCP, "wrap-unwrap"),
        (access_pb2.EXPORT_DESTINATION_AZURE, "generate-verify-mac"),
        (access_pb2.EXPORT_DESTINATION_RSA_AES, "sign-verify"),
    ],
)
def test_a_usage_the_destination_cannot_express_is_refused(destination: int, usage: str) -> None:
    fields: dict[str, Any] = {"usage": usage}
    if destination == access_pb2.EXPORT_DESTINATION_AZURE:
        fields["kek_id"] = "https://vault/keys/kek/1"
    if destination == access_pb2.EXPORT_DESTINATION_GCP:
        fields["algorithm"] = "RSA_OAEP_3072_SHA256_AES_256"
    with pytest.raises(InvalidArgument) as refused:
        key_export.plan_for(request(destination, **fields), WRAPPING)
    assert str(refused.value).startswith("usage: ")


def test_usage_defaults_from_the_purpose_where_the_destination_says_it() -> None:
    encrypt, tde, volume = (
        keys_pb2.KEY_PURPOSE_ENCRYPT,
        keys_pb2.KEY_PURPOSE_TDE,
        keys_pb2.KEY_PURPOSE_VOLUME,
    )
    assert key_export.usage_for("", "aws", encrypt) == "encrypt-decrypt"
    assert key_export.usage_for("", "azure", tde) == "wrap-unwrap"
    assert key_export.usage_for("", "rsa-aes", volume) == "wrap-unwrap"
    assert key_export.usage_for("", "aws", tde) == "encrypt-decrypt"  # AWS: no wrap usage
    assert key_export.usage_for("generate-verify-mac", "openbao", encrypt) == (
        "generate-verify-mac"
    )


def test_the_record_and_the_audit_line_state_the_usage() -> None:
    plan = key_export.plan_for(request(access_pb2.EXPORT_DESTINATION_AWS), WRAPPING)
    bundle = key_export.bundle_for(plan, "prod-eu", "generate-verify-mac")
    assert bundle.usage == "generate-verify-mac" and bundle.destination_name == "prod-eu"
    line = key_export.audit_line(plan, "prod-eu", ["bob"], "generate-verify-mac")
    assert "export to aws:prod-eu (RSA_AES_KEY_WRAP_SHA_256) for generate-verify-mac" in line


def grant_op(
    op_id: str,
    state: int,
    *,
    principal: str = "alice",
    version: int = 2,
    grant_expires: int = 10_000,
    op_expires: int = 10_000,
) -> store_pb2.PendingOperation:
    return store_pb2.PendingOperation(
        id=op_id,
        kind="export-key",
        requester=principal,
        state=state,  # type: ignore[arg-type]
        expires_at_ms=op_expires,
        command=store_pb2.Command(
            grant_export=store_pb2.GrantExport(
                grant=store_pb2.ExportGrant(
                    id=op_id,
                    key_id="k1",
                    version=version,
                    grantee=principal,
                    expires_at_ms=grant_expires,
                )
            )
        ),
    )


EXECUTED, PENDING = store_pb2.OPERATION_STATE_EXECUTED, store_pb2.OPERATION_STATE_PENDING


def test_export_wrapped_picks_only_an_approved_unused_live_grant_of_the_caller() -> None:
    ops = [
        grant_op("used", EXECUTED),
        grant_op("expired", EXECUTED, grant_expires=500),
        grant_op("bob's", EXECUTED, principal="bob"),
        grant_op("v1", EXECUTED, version=1),
        grant_op("waiting", PENDING),
        grant_op("stale", PENDING, op_expires=500),
    ]
    assert usable_grant(ops, {"used"}, "alice", "k1", 2, 1000) == (None, ops[4])
    good = grant_op("good", EXECUTED)
    ready, waiting = usable_grant([*ops, good], {"used"}, "alice", "k1", 2, 1000)
    assert ready == good and waiting == ops[4]
    assert usable_grant(ops, set(), "alice", "k2", 2, 1000) == (None, None)


def test_the_rerun_command_is_this_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYMGR_ADDR", "127.0.0.1:7400")
    for name in ("KEYMGR_CACERT", "KEYMGR_CLIENT_CERT", "KEYMGR_CLIENT_KEY"):
        monkeypatch.delenv(name, raising=False)
    argv = [
        "keys",
        "export-wrapped",
        "orders",
        "--to",
        "azure",
        "--wrapping-key",
        "kek pub.pem",
        "--out",
        "orders.byok",
        "--kek-id",
        "https://v/keys/kek/1",
        "--usage",
        "wrap-unwrap",
        "--ca",
        "ca.pem",
    ]
    args = build_parser().parse_args(argv)
    assert rerun_command(args) == (
        "keymgr keys export-wrapped orders --to azure --wrapping-key 'kek pub.pem' --out "
        "orders.byok --kek-id https://v/keys/kek/1 --usage wrap-unwrap --ca ca.pem"
    )


def test_import_expiry_flags() -> None:
    assert rfc3339_ms("2027-01-31T00:00:00Z") == 1_801_353_600_000
    assert rfc3339_ms("2027-01-31T01:00:00+01:00") == 1_801_353_600_000
    for bad in ("tomorrow", "2027-01-31T00:00:00"):
        with pytest.raises(argparse.ArgumentTypeError):
            rfc3339_ms(bad)
    parser = build_parser()
    base = ["keys", "import", "k", "--wrapped", "w", "--token", "t"]
    assert expiry_ms(parser.parse_args(base)) == 0
    assert expiry_ms(parser.parse_args([*base, "--valid-to", "2027-01-31T00:00:00Z"])) == (
        1_801_353_600_000
    )
    in_30d = expiry_ms(parser.parse_args([*base, "--expires-in", "30d"]))
    assert abs(in_30d - (time.time() * 1000 + 30 * 86_400_000)) < 5_000
    with pytest.raises(SystemExit):
        parser.parse_args([*base, "--expires-in", "1h", "--valid-to", "2027-01-31T00:00:00Z"])
