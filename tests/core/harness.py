"""A tiny in-process mesh for core tests that must run on both runtimes.

No pytest, no host code: the same file runs under CPython (pytest) and under
the MicroPython unix port (tests/mpy/run.py). Links are explicit, may be
one-way and lossy; loss draws come from a seeded generator so runs repeat.
"""

import gc

from bitmesh_core.config import NodeConfig
from bitmesh_core.identity import Identity
from bitmesh_core.node import MeshNode
from bitmesh_core.rng import SeededRng

KEY = bytes(range(32))

# Small tables so a dozen nodes fit in one board-sized MicroPython heap; the
# full-size single-node budget is checked separately (tests/mpy/budget.py).
SMALL_TABLES = {"dedup_capacity": 128, "max_peers": 16, "replay_senders": 32,
                "tx_queue_max": 32, "events_max": 64}
# bitmesh router tables (docs/ROUTING.md), sized the same way.
SMALL_TABLES.update({"max_routes": 8, "route_paths": 2, "msg_dedup": 16, "hold_max": 8,
                     "origin_slots": 8, "pending_relays": 4, "hop_pending": 4})


# Routing tests: tables sized so a dozen nodes fit one board-sized
# MicroPython heap, and a 1 s heartbeat so repair happens within a test.
ROUTING_SMALL = {"max_routes": 8, "route_paths": 2, "msg_dedup": 16, "hold_max": 12,
                 "origin_slots": 8, "pending_relays": 4, "hop_pending": 6,
                 "dedup_capacity": 64, "max_peers": 10, "replay_senders": 16,
                 "events_max": 16, "tx_queue_max": 24}
ROUTING_FAST = {"router": "bitmesh", "heartbeat_ms": 1000, "peer_timeout_ms": 3000}
ROUTING_FAST.update(ROUTING_SMALL)


def router_stats(m: "Mesh", i: int) -> dict:
    """The bitmesh router's counters of node ``i``."""
    return m.nodes[i].stats()["router_stats"]  # type: ignore[return-value]


def make_identity(i: int) -> Identity:
    return Identity.from_secret(bytes([i & 0xFF, (i >> 8) & 0xFF]) + bytes(30))


class Mesh:
    """``links`` is a list of (a, b) or (a, b, loss, oneway) index pairs."""

    def __init__(self, n: int, links: "list[tuple]", seed: int = 1,
                 config: "dict[str, object] | None" = None, step_ms: int = 5,
                 start_ms: int = 0) -> None:
        self.n = n
        self.rng = SeededRng(seed)
        self.now = start_ms
        self.step_ms = step_ms
        cfg = dict(SMALL_TABLES)
        cfg.update(config or {})
        self.config = cfg
        self.addr = [bytes([2, 0, 0, 0, i >> 8, i & 0xFF]) for i in range(n)]
        self.alive = [True] * n
        self.boots = [0] * n
        self.nodes = [self._make(i) for i in range(n)]
        self.out = {}  # type: dict[int, list[tuple[int, float]]]
        for i in range(n):
            self.out[i] = []
        for ln in links:
            a = ln[0]
            b = ln[1]
            loss = ln[2] if len(ln) > 2 else 0.0
            oneway = ln[3] if len(ln) > 3 else False
            self.out[a].append((b, loss))
            if not oneway:
                self.out[b].append((a, loss))
        self.events = [[] for _ in range(n)]  # type: list[list]
        self.tx = 0
        self.tx_by_node = [0] * n
        self.blocked = set()  # type: set[tuple[int, int]]

    def _make(self, i: int) -> MeshNode:
        # Collect before each node's tables are allocated, as a board's shell
        # does at start-up: the garbage of the last node must not fragment the
        # shared board-sized heap under the next one's buffers.
        gc.collect()
        cfg = NodeConfig.from_dict(self.config)
        return MeshNode(cfg, make_identity(i), KEY, SeededRng(1000 + i), self.now,
                        boot_count=self.boots[i])

    def id(self, i: int) -> bytes:
        return self.nodes[i].node_id

    def index_of(self, node_id: bytes) -> int:
        for i in range(self.n):
            if self.nodes[i].node_id == node_id:
                return i
        return -1

    def kill(self, i: int) -> None:
        self.alive[i] = False

    def revive(self, i: int) -> None:
        self.alive[i] = True
        self.boots[i] += 1
        self.nodes[i] = self._make(i)

    def block(self, a: int, b: int) -> None:
        """Cut the link both ways (partition)."""
        self.blocked.add((a, b))
        self.blocked.add((b, a))

    def unblock_all(self) -> None:
        self.blocked = set()

    def step(self) -> None:
        now = self.now
        for i in range(self.n):
            if not self.alive[i]:
                continue
            node = self.nodes[i]
            t = node.next_timer()
            if t is None or ((now - t) & 0x3FFFFFFF) < 0x20000000:
                node.handle_timer(now)
            for iface, a, frame in node.frames_to_send():
                self.transmit(i, iface, a, frame)
            while True:
                e = node.next_event()
                if e is None:
                    break
                self.events[i].append(e)
        self.now += self.step_ms

    def transmit(self, i: int, iface: int, a: "bytes | None",
                 frame: "bytes | bytearray") -> None:
        """Send ``frame`` from node ``i`` over its links (to address ``a`` only,
        when not None). Tests call it directly to send raw frames, as a radio
        that does not run the core would (a rogue's)."""
        self.tx += 1
        self.tx_by_node[i] += 1
        data = bytes(frame)
        for j, loss in self.out[i]:
            if not self.alive[j] or (i, j) in self.blocked:
                continue
            if a is not None and a != self.addr[j]:
                continue
            if loss and self.rng.random() < loss:
                continue
            self.nodes[j].receive(iface, data, -60, self.now, self.addr[i])

    def run(self, ms: int) -> None:
        end = self.now + ms
        while self.now < end:
            self.step()

    def delivered(self, i: int, payload: bytes) -> int:
        n = 0
        for e in self.events[i]:
            if e.kind == "delivered" and e.payload == payload:
                n += 1
        return n

    def kinds(self, i: int, kind: str) -> list:
        return [e for e in self.events[i] if e.kind == kind]


def line(n: int, loss: float = 0.0) -> "list[tuple]":
    return [(i, i + 1, loss) for i in range(n - 1)]


def grid(rows: int, cols: int, loss: float = 0.0) -> "list[tuple]":
    out = []
    for r in range(rows):
        for c in range(cols):
            i = r * cols + c
            if c + 1 < cols:
                out.append((i, i + 1, loss))
            if r + 1 < rows:
                out.append((i, i + cols, loss))
    return out
