"""Name rules shared by the config, the PKI and the replicated state, defined once.

A node id appears in file names, certificate URIs, Raft membership and replicated
records; a host name in certificates and configs. Every layer must accept exactly the
same ones, so they all use these patterns.
"""

from __future__ import annotations

import re
from typing import Final

NODE_ID: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
DNS_LABEL: Final = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
SEAL_TYPES: Final = ("shamir", "file", "pkcs11")
