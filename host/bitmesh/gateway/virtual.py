"""An in-process virtual mesh in real time, for ``--virtual``, tests and the demo.

``VirtualMesh(n, key)`` runs ``n`` bitmesh_core MeshNodes on an asyncio task,
connected by explicit links (a line by default). Any node can be made a
*board*: :meth:`attach` returns a :class:`LoopbackLink` that behaves like the
serial host link in raw mode. The host hears every frame the board's radio
receives, and every frame the host sends is transmitted on the board's radio.
Deliveries at every virtual node are recorded, so tests can count how often
each application message arrived. Services (a craps :class:`Bot`, for one)
added with :meth:`add_service` get ``on_timer(now)`` every step, as a board's
shell calls them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bitmesh_core.config import NodeConfig
from bitmesh_core.events import Event
from bitmesh_core.identity import Identity
from bitmesh_core.node import IF_ESPNOW, MeshNode
from bitmesh_core.rng import SeededRng

from .links import LoopbackLink
from .node import cancel_tasks, clock_ms

# Blind flooding: the bridge is exercised independently of the smarter routers,
# whose tuning belongs to the simulator (pass config={"router": ...} to change).
VIRTUAL_CONFIG: dict[str, object] = {"router": "flood", "heartbeat_ms": 1000, "peer_timeout_ms": 4000,
                                     "rate_per_s": 500, "rate_burst": 1000,
                                     "stranger_rate_per_s": 500, "dedup_capacity": 1024,
                                     "events_max": 1024, "tx_queue_max": 256}


class VirtualMesh:
    """``links``: (a, b) index pairs, both directions; default a line 0-1-..-n-1."""

    def __init__(self, n: int, key: bytes, name: str = "v", seed: int = 1,
                 links: list[tuple[int, int]] | None = None,
                 config: dict[str, object] | None = None, step_ms: int = 4) -> None:
        self.name = name
        self.n = n
        self.step_s = step_ms / 1000.0
        cfg = dict(VIRTUAL_CONFIG)
        cfg.update(config or {})
        rng = SeededRng(seed)
        self.nodes = []
        for i in range(n):
            ident = Identity.from_secret(rng.randbytes(32))
            c = NodeConfig.from_dict(dict(cfg, name=f"{name}{i}"))
            self.nodes.append(MeshNode(c, ident, key, SeededRng(seed * 1000 + i), clock_ms()))
        self.addr = [bytes([2, seed & 0xFF, 0, 0, i >> 8, i & 0xFF]) for i in range(n)]
        pairs = links if links is not None else [(i, i + 1) for i in range(n - 1)]
        self.nbrs: list[list[int]] = [[] for _ in range(n)]
        for a, b in pairs:
            self.nbrs[a].append(b)
            self.nbrs[b].append(a)
        self.boards: dict[int, LoopbackLink] = {}
        self.host_tx: list[tuple[int, bytes]] = []
        self.events: list[list[Event]] = [[] for _ in range(n)]
        self.radio_tx = 0
        self.services: list[list[Any]] = [[] for _ in range(n)]
        self._task: asyncio.Task[None] | None = None

    def id(self, i: int) -> bytes:
        return self.nodes[i].node_id

    def add_service(self, i: int, svc: Any) -> None:
        """Call ``svc.on_timer(now)`` on every step of node ``i``."""
        self.services[i].append(svc)

    def add_bots(self, nodes: list[int], table: str, host: bool = False) -> list[Any]:
        """Craps bots (bitmesh_core.game.bot.Bot) on ``nodes``, at ``table``;
        they join when they hear its OPEN (``host``: the first one opens it)."""
        from bitmesh_core.game.bot import Bot

        bots = []
        for k, i in enumerate(nodes):
            cfg: dict[str, object] = {"game": "craps", "table": table,
                                      "host": host and k == 0, "seats": len(nodes) + 1}
            bot = Bot(self.nodes[i], cfg, clock_ms())
            self.add_service(i, bot)
            bots.append(bot)
        return bots

    def attach(self, i: int) -> LoopbackLink:
        """Make node ``i`` a gateway board and return the host's link to it."""
        def on_tx(frame: bytes) -> None:
            self.host_tx.append((i, frame))

        link = LoopbackLink(on_tx=on_tx)
        self.boards[i] = link
        return link

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"vmesh-{self.name}")

    async def stop(self) -> None:
        await cancel_tasks(self._task)
        self._task = None

    def send(self, i: int, dst: bytes | None, payload: bytes, app: int = 0) -> int:
        """Node ``i`` sends an application message now."""
        return self.nodes[i].send_message(dst, payload, clock_ms(), app=app)

    def delivered(self, i: int, payload: bytes) -> int:
        """How many times node ``i`` delivered ``payload`` to its application."""
        return sum(1 for e in self.events[i]
                   if e.kind == "delivered" and getattr(e, "payload", None) == payload)

    def _radio(self, i: int, frame: bytes, now: int) -> None:
        """Node ``i``'s radio transmits ``frame``: every neighbour hears it, and a
        board passes what it hears up to its host."""
        self.radio_tx += 1
        for j in self.nbrs[i]:
            self.nodes[j].receive(IF_ESPNOW, frame, -60, now, self.addr[i])
            link = self.boards.get(j)
            if link is not None:
                link.deliver(frame, -60, self.addr[i])

    def step(self) -> None:
        now = clock_ms()
        pending, self.host_tx = self.host_tx, []
        for i, frame in pending:
            self._radio(i, frame, now)
        for i, node in enumerate(self.nodes):
            for svc in self.services[i]:
                svc.on_timer(now)
            node.handle_timer(now)
            for _iface, addr, out in node.frames_to_send():
                f = bytes(out)
                if addr is None:
                    self._radio(i, f, now)
                else:
                    for j in self.nbrs[i]:
                        if self.addr[j] == addr:
                            self.nodes[j].receive(IF_ESPNOW, f, -60, now, self.addr[i])
                            link = self.boards.get(j)
                            if link is not None:
                                link.deliver(f, -60, self.addr[i])
            while True:
                ev = node.next_event()
                if ev is None:
                    break
                self.events[i].append(ev)

    async def _run(self) -> None:
        while True:
            self.step()
            await asyncio.sleep(self.step_s)
