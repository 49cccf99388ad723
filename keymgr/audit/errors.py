"""Audit failures. The node refuses a request it cannot audit (fail closed)."""

from __future__ import annotations


class AuditError(Exception):
    """Base of every audit failure; `str()` is one line and never holds audited data."""


class SinkError(AuditError):
    """A sink could not write a line (disk full, unwritable file, syslog unreachable)."""


class AuditUnavailable(AuditError):
    """A required sink failed: the request being audited must be refused."""


class AuditCorrupt(AuditError):
    """The existing log cannot be continued (its last line is damaged): refuse to start."""
