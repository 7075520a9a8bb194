"""Gateway: one host node, its WebSocket API and (optionally) its MQTT bridge.

The assembly used by ``bitmesh gateway``, the demo, the benchmark and the
tests, so they all run the same code::

    gw = Gateway(identity, key, link, mesh_id="home", broker="mqtt://host:1883",
                 token=token, listen=("127.0.0.1", 8765))
    await gw.start()      # returns once the API listens; link and broker connect
    ...                   # in the background and reconnect on their own; the
                          # game service (gw.games) seats the laptop at tables
    await gw.stop()
"""

from __future__ import annotations

import asyncio
from typing import Any

from bitmesh_core.identity import Identity

from .api import GatewayApi
from .bridge import DEFAULT_HOP_BUDGET, MqttBridge
from .games import GameHost
from .links import Backoff, Link
from .node import HostNode, cancel_tasks


class Gateway:
    def __init__(self, identity: Identity, network_key: bytes, link: Link, *,
                 mesh_id: str = "local", broker: str | None = None, token: str | None = None,
                 listen: tuple[str, int] | None = ("127.0.0.1", 0), boot_count: int = 0,
                 hop_budget: int = DEFAULT_HOP_BUDGET, queue_max: int = 10000,
                 retry: tuple[float, float] = (0.5, 30.0),
                 node_config: dict[str, object] | None = None, games: bool = True,
                 bet_ms: int | None = None) -> None:
        self.mesh_id = mesh_id
        self.host = HostNode(identity, network_key, link, config=node_config,
                             boot_count=boot_count, link_backoff=Backoff(*retry))
        self.bridge: MqttBridge | None = None
        if broker:
            self.bridge = MqttBridge(self.host, broker, mesh_id, hop_budget=hop_budget,
                                     queue_max=queue_max, backoff=Backoff(*retry))
        # The laptop's player: craps as this node, served through the API.
        self.games = GameHost(self.host, bet_ms) if games else None
        self.api: GatewayApi | None = None
        if listen is not None:
            if not token:
                raise ValueError("an API needs a token")
            self.api = GatewayApi(self.host, token, listen[0], listen[1], games=self.games)
            self.api.status_extra["mesh_id"] = mesh_id
            self.api.status_extra["mqtt"] = self._mqtt_status
        self._bridge_task: asyncio.Task[None] | None = None

    def _mqtt_status(self) -> dict[str, Any]:
        if self.bridge is None:
            return {"state": "off", "reason": "no --mqtt broker given"}
        return self.bridge.status()

    @property
    def url(self) -> str:
        if self.api is None:
            return ""
        return f"ws://{self.api.listen[0]}:{self.api.port}"

    async def start(self) -> None:
        await self.host.start()
        if self.games is not None:
            await self.games.start()
        if self.api is not None:
            await self.api.start()
        if self.bridge is not None:
            self._bridge_task = asyncio.create_task(self.bridge.run(), name="mqtt-bridge")

    async def stop(self) -> None:
        await cancel_tasks(self._bridge_task)
        self._bridge_task = None
        if self.api is not None:
            await self.api.stop()
        if self.games is not None:
            await self.games.stop()
        await self.host.stop()

    def status(self) -> dict[str, Any]:
        st = self.host.status()
        st["mesh_id"] = self.mesh_id
        st["mqtt"] = self._mqtt_status()
        return st
