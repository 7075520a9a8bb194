"""The simulated radio medium: placement, links, partitions, loss, RSSI, airtime.

Connectivity. Without ``links`` two nodes hear each other when they are at
most ``radio.range_m`` apart (found with a spatial hash whose cells are one
range wide, so building the graph is O(n * degree)). With ``links`` the
connectivity is exactly that list; ``oneway`` links carry a -> b only.

Epochs. Partitions, heals and ``set_loss`` bump the *epoch*; per-node
neighbour lists ``(receiver, loss threshold, rssi)`` are rebuilt once per
epoch, so the hot path is a plain list walk. Dead nodes stay in the lists and
are skipped by the engine (killing a node does not cost a rebuild).

Loss. One reception of one frame at one receiver is lost with probability
``p``: the link's own ``loss`` when given, else ``radio.loss`` (uniform), or
with ``loss_model: distance`` ``p = loss + (1 - loss) / 2 * d / range``.
The draw is a pure function of (seed, sender, receiver, frame identity, copy
number) hashed with splitmix64, not a stream: every router sees the same fate
for the same frame copy on the same link, however many other frames it sends.

RSSI (dBm) follows a log-distance path-loss model: ``-40 - 25 * log10(d)``
with d in metres (floored at 1 m), so about -90 dBm at 100 m.

Airtime of one frame: 192 us (802.11b long preamble and PLCP header) plus
(frame + 43 bytes of 802.11 action-frame header, ESP-NOW vendor element and
FCS) * 8 / bitrate.
"""

from __future__ import annotations

import math
from collections import deque

from bitmesh.sim.scenario import Scenario

PREAMBLE_US = 192
FRAME_OVERHEAD_BYTES = 43
M64 = (1 << 64) - 1


def rssi_at(d_m: float) -> int:
    """Received signal strength in dBm at ``d_m`` metres (log-distance model)."""
    v = -40.0 - 25.0 * math.log10(max(d_m, 1.0))
    return max(-127, min(-1, int(round(v))))


def mix64(h: int) -> int:
    """splitmix64 finaliser: a well-spread 64-bit value from any integer."""
    z = (h + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


class Medium:
    """Who hears whom right now, with what loss and signal strength."""

    def __init__(self, sc: Scenario) -> None:
        self.sc = sc
        self.n = len(sc.nodes)
        self.xs = [nd.x for nd in sc.nodes]
        self.ys = [nd.y for nd in sc.nodes]
        self.range_m = sc.radio.range_m
        self.loss = sc.radio.loss
        self.seed = sc.seed
        bitrate = sc.radio.bitrate_bps
        self.us_per_byte = 8_000_000 / bitrate
        # base[i] = [(j, own link loss or None)] for frames i -> j
        self.base: list[list[tuple[int, float | None]]] = [[] for _ in range(self.n)]
        if sc.links is not None:
            for ln in sc.links:
                self.base[ln.a].append((ln.b, ln.loss))
                if not ln.oneway:
                    self.base[ln.b].append((ln.a, ln.loss))
        else:
            self._range_graph()
        self.group = [-1] * self.n
        self.epoch = 0
        self.nbrs: list[list[tuple[int, int, int]]] = []
        self.nbr_sets: list[set[int]] = []
        self._rebuild()

    # ------------------------------------------------------------ topology
    def dist(self, a: int, b: int) -> float:
        return math.hypot(self.xs[a] - self.xs[b], self.ys[a] - self.ys[b])

    def _range_graph(self) -> None:
        r = self.range_m
        cells: dict[tuple[int, int], list[int]] = {}
        for i in range(self.n):
            cells.setdefault((int(self.xs[i] // r), int(self.ys[i] // r)), []).append(i)
        r2 = r * r
        xs, ys = self.xs, self.ys
        for (cx, cy), members in cells.items():
            near = [j for dx in (-1, 0, 1) for dy in (-1, 0, 1)
                    for j in cells.get((cx + dx, cy + dy), ())]
            for i in members:
                xi, yi = xs[i], ys[i]
                out = self.base[i]
                for j in near:
                    if j != i and (xs[j] - xi) ** 2 + (ys[j] - yi) ** 2 <= r2:
                        out.append((j, None))
        for lst in self.base:
            lst.sort()

    def blocked(self, a: int, b: int) -> bool:
        ga, gb = self.group[a], self.group[b]
        return ga >= 0 and gb >= 0 and ga != gb

    def loss_prob(self, a: int, b: int, own: float | None) -> float:
        if own is not None:
            return own
        if self.sc.radio.loss_model == "distance":
            frac = min(1.0, self.dist(a, b) / self.range_m)
            return self.loss + (1.0 - self.loss) / 2.0 * frac
        return self.loss

    def _rebuild(self) -> None:
        self.nbrs = []
        self.nbr_sets = []
        for i in range(self.n):
            lst = []
            for j, own in self.base[i]:
                if self.blocked(i, j):
                    continue
                p = self.loss_prob(i, j, own)
                thr = 0 if p <= 0.0 else (M64 + 1 if p >= 1.0 else int(p * (M64 + 1)))
                lst.append((j, thr, rssi_at(self.dist(i, j))))
            self.nbrs.append(lst)
            self.nbr_sets.append({t[0] for t in lst})
        self.epoch += 1

    def partition(self, groups: list[list[int]]) -> None:
        """Only links inside one group carry frames; ungrouped nodes keep all."""
        self.group = [-1] * self.n
        for g, members in enumerate(groups):
            for i in members:
                self.group[i] = g
        self._rebuild()

    def heal(self) -> None:
        self.group = [-1] * self.n
        self._rebuild()

    def set_loss(self, loss: float) -> None:
        self.loss = loss
        self._rebuild()

    # ----------------------------------------------------------- per frame
    def lost(self, thr: int, sender: int, receiver: int, key: int, copy: int) -> bool:
        """The loss draw for one reception (see the module docstring)."""
        if thr == 0:
            return False
        return mix64(hash((self.seed, sender, receiver, key, copy))) < thr

    def airtime_us(self, size: int) -> int:
        return PREAMBLE_US + int((size + FRAME_OVERHEAD_BYTES) * self.us_per_byte)

    # --------------------------------------------------------- references
    def reach(self, src: int, alive: list[bool]) -> dict[int, int]:
        """Hop distance from ``src`` to every node it can reach now, ignoring
        loss, through alive nodes (``src`` itself at 0)."""
        dist = {src: 0}
        q = deque([src])
        nbrs = self.nbrs
        while q:
            u = q.popleft()
            du = dist[u] + 1
            for j, _thr, _r in nbrs[u]:
                if alive[j] and j not in dist:
                    dist[j] = du
                    q.append(j)
        return dist

    def edges(self, alive: list[bool]) -> list[tuple[int, int]]:
        """Undirected edges between alive nodes in the current epoch."""
        out = []
        for i in range(self.n):
            if alive[i]:
                for j, _thr, _r in self.nbrs[i]:
                    if alive[j] and (i < j or i not in self.nbr_sets[j]):
                        out.append((i, j))
        return out
