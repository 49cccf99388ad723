"""Who is asking: a keymgr token (`X-Vault-Token`, or `Authorization: Bearer`), else the
verified client certificate of the TLS connection, else nobody (403 before the cluster
is asked). The gateway never judges the credential itself: the cluster does, on every
call, and audits the caller with the gateway as `via`."""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

_TOKEN_TEXT = re.compile(r"[!-~]{1,512}")  # printable ASCII, no space: never a header split


@dataclass(frozen=True)
class Caller:
    token: str | None = field(default=None, repr=False)
    certificate_pem: bytes | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # never the token
        kind = "token" if self.token else "certificate" if self.certificate_pem else "nobody"
        return f"Caller({kind})"


def caller_of(headers: Mapping[str, str], peer_certificate: bytes | None) -> Caller | None:
    """The caller of one request, or None when it brings no usable credential."""
    token = headers.get("x-vault-token", "").strip()
    if not token:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else ""
    if token:
        return Caller(token=token) if _TOKEN_TEXT.fullmatch(token) else None
    if peer_certificate:
        return Caller(certificate_pem=ssl.DER_cert_to_PEM_cert(peer_certificate).encode())
    return None
