"""gRPC channels from this node to the other members, authenticated by its node cert."""

from __future__ import annotations

from typing import Any

import grpc

from keymgr.config import NodeConfig
from keymgr.stubs import operator_stub
from keymgr.tls13 import channel_credentials, client_channel_options


class Peers:
    def __init__(self, config: NodeConfig) -> None:
        self._config = config
        self._credentials = channel_credentials(config.tls.cert, config.tls.key, config.tls.ca)
        self._channels: dict[str, grpc.aio.Channel] = {}

    def operator(self, api_address: str) -> Any:
        channel = self._channels.get(api_address)
        if channel is None:
            channel = grpc.aio.secure_channel(
                api_address, self._credentials, client_channel_options()
            )
            self._channels[api_address] = channel
        return operator_stub(channel)

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
