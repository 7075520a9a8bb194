"""The radio medium for virtual boards: a UDP hub that applies a scenario.

Boards (firmware/udp_radio.py) say hello with their 6-byte link address and
label (the scenario node id, e.g. ``n3``) and send ``T``-datagrams; the medium
decides who hears each frame: explicit ``links`` (with per-link loss and
one-way), else distance <= ``range_m``; partitions, killed nodes and
``set_loss`` apply on top; each reception is lost with the link's probability
(``distance`` loss model as in FORMAT.md). RSSI falls from -40 dBm at 0 m to
-90 dBm at the edge of range. Labels the scenario does not know hear and are
heard by everyone (a free-space medium when there is no scenario).

Runs in a background thread (``Medium.start()``); every transmission is
counted per sender and handed to ``on_tx(node index, frame)`` (vmesh feeds the
simulator's metrics collector with it).
"""

from __future__ import annotations

import math
import random
import socket
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

BCAST = b"\xff" * 6


class Medium:
    def __init__(self, scenario: Any = None, seed: int = 1) -> None:
        self.sc = scenario
        self.rng = random.Random(seed)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.boards: dict[bytes, tuple[tuple[str, int], str]] = {}
        self.index = scenario.index() if scenario is not None else {}
        self.loss = scenario.radio.loss if scenario is not None else 0.0
        self.groups: list[set[int]] | None = None
        self.dead: set[int] = set()
        self.lock = threading.Lock()
        self.tx_by_node: Counter[str] = Counter()
        self.on_tx: Callable[[int, bytes], None] | None = None  # metrics hook
        self.delivered = 0
        self.lost = 0
        self.running = False
        self.thread: threading.Thread | None = None
        self.links: dict[tuple[int, int], float | None] | None = None
        if scenario is not None and scenario.links is not None:
            self.links = {}
            for ln in scenario.links:
                self.links[(ln.a, ln.b)] = ln.loss
                if not ln.oneway:
                    self.links[(ln.b, ln.a)] = ln.loss

    # ------------------------------------------------------------ topology
    def _dist(self, a: int, b: int) -> float:
        na, nb = self.sc.nodes[a], self.sc.nodes[b]
        return math.hypot(na.x - nb.x, na.y - nb.y)

    def link_loss(self, a: int, b: int) -> float | None:
        """Loss probability of a -> b right now, or None when b cannot hear a."""
        if a == b or a in self.dead or b in self.dead:
            return None
        if self.groups is not None:
            ga = [i for i, g in enumerate(self.groups) if a in g]
            gb = [i for i, g in enumerate(self.groups) if b in g]
            if ga and gb and ga[0] != gb[0]:
                return None
        if self.links is not None:
            if (a, b) not in self.links:
                return None
            own = self.links[(a, b)]
            return self.loss if own is None else own
        d = self._dist(a, b)
        rng = self.sc.radio.range_m
        if d > rng:
            return None
        if self.sc.radio.loss_model == "distance":
            return self.loss + (1 - self.loss) / 2 * (d / rng if rng else 0)
        return self.loss

    def rssi(self, a: int, b: int) -> int:
        if self.sc is None:
            return -50
        rng = self.sc.radio.range_m or 1
        return int(-40 - 50 * min(1.0, self._dist(a, b) / rng))

    def graph(self) -> dict[int, set[int]]:
        """Directed reachability now (ignoring loss): node -> nodes that hear it."""
        n = len(self.sc.nodes) if self.sc is not None else 0
        return {a: {b for b in range(n) if self.link_loss(a, b) is not None} for a in range(n)}

    # -------------------------------------------------------------- events
    def partition(self, groups: list[list[int]]) -> None:
        with self.lock:
            self.groups = [set(g) for g in groups]

    def heal(self) -> None:
        with self.lock:
            self.groups = None

    def set_loss(self, loss: float) -> None:
        with self.lock:
            self.loss = loss

    def kill(self, nodes: list[int]) -> None:
        with self.lock:
            self.dead.update(nodes)

    def revive(self, nodes: list[int]) -> None:
        with self.lock:
            self.dead.difference_update(nodes)

    # ---------------------------------------------------------------- relay
    def start(self) -> None:
        self.running = True
        self.thread = threading.Thread(target=self._run, name="vmesh-medium", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.running = False
        if self.thread is not None:
            self.thread.join(2)
        self.sock.close()

    def _run(self) -> None:
        while self.running:
            try:
                data, addr = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) < 7:
                continue
            if data[0:1] == b"H":
                self.boards[data[1:7]] = (addr, data[7:].decode("utf-8", "replace"))
            elif data[0:1] == b"T":
                with self.lock:
                    self._transmit(data[1:7], data[7:], addr)

    def _label_of(self, addr: tuple[str, int]) -> tuple[bytes, str] | None:
        for mac, (a, label) in self.boards.items():
            if a == addr:
                return mac, label
        return None

    def _transmit(self, dst: bytes, frame: bytes, addr: tuple[str, int]) -> None:
        who = self._label_of(addr)
        if who is None:
            return  # a board that has not said hello yet
        src_mac, label = who
        self.tx_by_node[label] += 1
        si = self.index.get(label)
        if self.on_tx is not None and si is not None:
            self.on_tx(si, frame)
        for mac, (raddr, rlabel) in list(self.boards.items()):
            if mac == src_mac or (dst != BCAST and mac != dst):
                continue
            ri = self.index.get(rlabel)
            if si is not None and ri is not None:
                loss = self.link_loss(si, ri)
                if loss is None:
                    continue
                if loss > 0 and self.rng.random() < loss:
                    self.lost += 1
                    continue
                rssi = self.rssi(si, ri)
            else:
                rssi = -50
            self.delivered += 1
            try:
                self.sock.sendto(b"R" + src_mac + bytes((rssi & 0xFF,)) + frame, raddr)
            except OSError:
                pass

    def inject(self, label: str, frame: bytes) -> None:
        """Transmit a frame as if node ``label`` sent it (rogue traffic)."""
        for _mac, (addr, lab) in list(self.boards.items()):
            if lab == label:
                with self.lock:
                    self._transmit(BCAST, frame, addr)
                return
