"""A scenario's script: its traffic plan and its timed events, played on an engine.

:meth:`Script.schedule` puts every application send and every scenario event
(kill, revive, partition, heal, set_loss, rogue, and the services' own) on the
engine's event heap, traffic first, in the scenario's order, so a run repeats
exactly. When a message is sent it also records what the metrics compare it
with: which live nodes could be reached, the shortest path in hops, the greedy
connected dominating set (broadcasts) and the best acked path's ETX floor (unicasts),
all from reference.py on the links as they are at that moment.
"""

from __future__ import annotations

import hashlib
import random
from typing import TYPE_CHECKING

from bitmesh.errors import UsageError
from bitmesh.sim import reference, services
from bitmesh.sim.medium import M64
from bitmesh.sim.metrics import payload_for
from bitmesh.sim.scenario import Event as ScEvent
from bitmesh.sim.scenario import Traffic
from bitmesh_core.auth import FrameAuth
from bitmesh_core.packet import T_BROADCAST, TLV_PAYLOAD, build, tlv
from bitmesh_core.rng import SeededRng

if TYPE_CHECKING:
    from bitmesh.sim.engine import Engine

NETWORK_KEY = hashlib.sha256(b"bitmesh-sim network key").digest()
ROGUE_KEY = hashlib.sha256(b"bitmesh-sim rogue key").digest()


class Script:
    """The traffic and events of ``engine``'s scenario, as engine callbacks."""

    def __init__(self, engine: Engine) -> None:
        self.e = engine
        self._etx_key: object = None
        self._etx_cache: dict[int, dict[int, float]] = {}
        self._etx_loss: dict[tuple[int, int], float] = {}

    def schedule(self) -> None:
        """Queue every send and event of the scenario (call once, before the run)."""
        e = self.e
        for k, t in enumerate(e.sc.traffic):
            if t.kind in services.TRAFFIC_DRIVERS:
                e.drivers.append(services.TRAFFIC_DRIVERS[t.kind](t.raw, e.sc.index()))
                continue
            rnd = random.Random(f"traffic/{e.sc.seed}/{k}")
            for m in range(t.count):
                at = int((t.start_s + m * t.interval_s) * 1e6)
                if at > e.end_us:
                    break
                e.at(at, self._send, (t, m, rnd))
        for ev in e.sc.events:
            e.at(int(ev.at_s * 1e6), self._event, ev)

    # ------------------------------------------------------------- traffic
    def _pick(self, rnd: random.Random, exclude: int = -1) -> int:
        e = self.e
        live = [i for i in range(e.n) if e.alive[i] and i != exclude]
        return rnd.choice(live) if live else -1

    def _send(self, arg: tuple[Traffic, int, random.Random]) -> None:
        e = self.e
        t, m, rnd = arg
        if t.kind == "broadcast":
            src = t.origin if t.origin is not None else self._pick(rnd)
            dst = -1
        elif t.pairs is not None:
            src, dst = t.pairs[m % len(t.pairs)]
        else:
            src = self._pick(rnd)
            dst = self._pick(rnd, exclude=src) if src >= 0 else -1
            if dst < 0:
                return
        nd = e.nodes[src] if src >= 0 else None
        if nd is None:
            return  # the application of a dead node sends nothing
        mi = e.col.new_msg(t.kind, src, dst, e.now_us)
        msg = e.col.msgs[mi]
        dist = e.medium.reach(src, e.alive)
        if dst < 0:
            msg.reach = set(dist) - {src}
            if e.cds is None:
                g = reference.graph(e.medium.edges(e.alive),
                                    [i for i in range(e.n) if e.alive[i]])
                e.cds = reference.cds_greedy(g, src)
        else:
            msg.counted = dst in dist
            msg.opt_hops = dist.get(dst, 0)
            if msg.counted:
                msg.etx = self._etx(src).get(dst, 0.0)
        target = None if dst < 0 else e.identities[dst].node_id
        try:
            nd.send_message(target, payload_for(mi, t.size), e.now_ms)
        except ValueError as exc:
            raise UsageError(f"{e.sc.source}: traffic: {exc}") from None
        e.service(src)

    def _etx(self, src: int) -> dict[int, float]:
        """``reference.etx_from`` for ``src``, cached until links or liveness
        change (the link losses until links change)."""
        medium = self.e.medium
        key = (medium.epoch, tuple(self.e.alive))
        if self._etx_key != key:
            if not isinstance(self._etx_key, tuple) or self._etx_key[0] != key[0]:
                self._etx_loss = reference.link_loss(medium.nbrs, M64 + 1)
            self._etx_key = key
            self._etx_cache = {}
        d = self._etx_cache.get(src)
        if d is None:
            d = reference.etx_from(medium.nbrs, self._etx_loss, self.e.alive, src)
            self._etx_cache[src] = d
        return d

    # -------------------------------------------------------------- events
    def _event(self, ev: ScEvent) -> None:
        e = self.e
        a = ev.action
        if a == "kill":
            for i in ev.nodes:
                if e.alive[i]:
                    e.alive[i] = False
                    e.nodes[i] = None
                    e.gen[i] += 1
                    e.radio_q[i].clear()
                    e.wake_at[i] = -1
            e.col.on_kill(ev.nodes, e.now_us)
        elif a == "revive":
            for i in ev.nodes:
                if not e.alive[i]:
                    e.alive[i] = True
                    e.boots[i] += 1
                    e.nodes[i] = e.make_node(i)
                    e.service(i)
        elif a == "partition":
            e.medium.partition(ev.groups)
            e.partitions.append((ev.at_s, ev.groups))
            e.col.disrupt_us.append(e.now_us)
        elif a == "heal":
            e.medium.heal()
            e.partitions.append((ev.at_s, None))
        elif a == "set_loss":
            e.medium.set_loss(ev.loss)
        elif a == "rogue":
            step = max(1, int(1e6 / ev.rate_per_s))
            rnd = SeededRng(e.sc.seed * 31 + ev.nodes[0])
            for i in ev.nodes:
                e.at(e.now_us, self._rogue, (ev, i, step, rnd))
        else:
            services.EVENT_HANDLERS[a](e, ev)

    def _rogue(self, arg: tuple[ScEvent, int, int, SeededRng]) -> None:
        """One frame of a rogue flooder: random origin, signed with the network
        key (an insider) or a wrong key, queued on its radio as-is."""
        e = self.e
        ev, i, step, rnd = arg
        if e.now_us > int(ev.until_s * 1e6):
            return
        if e.nodes[i] is not None:
            src = bytes(rnd.getrandbits(8) for _ in range(8))
            body = tlv(TLV_PAYLOAD, bytes(rnd.getrandbits(8) for _ in range(20)))
            f = build(T_BROADCAST, src, rnd.getrandbits(30), 7, body)
            FrameAuth(NETWORK_KEY if ev.authenticated else ROGUE_KEY).sign(f)
            e.col.rogue_keys.add(bytes(f[5:17]))
            e.radio_q[i].append((0, None, f))
            if not e.busy[i]:
                e.start_tx(i)
        e.at(e.now_us + step, self._rogue, arg)
