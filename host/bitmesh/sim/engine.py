"""The discrete-event engine: a virtual clock driving real MeshNode objects.

Time is an integer count of simulated microseconds; nodes see
``now_ms = t_us // 1000``. Events live in one heap of ``(t_us, seq, fn, arg)``
(``seq`` keeps same-time events in scheduling order, so runs repeat exactly).
Nothing here sleeps or reads the wall clock, except ``wall_s`` in the result.

Per node the engine keeps: the MeshNode (None while dead), a 6-byte link
address, a radio queue (a node transmits one frame at a time; frames queue
behind its own airtime and, with collisions modelled, behind frames it hears
on the air: carrier sense) and the time of its next wake-up. After anything
touches a node (a reception, a timer, an application send) :meth:`service`
moves its outgoing frames to the radio, hands its events to the metrics
collector and schedules its next ``handle_timer`` at ``next_timer()``.
A frame reaches receivers at the end of its airtime (see medium.py).
"""

from __future__ import annotations

import hashlib
import heapq
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from bitmesh.errors import UsageError
from bitmesh.sim.medium import Medium
from bitmesh.sim.metrics import Collector
from bitmesh.sim.scenario import Scenario
from bitmesh.sim.script import NETWORK_KEY, Script
from bitmesh_core import packet
from bitmesh_core.clock import diff, wrap
from bitmesh_core.config import ROUTER_NAMES, NodeConfig
from bitmesh_core.events import Event, PartitionSuspected
from bitmesh_core.identity import Identity
from bitmesh_core.node import MeshNode
from bitmesh_core.rng import SeededRng
from bitmesh_core.router import router_class

SAMPLE_US = 5_000_000  # how often table sizes are sampled
# 802.11b DCF at ESP-NOW's 1 Mbps: with collisions modelled, a node that hears
# a frame on the air defers until it ends, then waits DIFS and a random
# backoff of 0..CW_SLOTS-1 slots (carrier sense, as the Wi-Fi MAC does).
DIFS_US = 50
SLOT_US = 20
CW_SLOTS = 32
COPY_WINDOW_US = 30_000_000  # retry copies of one frame are told apart this long


_HASH_MEMO: dict[bytes, bytes] = {}
_HASH_MEMO_MAX = 200_000
_hash64_plain: list[Callable[[bytes | bytearray | memoryview, int, bytearray], None]] = []


def _hash64_memo(data: bytes | bytearray | memoryview, n: int, out: bytearray) -> None:
    """The core's pure-Python dedup hash, memoised on its input bytes.

    Every receiver of one transmission hashes the same bytes; on CPython the
    pure-Python hash dominated the profile. A memo of a pure function gives
    bit-identical identities, so the nodes behave exactly as without it."""
    k = bytes(data[:n])
    r = _HASH_MEMO.get(k)
    if r is None:
        if len(_HASH_MEMO) >= _HASH_MEMO_MAX:
            _HASH_MEMO.clear()
        _hash64_plain[0](data, n, out)
        _HASH_MEMO[k] = bytes(out[:8])
    else:
        out[:8] = r


def install_hash_memo() -> None:
    """Route bitmesh_core.packet's identity hash through the memo (idempotent)."""
    current = getattr(packet, "hash64_into")  # noqa: B009 - not re-exported for mypy
    if current is not _hash64_memo:
        _hash64_plain[:] = [current]
        setattr(packet, "hash64_into", _hash64_memo)  # noqa: B010


def check_router(name: str) -> None:
    """Raise UsageError unless ``name`` is a registered core router."""
    if name not in ROUTER_NAMES or router_class(name) is None:
        have = ", ".join(ROUTER_NAMES)
        raise UsageError(f"router {name!r} is not available in this build of bitmesh_core "
                         f"(available: {have})")


class Engine:
    """One run of one scenario under one router. Call :meth:`run` once."""

    def __init__(self, sc: Scenario, router: str, duration_s: float | None = None) -> None:
        check_router(router)
        install_hash_memo()
        self.sc = sc
        self.router = router
        self.n = n = len(sc.nodes)
        self.end_us = int((duration_s if duration_s is not None else sc.duration_s) * 1e6)
        self.medium = Medium(sc)
        self.col = Collector(n)
        self.heap: list[tuple[int, int, Callable[[Any], None], Any]] = []
        self.seq = 0
        self.now_us = 0
        self.now_ms = 0
        self.addrs = [bytes((2, 0)) + i.to_bytes(4, "big") for i in range(n)]
        self.addr_index = {a: i for i, a in enumerate(self.addrs)}
        self.identities = [Identity.from_secret(
            hashlib.sha256(b"bitmesh-sim node %d" % i).digest()) for i in range(n)]
        self.index_of_id = {ident.node_id: i for i, ident in enumerate(self.identities)}
        self.alive = [True] * n
        self.boots = [0] * n
        self.gen = [0] * n  # bumped on kill: in-flight transmissions of the old life die
        self.busy = [False] * n
        self.radio_q: list[deque[tuple[int, bytes | None, bytes | bytearray]]] = [
            deque() for _ in range(n)]
        self.wake_at = [-1] * n
        self.copies: dict[tuple[int, int], int] = {}
        self.copies_old: dict[tuple[int, int], int] = {}
        self.rx_last: list[tuple[int, set[int]] | None] = [None] * n
        self.services_by_type: dict[int, object] = {}
        self.observers: list[Callable[[int, Event], None]] = []
        self.drivers: list[Any] = []
        self.partitions: list[tuple[float, list[list[int]] | None]] = []
        self.cds: int | None = None
        self.mtu = sc.radio.mtu
        self.collisions = sc.radio.collisions
        self.backoff = random.Random(f"csma/{sc.seed}")
        # The airtime budget counts frames at the scenario's radio bitrate
        # unless its node_defaults override the knob.
        base: dict[str, Any] = {"bitrate_bps": sc.radio.bitrate_bps}
        base.update(sc.node_config)
        base["router"] = router
        self.configs = [NodeConfig.from_dict(dict(base, role=nd.role)) for nd in sc.nodes]
        self.nodes: list[MeshNode | None] = [self.make_node(i) for i in range(n)]
        self.script = Script(self)

    # ---------------------------------------------------------- scheduling
    def at(self, t_us: int, fn: Callable[[Any], None], arg: Any = None) -> None:
        """Run ``fn(arg)`` at simulated time ``t_us`` (services use this too)."""
        self.seq += 1
        heapq.heappush(self.heap, (t_us, self.seq, fn, arg))

    def register_service(self, ptype: int, handler: object) -> None:
        self.services_by_type[ptype] = handler
        for nd in self.nodes:
            if nd is not None:
                nd.register_service(ptype, handler)

    def on_event(self, fn: Callable[[int, Event], None]) -> None:
        self.observers.append(fn)

    def make_node(self, i: int) -> MeshNode:
        seed = (self.sc.seed * 1_000_003 + i * 7919 + self.boots[i] * 104_729) & 0xFFFFFFFF
        cfg = NodeConfig.from_dict(self.configs[i].to_dict())
        nd = MeshNode(cfg, self.identities[i], NETWORK_KEY, SeededRng(seed), self.now_ms,
                      boot_count=self.boots[i])
        for ptype, h in self.services_by_type.items():
            nd.register_service(ptype, h)
        return nd

    # ----------------------------------------------------------- node loop
    def service(self, i: int) -> None:
        nd = self.nodes[i]
        if nd is None:
            return
        # An empty queue yields no frames: skip the call (the hot path of floods).
        frames = nd.frames_to_send() if len(nd.txq) else None
        if frames:
            self.radio_q[i].extend(frames)
            if not self.busy[i]:
                self.start_tx(i)
        if nd.events:
            while True:
                ev = nd.next_event()
                if ev is None:
                    break
                if type(ev) is not PartitionSuspected or self._partition_founded(i, ev):
                    self.col.on_event(i, ev, self.now_us)
                for fn in self.observers:
                    fn(i, ev)
        t = nd.next_timer()
        if t is None:
            return
        now_ms = self.now_ms
        d = diff(t, wrap(now_ms))
        wake = (now_ms + (d if d > 0 else 1)) * 1000
        w = self.wake_at[i]
        if w <= self.now_us or wake < w:
            self.wake_at[i] = wake
            self.seq += 1
            heapq.heappush(self.heap, (wake, self.seq, self._wake, i))

    def _partition_founded(self, i: int, ev: PartitionSuspected) -> bool:
        """True when one of the destinations ``ev`` names really is out of
        reach of node ``i`` now (dead, or behind a partition). A live
        neighbour whose heartbeats were all lost for a peer timeout is a false
        alarm, counted apart: taken as a detection, it would report a
        partition found before it happened."""
        reach = self.medium.reach(i, self.alive)
        for node_id in ev.lost:
            j = self.index_of_id.get(node_id)
            if j is not None and j not in reach:
                return True
        self.col.partition_false_alarms += 1
        return False

    def _wake(self, i: int) -> None:
        if self.wake_at[i] != self.now_us:
            return  # superseded by an earlier wake-up, or the node died
        nd = self.nodes[i]
        if nd is None:
            return
        nd.handle_timer(self.now_ms)
        self.service(i)

    # --------------------------------------------------------------- radio
    def start_tx(self, i: int) -> None:
        q = self.radio_q[i]
        if self.collisions and q:
            last = self.rx_last[i]
            if last is not None and last[0] > self.now_us:
                # Carrier sense: the channel is busy here; try again after it.
                self.busy[i] = True
                self.col.deferrals += 1
                self.seq += 1
                t = last[0] + DIFS_US + SLOT_US * self.backoff.randrange(CW_SLOTS)
                heapq.heappush(self.heap, (t, self.seq, self._deferred, i))
                return
        while q:
            _iface, addr, frame = q.popleft()
            data = bytes(frame)
            if len(data) > self.mtu:
                self.col.medium_drops["mtu"] = self.col.medium_drops.get("mtu", 0) + 1
                continue
            air = self.medium.airtime_us(len(data))
            self.col.on_tx(i, data)
            coll = self._collide(i, air) if self.collisions else None
            self.busy[i] = True
            self.seq += 1
            heapq.heappush(self.heap, (self.now_us + air, self.seq, self._tx_end,
                                       (i, self.gen[i], data, addr, coll, air)))
            return

    def _deferred(self, i: int) -> None:
        self.busy[i] = False
        if self.radio_q[i] and self.nodes[i] is not None:
            self.start_tx(i)

    def _collide(self, i: int, air: int) -> set[int]:
        """Receivers where this frame overlaps another one (both are lost there)."""
        hit: set[int] = set()
        now, end = self.now_us, self.now_us + air
        rx_last = self.rx_last
        for j, _thr, _r in self.medium.nbrs[i]:
            last = rx_last[j]
            if last is not None and last[0] > now:
                hit.add(j)
                last[1].add(j)
            if last is None or last[0] < end:
                rx_last[j] = (end, hit)
        return hit

    def _tx_end(self, arg: tuple[int, int, bytes, bytes | None, set[int] | None, int]) -> None:
        i, gen, frame, addr, coll, air = arg
        self.busy[i] = False
        if gen != self.gen[i]:
            # the sender died mid-frame: nothing arrives; a revived life may wait
            if self.radio_q[i] and self.nodes[i] is not None:
                self.start_tx(i)
            return
        nbrs = self.medium.nbrs[i]
        airtime = self.col.airtime_us
        airtime[i] += air
        for j, _thr, _r in nbrs:
            airtime[j] += air
        if addr is not None:
            j0 = self.addr_index.get(addr, -1)
            nbrs = [x for x in nbrs if x[0] == j0]
        key = int.from_bytes(frame[5:17], "big")
        ck = (i, key)
        copy = self.copies.get(ck, self.copies_old.get(ck, 0))
        self.copies[ck] = copy + 1
        nodes = self.nodes
        lost = self.medium.lost
        src = self.addrs[i]
        now_ms = self.now_ms
        drops = self.col.medium_drops
        for j, thr, rssi in nbrs:
            nd = nodes[j]
            if nd is None or (thr and lost(thr, i, j, key, copy)):
                continue
            if coll and j in coll:
                drops["collision"] = drops.get("collision", 0) + 1
                continue
            nd.receive(0, frame, rssi, now_ms, src)
            self.service(j)
        if self.radio_q[i]:
            self.start_tx(i)

    def _rotate_copies(self, _arg: Any) -> None:
        self.copies_old = self.copies
        self.copies = {}
        self.at(self.now_us + COPY_WINDOW_US, self._rotate_copies)

    def _sample(self, _arg: Any) -> None:
        c = self.col
        for nd in self.nodes:
            if nd is None:
                continue
            c.max_peers = max(c.max_peers, len(nd.peers))
            c.max_dedup = max(c.max_dedup, len(nd.dedup))
            routes = nd.router.stats().get("routes")
            if isinstance(routes, int):
                c.max_routes = max(c.max_routes, routes)
        self.at(self.now_us + SAMPLE_US, self._sample)

    # ----------------------------------------------------------------- run
    def run(self) -> dict[str, Any]:
        """Run to the end of the scenario; returns the metrics object."""
        wall0 = time.perf_counter()
        for i in range(self.n):
            self.service(i)
        self.script.schedule()
        for drv in self.drivers:
            drv.start(self)
        self.at(0, self._sample)
        self.at(COPY_WINDOW_US, self._rotate_copies)
        heap = self.heap
        end = self.end_us
        pop = heapq.heappop
        while heap:
            t, _s, fn, arg = pop(heap)
            if t > end:
                break
            self.now_us = t
            self.now_ms = t // 1000
            fn(arg)
        self.now_us = end
        wall = time.perf_counter() - wall0
        return self._result(wall)

    def _result(self, wall: float) -> dict[str, Any]:
        sc = self.sc
        out: dict[str, Any] = {"scenario": sc.name, "router": self.router, "seed": sc.seed,
                               "nodes": self.n}
        body = self.col.result(max(1, self.end_us))
        out.update(body)
        uc = [m for m in self.col.msgs if m.kind == "unicast" and m.counted and m.opt_hops]
        hops = sum(m.opt_hops for m in uc)
        out["reference"] = {"cds_greedy": self.cds,
                            "optimal_hops_mean": body["unicast"]["optimal_hops_mean"],
                            "etx_tx_per_hop": round(sum(m.etx for m in uc) / hops, 2) if hops else None}
        out["games"] = None
        out["dht"] = None
        out["relay"] = None
        for drv in self.drivers:
            key, section = drv.metrics()
            out[key] = section
        drops: dict[str, int] = dict(self.col.medium_drops)
        for nd in self.nodes:
            if nd is not None:
                for k, v in nd.drops.items():
                    drops[k] = drops.get(k, 0) + v
        out["drops"] = dict(sorted(drops.items()))
        out["per_node"] = {"tx": list(self.col.tx_by_node),
                           "msg_tx": list(self.col.msg_tx_by_node),
                           "alive_at_end": list(self.alive)}
        out["duration_s"] = self.end_us / 1e6
        out["wall_s"] = round(wall, 3)
        return out


def run_scenario(sc: Scenario, router: str, duration_s: float | None = None) -> dict[str, Any]:
    """Run ``sc`` under ``router``; the metrics object of FORMAT.md."""
    return Engine(sc, router, duration_s).run()
