"""An in-process mesh of real core nodes on a line/grid, for `bitmesh demo
--in-process` and quick experiments. The simulator (`bitmesh sim`) is the
measured, scenario-driven version of this; this one is small and readable."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bitmesh_core.config import NodeConfig
from bitmesh_core.events import Event
from bitmesh_core.identity import Identity
from bitmesh_core.node import MeshNode
from bitmesh_core.rng import SeededRng

KEY = bytes.fromhex("62696d657368206465" + "6d6f" * 11 + "21")[:32]


@dataclass
class DemoMesh:
    """``count`` nodes placed on a jittered grid; nodes within ``range_m`` hear
    each other with ``loss`` probability of losing each reception."""

    count: int = 12
    range_m: float = 120.0
    spacing_m: float = 90.0
    loss: float = 0.05
    seed: int = 7
    router: str = "flood"
    now: int = 0
    nodes: list[MeshNode] = field(default_factory=list)
    pos: list[tuple[float, float]] = field(default_factory=list)
    events: list[tuple[int, int, Event]] = field(default_factory=list)
    tx: int = 0

    def __post_init__(self) -> None:
        rng = SeededRng(self.seed)
        cols = max(1, int(math.sqrt(self.count)))
        for i in range(self.count):
            x = (i % cols) * self.spacing_m + rng.random() * 20
            y = (i // cols) * self.spacing_m + rng.random() * 20
            self.pos.append((x, y))
            ident = Identity.from_secret(bytes([i, 0x5A]) + bytes(30))
            cfg = NodeConfig(name=f"node-{i}", heartbeat_ms=2000, peer_timeout_ms=7000,
                             router=self.router)
            self.nodes.append(MeshNode(cfg, ident, KEY, SeededRng(100 + i), 0))
        self.rng = rng
        self.addr = [bytes([2, 0, 0, 0, 0, i]) for i in range(self.count)]
        self.hear = [[j for j in range(self.count) if j != i and self._dist(i, j) <= self.range_m]
                     for i in range(self.count)]

    def _dist(self, a: int, b: int) -> float:
        return math.dist(self.pos[a], self.pos[b])

    def step(self, ms: int = 10) -> None:
        for i, node in enumerate(self.nodes):
            node.handle_timer(self.now)
            for iface, a, frame in node.frames_to_send():
                self.tx += 1
                for j in self.hear[i]:
                    if a is not None and a != self.addr[j]:
                        continue
                    if self.rng.random() < self.loss:
                        continue
                    rssi = int(-40 - 30 * math.log10(max(1.0, self._dist(i, j))))
                    self.nodes[j].receive(iface, bytes(frame), rssi, self.now, self.addr[i])
            while (e := node.next_event()) is not None:
                self.events.append((self.now, i, e))
        self.now += ms

    def run(self, ms: int) -> None:
        end = self.now + ms
        while self.now < end:
            self.step()
