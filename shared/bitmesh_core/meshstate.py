"""The bitmesh router's state and bookkeeping: its tables, what heartbeats
carry and teach, route learning, and the small waits and acks that the
relaying and unicast logic in mesh.py builds on.

Every table is bounded by a NodeConfig field (docs/ROUTING.md lists them).
"""

from array import array

from .broadcast import SYM_NO, Coverage, popcount
from .clock import add, diff
from .compat import TYPE_CHECKING, const
from .events import PartitionHealed, PartitionSuspected, SendFailed
from .floodrepair import RecentFloods
from .holdq import WAIT, Held, HoldQueue, MsgDedup
from .keytable import IdRing, KeyTable
from .packet import (
    F_DST,
    T_ACK,
    T_ROUTE,
    TLV_ACKED,
    TLV_MSGID,
    TLV_NEIGHBORS,
    TLV_PATH,
    TLV_ROUTE_OP,
    TLV_SEEN,
    Packet,
    tlv,
)
from .partition import PartitionTracker
from .router import Router
from .routes import RouteTable, fits_routed, reverse_path
from .txqueue import P_CONTROL, P_DATA
from .waits import FloodWait, HopWait, OriginLimiter

OP_REPLY = 1
OP_ERROR = 2
MAX_LISTED = 40  # neighbour ids per heartbeat (fits the 250-byte frame)
_REPLY_GAP_MS = const(1000)
_SRC_RELAYED = const(16)  # source-routed frames remembered: we link-ack a copy we relayed
_SPARSE = const(3)  # at most this many neighbours: flood relays wait for passive acks
_LOSS_PER_RETRY = const(7)  # heartbeat-loss percent that earns a source-routed hop one more try
_ONE_WAY_PENALTY = const(1 << 16)  # below any path whose first hop hears us

if TYPE_CHECKING:
    from typing import Any

    from .node import MeshNode


class MeshState(Router):
    """Tables and shared helpers of ``MeshRouter`` (mesh.py), which adds the
    forwarding decisions. Not a router on its own."""

    def __init__(self, node: "MeshNode") -> None:
        super().__init__(node)
        c = node.config
        self.routes = RouteTable(c.max_routes, c.route_paths, c.route_stale_ms)
        self.cov = Coverage(c.max_peers, c.pending_relays, c.bcast_cover)
        self.recent = RecentFloods(c.flood_repair, c.flood_repair_ms)
        self.part = PartitionTracker(c.max_routes, c.route_stale_ms)
        self.holdq = HoldQueue(c.hold_max)
        self.msgs = MsgDedup(c.msg_dedup)
        self.waits = []  # type: list[HopWait]
        self.fwaits = []  # type: list[FloodWait]
        self.shorts = KeyTable(c.max_peers, 4)  # 4-byte short id -> peer slot
        # Origins we sent a route reply lately (one a second each), as many as
        # the destinations we keep routes to.
        self.replied = KeyTable(c.max_routes, 8)
        self.replied_t = array("i", bytes(4 * c.max_routes))  # when, by slot
        self.replied2 = bytearray(c.max_routes)  # a second, disjoint path was replied
        self.origins = OriginLimiter(c.origin_slots, c.origin_rate_per_s, c.origin_rate_burst)
        self.hb_rot = 0
        self.dead_end = False
        self.fwd = IdRing(_SRC_RELAYED, 8)  # pids we relayed on a source route
        self.gone = []  # type: list[bytes]  # short ids of neighbours lost lately (8)
        self.st = {"suppressed": 0, "flood_relays": 0, "src_relays": 0, "hop_retries": 0,
                   "hop_fail": 0, "flood_retries": 0, "route_replies": 0, "route_errors": 0,
                   "resent": 0, "blind": 0, "one_way_first_hop": 0, "blind_relays": 0,
                   "out_of_scope": 0,
                   "held": 0, "sent_routed": 0, "sent_flooded": 0, "origin_limited": 0,
                   "forged_origin": 0, "link_acks": 0, "max_routes": 0,
                   "flood_repairs": 0, "route_replies2": 0}  # type: dict[str, int]
        node.register_service(T_ROUTE, self)

    def _slot_of_short(self, short: bytes) -> int:
        s = self.shorts.get(short, -1)  # -1 for a key of the wrong length too
        if s >= 0 and not self.node.peers.id_starts(s, short):
            return -1
        return s

    def _rebuild_shorts(self) -> None:
        sh = self.shorts
        sh.clear()
        by_id = self.node.peers.by_id
        for s in by_id.values():
            sh[by_id.key_at(s)[:4]] = s

    def _first_hop_penalty(self, short: bytes) -> int:
        """What a path's first hop costs its score: low reputation, and far
        more a neighbour that said it no longer hears us (`_send` will not
        use such a path: nothing could tell the origin it failed)."""
        s = self._slot_of_short(short)
        if s < 0:
            return 0
        if self.cov.sym[s] == SYM_NO:
            return _ONE_WAY_PENALTY
        r = self.node.peers.rep[s]
        return 0 if r >= 40 else (40 - r) * 2

    def _targets(self) -> int:
        return self.cov.targets(self.node.peers.by_id.used, self.node.peers.loss)

    def _jitter(self, span: int) -> int:
        return int(self.node.rng.getrandbits(10)) * span // 1024  # type: ignore[attr-defined]

    def _lost(self, dsts: "list[bytes]", now: int) -> None:
        new = self.part.mark_lost(dsts, now)
        if new:
            self.node.push_event(PartitionSuspected(new))

    def _back(self, dst: bytes, now: int) -> None:
        if self.part.back(dst):
            self.node.push_event(PartitionHealed([dst]))
        if self.holdq.items:
            for h in self.holdq.waiting_for(dst):
                # Each message is released from waiting at most twice.
                self._send(h.dst, h.ptype, h.body, h.flags, h.prio, now, h.msg_id, False,
                           h.tries + 1)

    def _learn(self, dst: bytes, path: bytes, verified: bool, now: int) -> None:
        if len(path) > 64 or dst == self.node.node_id:
            return
        self.routes.learn(dst, path, verified, now)
        n = len(self.routes)
        if n > self.st["max_routes"]:
            self.st["max_routes"] = n
        if self.part.lost or self.holdq.items:
            self._back(dst, now)

    def _hears_us(self, short: bytes) -> int:
        """1: a neighbour that hears us (or has not said); 0: not a neighbour;
        -1: a neighbour that told us it does not hear us (one-way link)."""
        s = self._slot_of_short(short)
        if s < 0:
            return 0
        return -1 if self.cov.sym[s] == SYM_NO else 1

    def _learn_reverse(self, src: bytes, rr: bytes, now: int) -> "bytes | None":
        """Guess the way back to ``src``: the record reversed, returned. Only
        plausible when our first hop back (the last relay, or ``src`` itself)
        is a neighbour that hears us; None otherwise."""
        if self._hears_us(rr[len(rr) - 4:] if rr else src[:4]) <= 0:
            return None
        back = reverse_path(rr)
        self._learn(src, back, False, now)
        return back

    def heartbeat_tlvs(self, now: int) -> bytes:
        seen = tlv(TLV_SEEN, self.recent.seen_value(now)) if self.recent.cap else b""
        by_id = self.node.peers.by_id
        used = by_id.used
        slots = [s for s in range(len(used)) if used[s]]  # small ints: no objects
        n = len(slots)
        self.dead_end = n == 1  # what neighbours now believe: they expect link acks
        if n == 0:
            return tlv(TLV_NEIGHBORS, b"\x00") + seen
        k = n if n < MAX_LISTED else MAX_LISTED
        out = bytearray(1 + 4 * k)
        out[0] = n if n < 255 else 255
        start = self.hb_rot % n
        self.hb_rot += k
        keys = by_id.keys
        for i in range(k):
            o = 8 * slots[(start + i) % n]
            out[1 + 4 * i:5 + 4 * i] = keys[o:o + 4]
        return tlv(TLV_NEIGHBORS, bytes(out)) + seen

    def heard_heartbeat(self, p: Packet, s: int, now: int) -> None:
        if self.recent.cap and self.cov.sym[s] != SYM_NO:
            v = p.tlv(TLV_SEEN)
            if v is not None:
                resend, lack = self.recent.heard(v, now)
                for e in resend:
                    self._repair(e, now)
                if lack:
                    self.node.answer_soon(now)  # our list shows it what we missed
        v = p.tlv(TLV_NEIGHBORS)
        if v is None or len(v) < 1:
            return
        my = self.node.identity.short
        mask = 0
        me = False
        listed = (len(v) - 1) >> 2
        for i in range(listed):
            sh = v[1 + 4 * i:5 + 4 * i]
            if sh == my:
                me = True
                continue
            j = self._slot_of_short(sh)
            if j >= 0:
                mask |= 1 << j
        partial = v[0] > listed
        self.cov.neighbours(s, mask, me, partial, v[0])
        if me:
            self._learn(p.src, b"", True, now)
        elif not partial:
            self.routes.fail(p.src, b"")  # it cannot hear us: no direct route

    def _repair(self, e: "list[Any]", now: int) -> None:
        """A neighbour missed flood ``e`` of ``recent``: send it again, after
        a jitter so that one neighbour's repair cancels the others'."""
        if e[3] and diff(e[3], now) > 0:
            return  # queued already for another neighbour
        n = self.node
        f = bytearray(e[1] or b"")
        f[2] = e[5]
        e[3] = add(now, 1 + self._jitter(3 * n.config.bcast_window_ms))
        e[4] += 1
        self.st["flood_repairs"] += 1
        n.emit(f, P_DATA, due=e[3], key=e[0])

    def peer_up(self, peer: bytes, now: int) -> None:
        self._rebuild_shorts()
        if peer[:4] in self.gone:
            self.gone.remove(peer[:4])
        s = self.node.peers.slot(peer)
        if s >= 0:
            self.cov.reset_slot(s)
        self._learn(peer, b"", False, now)

    def peer_lost(self, peer: bytes, now: int) -> None:
        self._rebuild_shorts()
        if len(self.gone) >= 8:
            self.gone.pop(0)
        self.gone.append(peer[:4])
        lost = self.routes.remove_via(peer[:4], peer)
        if peer not in lost and not self.routes.has(peer, now):
            lost.append(peer)
        self._lost(lost, now)

    def _wait(self, pid: bytes, frame: "bytes | bytearray", prio: int, nxt: bytes, dst: bytes,
              src: bytes, path: "bytes | None", now: int, ptype: int) -> None:
        c = self.node.config
        if len(self.waits) >= c.hop_pending:
            self.waits.pop(0)
        due = add(now, c.hop_ack_ms + self._jitter(c.hop_ack_ms // 2))
        self.waits.append(HopWait(pid, frame, prio, nxt, dst, src, path, due, ptype))

    def _hop_acked(self, pid: bytes, now: int, by: "bytes | None" = None) -> None:
        """Stop waiting on ``pid``; ``by``: the id of the neighbour that acked
        it (only its own wait ends), None for an end-to-end ack."""
        for w in self.waits:
            if w.pid == pid and (by is None or by.startswith(w.nxt)):
                self.waits.remove(w)
                s = self._slot_of_short(w.nxt)
                if s >= 0 and self.node.peers.rep[s] < 60:
                    self.node.peers.adjust_rep(s, 1)
                return

    def _flood_wait(self, pid: bytes, frame: "bytes | bytearray", prio: int, has: int,
                    sent: int, origin: bool = False, tg: int = -1) -> None:
        """Listen for the neighbours that must echo flood copy ``pid`` and
        repeat it if they stay silent. ``tg``: our targets, when the caller
        has them already."""
        c = self.node.config
        if c.hop_retries == 0:
            return
        if tg < 0:
            tg = self._targets()
        anyone = False
        if popcount(tg) > _SPARSE:
            # Dense: redundant copies cover a loss, except to a neighbour
            # no other neighbour of ours reaches (a bridge out of here). A
            # full peer table means more neighbours than we track: their
            # echoes would look like silence, and they are redundancy enough.
            bridges = 0 if self.cov.crowded else tg & ~self.cov.reached_by_others(tg)
            exp = self.cov.expected(bridges, has) if bridges else 0
            if not exp and origin:
                # An origin's first copy is the only one: if every neighbour
                # missed it, no relay exists to cover the loss. Any neighbour
                # heard relaying it (or acking it) ends the wait.
                exp = tg
                anyone = True
        else:
            exp = self.cov.expected(tg, has)
        if not exp:
            return
        if len(self.fwaits) >= c.pending_relays:
            self.fwaits.pop(0)
        due = add(sent, 2 * c.hop_ack_ms + c.bcast_window_ms + self._jitter(c.hop_ack_ms))
        self.fwaits.append(FloodWait(pid, frame, prio, exp, due, anyone))

    def _hop_tries(self, w: HopWait) -> int:
        """Retries for one source-routed hop: more on a link that loses
        heartbeats, since a retry costs one frame and giving up costs a
        route error and a flood; route control gets two more (no errors are
        sent about it)."""
        c = self.node.config
        extra = 2 if w.ptype == T_ROUTE else 0
        s = self._slot_of_short(w.nxt) if c.hop_retries else -1  # 0: no data retries
        if s >= 0:
            extra += self.node.peers.loss[s] // _LOSS_PER_RETRY
        return c.hop_retries + (extra if extra < 6 else 6)

    def _dead_end_ack(self, p: Packet, pid: bytes, link: int, now: int) -> None:
        """A dead end that does not relay a flood frame (a repeat, or one out
        of hops) says explicitly that it arrived: its one neighbour hears no
        passive ack. Not to a neighbour that cannot hear us."""
        if (self.dead_end and p.dst is None and link >= 0 and p.ptype != T_ACK
                and p.src != self.node.node_id and self.cov.sym[link] != SYM_NO):
            self._link_ack(pid, now)

    def _link_ack(self, pid: bytes, now: int) -> None:
        self.st["link_acks"] += 1
        self.node.originate(T_ACK, tlv(TLV_ACKED, pid), now, prio=P_CONTROL, ttl=1)

    def _hold(self, h: Held) -> None:
        old = self.holdq.add(h)
        if old is not None and old.state == WAIT:
            self.node.drop("hold_full")
            self.node.push_event(SendFailed(old.dst, old.msg_id, "hold_full"))

    def next_timer(self, now: int) -> "int | None":
        t = self.holdq.next_deadline()
        for w in self.waits:
            if t is None or diff(w.due, t) < 0:
                t = w.due
        for fw in self.fwaits:
            if t is None or diff(fw.due, t) < 0:
                t = fw.due
        return t

    def route_list(self, now: int) -> "list[dict[str, object]]":
        """Known routes for status (``RouteTable.best_routes``)."""
        return self.routes.best_routes(now)

    def _reply(self, src: bytes, rr: bytes, mid: int, now: int, back: "bytes | None") -> None:
        """Tell ``src`` the forward path its flooded message ``mid`` (-1: route
        control) took to us, back along that path when ``back``
        (``_learn_reverse``) has it: the freshest path there is. A stored one
        may run through a relay that died out of our sight, and nothing
        reports a lost reply. The message id, not the copy's identity, ends
        the wait: a reply to a first copy may come after the blind repeat."""
        # A flooded reply is answered only along the way it came (that teaches
        # its sender a way back over one-way links). Answered by another
        # flood, two far ends would echo replies forever. Its body would be
        # the op (11 bytes) and the path (2 + len(rr)).
        if mid < 0 and (back is None or not fits_routed(13 + len(rr), back)):
            return
        rep = self.replied
        s = rep.get(src)
        if s >= 0 and 0 <= diff(now, self.replied_t[s]) < _REPLY_GAP_MS:
            return
        if s < 0:  # src is a decoded frame's 8-byte sender id
            if len(rep) >= rep.cap:
                rep.clear()  # the gap is a second: older entries no longer matter
            s = rep.free_slot()
            rep[src] = s
        self.replied_t[s] = now
        self.replied2[s] = 0
        self.st["route_replies"] += 1
        self._send_reply(src, rr, mid, now, back)

    def _send_reply(self, src: bytes, rr: bytes, mid: int, now: int,
                    back: "bytes | None") -> None:
        body = tlv(TLV_ROUTE_OP, bytes((OP_REPLY,)) + self.node.node_id) + tlv(TLV_PATH, rr)
        if mid >= 0:
            body += tlv(TLV_MSGID, mid.to_bytes(4, "big"))
        self._send(src, T_ROUTE, body, F_DST, P_CONTROL, now, -1, via=back)

    def _second_reply(self, p: Packet, now: int) -> None:
        """A later copy of a flooded message to us that came by relays none of
        our paths back to its origin uses: reply once more, so the origin
        holds a second path that survives the loss of any relay of the first."""
        src = p.src
        s = self.replied.get(src)
        if s < 0 or self.replied2[s] or diff(now, self.replied_t[s]) >= _REPLY_GAP_MS:
            return
        rr = p.route()
        if not rr or not self.routes.disjoint(src, rr):
            return
        back = self._learn_reverse(src, rr, now)
        if back is None:
            return
        self.replied2[s] = 1
        self.st["route_replies2"] += 1
        self._send_reply(src, rr, p.msg_id(), now, back)

    def stats(self) -> "dict[str, object]":
        d = {}  # type: dict[str, object]
        for k in self.st:
            d[k] = self.st[k]
        d["suppressed"] = self.cov.suppressed  # relays avoided or cancelled
        d["flood_relays"] = self.cov.relayed  # relays scheduled and not cancelled
        d["routes"] = len(self.routes)
        d["hold"] = len(self.holdq)
        d["lost"] = len(self.part)
        d["hop_waits"] = len(self.waits)
        return d

    def _send(self, dst: bytes, ptype: int, body: bytes, flags: int, prio: int, now: int,
              msg_id: int, blind: bool = False, tries: int = 0, via: "bytes | None" = None) -> int:
        raise NotImplementedError  # MeshRouter: originate a unicast, routed or flooded

