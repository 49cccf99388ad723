"""The synchronous keymgr client: one class composed of a transport and per-service calls.

    Transport        channels, credentials, failover, read-your-writes   (_transport)
    ├── KeyCalls       key lifecycle                                      (_keys)
    ├── CryptoCalls    data keys, encrypt/decrypt, batches                (_crypto)
    ├── VolumeCalls    LUKS volume keys                                   (_volume)
    ├── TdeCalls       TDE master keys                                    (_tde)
    ├── OperatorCalls  init, seal, status, membership, root rotation      (_operator)
    ├── SnapshotCalls  backup and restore                                 (_snapshots)
    ├── AccessCalls    policies, roles, approvals, export                 (_access)
    └── SecretsCalls   `client.secrets`: versioned secrets, tokens        (_secrets)

A new service adds one module with a `Transport` subclass and one base below.
"""

from __future__ import annotations

from keymgr.client._access import AccessCalls
from keymgr.client._crypto import CryptoCalls
from keymgr.client._keys import KeyCalls
from keymgr.client._operator import OperatorCalls
from keymgr.client._results import DataKey, MasterKey, VolumeKey
from keymgr.client._secrets import SecretsCalls
from keymgr.client._snapshots import SnapshotCalls
from keymgr.client._tde import TdeCalls
from keymgr.client._transport import Credentials
from keymgr.client._volume import VolumeCalls

__all__ = ["Client", "Credentials", "DataKey", "MasterKey", "VolumeKey"]


class Client(
    KeyCalls,
    CryptoCalls,
    VolumeCalls,
    TdeCalls,
    OperatorCalls,
    SnapshotCalls,
    AccessCalls,
    SecretsCalls,
):
    """Talks to a keymgr cluster through any of `endpoints` ("host:port").

    Retryable failures (a sealed or leaderless node, a deadline) move the call to the
    next endpoint, up to `attempts` tries in all with a short backoff; final errors
    are raised at once. Read-your-writes: the client remembers the highest Raft index a
    node reported for its writes and sends it on every call; a node that has not
    applied that much waits briefly or refuses, and the call moves on. Example::

        client = Client(["127.0.0.1:7001", "127.0.0.1:7002"], credentials=creds)
        dk = client.generate_data_key("orders", context={"table": "t1"})

    `connections_per_node` > 1 opens that many connections to each node and takes them
    in turn: a node's serving processes (`serving.processes`) each accept some of them,
    so one busy client can use all of a node's cores.
    """
