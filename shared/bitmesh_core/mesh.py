"""The bitmesh router: managed broadcast, learned multi-path source routing,
hop acks, repair, partition detection, store-and-forward, per-origin limits.

docs/ROUTING.md describes every mechanism, why it was chosen, and the
measurements. Contract: like every router, only decides what to transmit;
every table is bounded by a NodeConfig field; nothing raises out of a hook
that the node does not already catch.
"""

from .clock import add, diff
from .compat import TYPE_CHECKING, const
from .events import SendFailed
from .holdq import SENT, WAIT, Held
from .meshstate import OP_ERROR, OP_REPLY, MeshState
from .packet import (
    F_ACK_REQ,
    F_DST,
    F_ROUTE_REC,
    F_SRC_ROUTE,
    F_URGENT,
    MAX_TTL,
    T_ACK,
    T_ROUTE,
    TLV_ACKED,
    TLV_BLIND,
    TLV_MSGID,
    TLV_PATH,
    TLV_ROUTE_OP,
    TLV_SOURCE_ROUTE,
    Packet,
    has_short,
    tlv,
)
from .router import ROUTERS
from .routes import fits_routed
from .txqueue import P_CONTROL, P_DATA, P_GAME
from .waits import HopWait, flood_done, flood_heard, flood_later

if TYPE_CHECKING:
    from .node import MeshNode

# Held.tries of a message's last flood: no reply to it, and SendFailed is reported.
_LAST_FLOOD = const(2)


class MeshRouter(MeshState):
    name = "bitmesh"

    def relay(self, p: Packet, frame: "bytes | bytearray", pid: bytes, link: int,
              prio: int, now: int) -> None:
        if p.ptype == T_ACK and (self.waits or self.fwaits):
            a = p.tlv(TLV_ACKED)
            if a is not None:
                # A link ack only speaks for its sender: the hop before us
                # acks its own wait with the same identity.
                self._hop_acked(a, now, p.src)
                if link >= 0:
                    flood_heard(self.fwaits, a, link)
        n = self.node
        if p.ttl <= 1 or n.config.role == "leaf":
            self._dead_end_ack(p, pid, link, now)  # else a dead end's relay below is the ack
        flood = p.dst is None and p.ttl0 > 1 and p.ptype != T_ACK and self.recent.cap
        if flood:
            self.recent.add(pid, now)  # listed in our heartbeats: nobody resends it to us
        if p.ttl <= 1:
            if p.ttl0 > 1:
                n.drop("ttl")
            return
        if n.config.role == "leaf":
            return
        if not self.origins.allow(p.src, now):
            self.st["origin_limited"] += 1
            n.drop("origin_rate")
            if link >= 0 and n.peers.id_starts(link, p.src):
                n.peers.adjust_rep(link, -2)
            return
        if link >= 0 and p.ttl == p.ttl0 and not n.peers.id_starts(link, p.src):
            # No hop yet, so the neighbour we heard it from must be its origin.
            # A flooder holding the key forges a new origin per frame, which no
            # per-origin bucket catches; relaying those would spend our own
            # neighbours' rate limit on it, and they would drop our frames.
            self.st["forged_origin"] += 1
            n.drop("forged_origin")
            n.peers.adjust_rep(link, -5)
            return
        rr = p.route()
        if rr and has_short(rr, n.identity.short):
            n.drop("loop")
            return
        if p.dst is not None:
            if p.flags & F_SRC_ROUTE:
                self._forward_source(p, frame, pid, prio, rr, now)
                return
            if p.flags & F_ROUTE_REC and (len(self.routes) < n.config.max_routes
                                          or p.src in self.routes.by_id):
                # Relays learn too, but never churn a full table for it.
                self._learn_reverse(p.src, rr, now)
            if p.tlv(TLV_BLIND) is not None:
                out = n.relay_copy(p, frame)
                if out is not None:
                    self.st["blind_relays"] += 1
                    n.emit(out, prio, due=add(now, self._jitter(n.config.bcast_window_ms // 4)))
                return
            if n.config.flood_scope and n.replay.hops_to(p.dst) > p.ttl + 1:
                # The destination's last frame came further than this copy can
                # still go (one hop of slack: that frame may have detoured).
                self.st["out_of_scope"] += 1
                return
        if flood:
            self.recent.keep(pid, frame, p.ttl - 1)  # we relay it: we may resend it too
        tg = self._targets()
        d = self.cov.first(pid, link, tg, n.config.bcast_window_ms,
                           int(n.rng.getrandbits(10)), now,  # type: ignore[attr-defined]
                           p.dst is None)
        if d < 0:
            # A dead end relays in place of its link ack (one frame either
            # way): nodes that hear us on a one-way link get the flood too.
            if not self.dead_end or p.dst is not None or link < 0:
                return
            d = 0
        out = n.relay_copy(p, frame)
        if out is None:
            return
        n.emit(out, prio, due=add(now, d) if d else None, key=pid)
        self._flood_wait(pid, out, prio, 1 << link if link >= 0 else 0, add(now, d), False, tg)

    def _forward_source(self, p: Packet, frame: "bytes | bytearray", pid: bytes, prio: int,
                        rr: bytes, now: int) -> None:
        n = self.node
        sr = p.tlv(TLV_SOURCE_ROUTE) or b""
        pos = len(rr)
        if pos + 4 > len(sr) or sr[pos:pos + 4] != n.identity.short:
            return  # not our turn: overheard only
        self._learn_reverse(p.src, rr, now)
        dst = p.dst if p.dst is not None else b""
        self._learn(dst, sr[pos + 4:], False, now)
        nxt = sr[pos + 4:pos + 8] or dst[:4]
        hears = self._hears_us(nxt)
        if hears < 0 or (hears == 0 and nxt in self.gone):
            # The next hop cannot hear us, or has left (the origin does not
            # know yet): report the break instead of sending.
            self._hop_failed(HopWait(pid, b"", prio, nxt, dst, p.src, None, now, p.ptype), now)
            return
        out = n.relay_copy(p, frame)
        if out is None:
            return
        self.fwd.add(pid)
        self.st["src_relays"] += 1
        n.emit(out, prio)
        if hears > 0:
            # A passive ack can only come back from a neighbour we hear; a
            # next hop we never heard is a one-way link: send and forget.
            self._wait(pid, out, prio, nxt, dst, p.src, None, now, p.ptype)

    def send_broadcast(self, ptype: int, body: bytes, flags: int, prio: int, now: int) -> int:
        n = self.node
        seq, pid = n.originate(ptype, body, now, prio=prio, flags=flags)
        self._flood_wait(pid, n.last_frame, prio, 0, now, True)
        if self.recent.cap:
            self.recent.add(pid, now)
            self.recent.keep(pid, n.last_frame, n.last_frame[2])
        return seq

    def heard_duplicate(self, p: Packet, pid: bytes, link: int, now: int) -> None:
        n = self.node
        if self.recent.ents and self.recent.repairing(pid, now) and n.txq.cancel(pid):
            self.st["flood_repairs"] -= 1  # another neighbour repaired it first
        if self.waits:
            rr = p.route()
            for w in self.waits:
                if w.pid == pid and (has_short(rr, w.nxt) or (
                        link >= 0 and n.peers.id_starts(link, w.nxt))):
                    self._hop_acked(pid, now)
                    break
        later = self.cov.heard_copy(pid, link, self._targets(), n.config.bcast_window_ms,
                                    now) if self.cov.pending else 0
        if later < 0:
            if n.txq.cancel(pid):
                n.counters["relayed"] -= 1  # scheduled, never sent
            flood_done(self.fwaits, pid)
        elif later:
            n.txq.delay(pid, later)
            flood_later(self.fwaits, pid, later)
        if self.fwaits and link >= 0:
            flood_heard(self.fwaits, pid, link)
        self._dead_end_ack(p, pid, link, now)  # a resend: our ack was lost
        if (p.flags & F_ROUTE_REC and not p.flags & F_SRC_ROUTE and len(self.replied)
                and p.dst == n.node_id and p.ptype != T_ACK and p.ptype != T_ROUTE):
            self._second_reply(p, now)
        if p.flags & F_SRC_ROUTE and p.dst is not None:
            # A retransmission from the hop before us: it missed our relay
            # (or our link ack), so tell it we have the frame.
            sr = p.tlv(TLV_SOURCE_ROUTE) or b""
            pos = len(p.route())
            if p.dst == n.node_id:
                if pos == len(sr):
                    self._link_ack(pid, now)
            elif pos + 4 <= len(sr) and sr[pos:pos + 4] == n.identity.short:
                if pid in self.fwd:
                    self._link_ack(pid, now)
                elif n.config.role != "leaf" and p.ttl > 1:
                    # We overheard this frame earlier, before our turn came.
                    prio = P_GAME if p.flags & F_URGENT else (
                        P_CONTROL if p.ptype == T_ACK or p.ptype == T_ROUTE else P_DATA)
                    self._forward_source(p, bytes(p.frame), pid, prio, p.route(), now)

    def send_unicast(self, dst: bytes, ptype: int, body: bytes, flags: int, prio: int,
                     now: int) -> int:
        return self._send(dst, ptype, body, flags | F_DST, prio, now, -1)

    def _send(self, dst: bytes, ptype: int, body: bytes, flags: int, prio: int, now: int,
              msg_id: int, blind: bool = False, tries: int = 0, via: "bytes | None" = None) -> int:
        n = self.node
        c = n.config
        flags &= ~F_SRC_ROUTE
        b = body
        if msg_id >= 0:
            b = body + tlv(TLV_MSGID, msg_id.to_bytes(4, "big"))
        path = via
        if path is None and not blind:
            path = self.routes.best(dst, now, self._first_hop_penalty)
        nxt = b""
        hears = 0
        if path is not None:
            nxt = path[:4] or dst[:4]
            hears = self._hears_us(nxt)
            if hears < 0 and ptype != T_ACK and ptype != T_ROUTE:
                # Its first hop said it no longer hears us: no passive ack or
                # route error could come back, so flood (its reply brings a route).
                # Acks and route control keep their own retries: a neighbour lists
                # us only after our heartbeat; flooding them meanwhile costs more.
                self.st["one_way_first_hop"] += 1
                path = None
        if path is not None and fits_routed(len(b), path):
            hops = len(path) >> 2
            ttl = hops + 3 if hops + 3 < MAX_TTL else MAX_TTL
            seq, pid = n.originate(ptype, b + tlv(TLV_SOURCE_ROUTE, path), now, dst=dst,
                                   flags=flags | F_SRC_ROUTE, prio=prio, ttl=ttl, route=b"",
                                   msg_id=msg_id)
            if hears > 0:
                self._wait(pid, n.last_frame, prio, nxt, dst, n.node_id, path, now, ptype)
            self.st["sent_routed"] += 1
            mid = seq if msg_id < 0 else msg_id
            h = Held(dst, ptype, body, flags, prio, mid,
                     add(now, 3 * c.hop_ack_ms * (c.hop_retries + 2) * (hops + 1)), SENT)
            h.pid = pid
            h.path = path
            self._hold(h)
            return seq
        if blind:
            b += tlv(TLV_BLIND, b"")
        ttl = 0
        if c.flood_scope and not blind and tries < _LAST_FLOOD and ptype != T_ROUTE and ptype != T_ACK:
            # Scoped discovery: as far as the destination's last frame came,
            # and flood_scope hops more. A miss is repeated blind, at full TTL.
            ttl = n.replay.hops_to(dst)
            ttl = ttl + c.flood_scope if ttl and ttl + c.flood_scope < c.ttl else 0
        seq, pid = n.originate(ptype, b, now, dst=dst, flags=flags, prio=prio, route=b"",
                               msg_id=msg_id, ttl=ttl)
        self.st["sent_flooded"] += 1
        if not blind:
            self._flood_wait(pid, n.last_frame, prio, 0, now, True)
        if ptype == T_ROUTE or ptype == T_ACK:
            return seq
        mid = seq if msg_id < 0 else msg_id
        tries = tries or (1 if blind else 0)
        if self.part.is_lost(dst):
            self._hold(Held(dst, ptype, body, flags, prio, mid, add(now, c.hold_ms), WAIT, tries))
            self.st["held"] += 1
        else:
            # No route reply in time: the suppressed flood missed (a one-way
            # link nobody knew about, or loss): repeat it blind; if that gets
            # no reply either, hold it until the destination is heard from.
            # The reply crosses the mesh twice: three relay windows a hop each way.
            wait = 6 * c.bcast_window_ms * n.replay.hops_to(dst)
            h = Held(dst, ptype, body, flags, prio, mid,
                     add(now, wait if wait > 40 * c.hop_ack_ms else 40 * c.hop_ack_ms), SENT, tries)
            h.pid = pid
            self._hold(h)
        return seq

    def delivered_unicast(self, p: Packet, pid: bytes, link: int, now: int) -> "bool | None":
        n = self.node
        src = p.src
        rr = p.route()
        back = None
        if p.flags & F_ROUTE_REC:
            back = self._learn_reverse(src, rr, now)
        elif self.part.lost or self.holdq.items:
            self._back(src, now)
        if p.flags & F_SRC_ROUTE:
            if not p.flags & F_ACK_REQ:
                self._link_ack(pid, now)
        elif p.flags & F_ROUTE_REC and p.ptype != T_ACK:
            self._reply(src, rr, -1 if p.ptype == T_ROUTE else p.msg_id(), now, back)
        if p.ptype == T_ROUTE:
            return True  # route control is idempotent: keep the message table for data
        if self.msgs.seen(src[:4], p.msg_id()):
            n.drop("dup_msg")
            return False
        return True

    def on_frame(self, node: "MeshNode", p: Packet, now: int) -> None:
        """Route control for this node: replies and errors."""
        op = p.tlv(TLV_ROUTE_OP)
        path = p.tlv(TLV_PATH)
        if op is None or len(op) != 9 or path is None or len(path) & 3:
            node.drop("bad_route")
            return
        if op[0] == OP_REPLY:
            self._learn(p.src, path, True, now)
            m = p.tlv(TLV_MSGID)
            h = self.holdq.of_message(p.src, int.from_bytes(m, "big")) if m else None
            if h is not None and h.path is None:
                # The flood arrived: no blind repeat, or no more waiting when
                # the reply to its first copy comes after the blind repeat.
                self.holdq.remove(h)
        elif op[0] == OP_ERROR:
            dst = op[1:9]
            self.routes.remove_via(path, b"")
            a = p.tlv(TLV_ACKED)
            h = self.holdq.by_pid(a) if a is not None else None
            if h is not None:
                self.holdq.remove(h)
                self.routes.fail(dst, h.path or b"")
                self._resend(h, now)
        else:
            node.drop("bad_route")

    def _resend(self, h: Held, now: int) -> None:
        h.tries += 1
        if h.tries > 3:
            self.node.push_event(SendFailed(h.dst, h.msg_id, "unreachable"))
            return
        self.st["resent"] += 1
        self._send(h.dst, h.ptype, h.body, h.flags, h.prio, now, h.msg_id)

    def on_ack(self, p: Packet, acked: bytes, now: int) -> None:
        # Every ack heard lands here: an end-to-end ack (addressed to us) proves
        # delivery; a link ack proves only that its sender has the frame.
        e2e = p.dst is not None
        self._hop_acked(acked, now, None if e2e else p.src)
        h = self.holdq.by_pid(acked)
        if h is not None and h.path is not None and (e2e or p.src == h.dst):
            self.holdq.remove(h)
            self.routes.success(h.dst, h.path, now)

    def on_timer(self, now: int) -> None:
        n, c = self.node, self.node.config
        if self.waits:
            for w in list(self.waits):
                if diff(now, w.due) < 0:
                    continue
                if w.tries < self._hop_tries(w):
                    w.tries += 1
                    w.due = add(now, c.hop_ack_ms * (w.tries + 1) + self._jitter(c.hop_ack_ms))
                    self.st["hop_retries"] += 1
                    n.emit(w.frame, w.prio)
                else:
                    self.waits.remove(w)
                    self._hop_failed(w, now)
        if self.fwaits:
            for fw in list(self.fwaits):
                if diff(now, fw.due) < 0:
                    continue
                # Full repeats only where no other copy may get in (16 hops at 10%
                # loss, 0.1^3: lost 1.6%); else one (docs/ROUTING.md, section 1).
                if fw.tries < (c.hop_retries + 1 if fw.anyone or self.cov.needs_retries(
                        fw.expect, n.peers.loss) else 1):
                    fw.tries += 1
                    fw.due = add(now, 3 * c.hop_ack_ms)
                    self.st["flood_retries"] += 1
                    n.emit(fw.frame, fw.prio)
                else:
                    self.fwaits.remove(fw)
        if self.holdq.items:
            for h in self.holdq.due(now):
                if h.state == SENT:
                    if h.path is not None:
                        if h.ptype != T_ROUTE:  # no errors come for those: no evidence
                            self.routes.success(h.dst, h.path, now)
                    elif h.tries == 0:
                        self.st["blind"] += 1
                        self._send(h.dst, h.ptype, h.body, h.flags, h.prio, now, h.msg_id, True)
                    elif h.tries >= _LAST_FLOOD:
                        n.push_event(SendFailed(h.dst, h.msg_id, "unreachable"))
                    else:
                        h.state = WAIT
                        h.until = add(now, c.hold_ms)
                        self._hold(h)
                        self.st["held"] += 1
                elif h.tries < _LAST_FLOOD:
                    # No word from the destination all hold: one last flood (one at the edge
                    # of range may miss two floods, yet never send us a frame that frees it).
                    self.st["resent"] += 1
                    self._send(h.dst, h.ptype, h.body, h.flags, h.prio, now, h.msg_id, False, _LAST_FLOOD)
                else:
                    n.push_event(SendFailed(h.dst, h.msg_id, "hold_expired"))
        self.cov.expire(now)
        if self.part.lost:
            self.part.expire(now)

    def _hop_failed(self, w: HopWait, now: int) -> None:
        n = self.node
        self.st["hop_fail"] += 1
        s = self._slot_of_short(w.nxt)
        if s >= 0:
            n.peers.adjust_rep(s, -3)
        if w.nxt == w.dst[:4]:
            self.routes.fail(w.dst, b"")
        self.routes.remove_via(w.nxt, b"")
        if w.src == n.node_id:
            h = self.holdq.by_pid(w.pid)
            if h is not None:
                self.holdq.remove(h)
                self._resend(h, now)
            return
        if w.ptype == T_ROUTE:
            return  # no errors about route control: no storms
        self.st["route_errors"] += 1
        body = (tlv(TLV_ROUTE_OP, bytes((OP_ERROR,)) + w.dst) + tlv(TLV_ACKED, w.pid)
                + tlv(TLV_PATH, w.nxt))
        self._send(w.src, T_ROUTE, body, F_DST, P_CONTROL, now, -1)


ROUTERS["bitmesh"] = MeshRouter
