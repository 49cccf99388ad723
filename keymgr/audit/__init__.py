"""Tamper-evident audit: one hash-chained JSON line per request, to a file and syslog.

The node builds one `AuditLog` at start (`build_audit_log`), gives it a way to get the
audit HMAC key (`derive_audit_key(root_key)` once unsealed, None while sealed), logs an
`AuditEvent` for every request, allowed or not, and refuses the request when `log`
raises `AuditUnavailable` (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keymgr.audit.errors import AuditCorrupt, AuditError, AuditUnavailable, SinkError
from keymgr.audit.record import GENESIS, SEALED, AuditEvent, AuditLog, ChainPoint, Sink
from keymgr.audit.sinks import FileSink, SyslogSink
from keymgr.audit.verify import Problem, VerifyReport, verify
from keymgr.config import AuditFileConfig, NodeConfig

__all__ = [
    "AUDIT_KEY_INFO",
    "GENESIS",
    "SEALED",
    "AuditCorrupt",
    "AuditError",
    "AuditEvent",
    "AuditLog",
    "AuditUnavailable",
    "ChainPoint",
    "FileSink",
    "Problem",
    "Sink",
    "SinkError",
    "SyslogSink",
    "VerifyReport",
    "build_audit_log",
    "derive_audit_key",
    "verify",
]

AUDIT_KEY_INFO = b"keymgr/audit-hmac/v1"


def derive_audit_key(root_key: bytes | bytearray) -> bytes:
    """The per-cluster audit HMAC key: HKDF-SHA256 of the root key (same on every node).

    A separate key, so audit lines correlate across nodes without the root key ever
    touching anything but key wrapping.
    """
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=AUDIT_KEY_INFO)
    return hkdf.derive(bytes(root_key))


def build_audit_log(config: NodeConfig, hmac_key_provider: Callable[[], bytes | None]) -> AuditLog:
    """The node's audit log from `config.audit`; raises AuditCorrupt if the existing
    file's last line is damaged (the node must not start and hide it).

    Without any audit section the file sink writes `<data_dir>/audit/audit.log`.
    """
    audit = config.audit
    file_config = audit.file
    if file_config is None and audit.syslog is None:
        file_config = AuditFileConfig(path=config.node.data_dir / "audit" / "audit.log")
    sinks: list[Sink] = []
    if file_config is not None:
        sinks.append(
            FileSink(
                file_config.path,
                max_bytes=file_config.max_bytes,
                keep=file_config.keep,
                fsync=file_config.fsync,
            )
        )
    if audit.syslog is not None:
        sinks.append(
            SyslogSink(
                audit.syslog.address,
                protocol=audit.syslog.protocol,
                facility=audit.syslog.facility,
                required=audit.syslog.required,
            )
        )
    return AuditLog(sinks, config.node.id, hmac_key_provider)
