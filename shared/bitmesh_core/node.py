"""MeshNode: the sans-IO protocol object every shell drives.

    node = MeshNode(config, identity, network_key, rng, now_ms)
    node.receive(iface, frame, rssi, now_ms, addr)   # one radio frame in
    node.send_message(dst, payload, now_ms)          # dst None = broadcast
    node.handle_timer(now_ms)                        # call at next_timer()
    node.next_timer()                                # -> ms deadline or None
    node.frames_to_send()                            # -> [(iface, addr, frame)]
    node.next_event()                                # -> Event or None
    node.stats()                                     # every counter, one dict

Contract: nothing here reads a clock, sleeps, prints or draws randomness
except from the injected ``rng`` (``getrandbits(k)``, k <= 30). Any byte
string given to ``receive`` ends as a handled frame or a counted drop
(``stats()["drops"][reason]``); no exception escapes. Every table is bounded by
``NodeConfig``. Times are ticks in ms and may wrap (see clock.py).
"""

from .airtime import AirtimeBudget
from .auth import FrameAuth
from .clock import add, diff, wrap
from .config import NodeConfig
from .dedup import DedupCache
from .events import Acked, Delivered, Event, PeerLost, PeerUp
from .fragment import Reassembler, frag_tlv_value, split
from .identity import Identity
from .packet import (
    F_ACK_REQ,
    F_BRIDGED,
    F_DST,
    F_ROUTE_REC,
    F_URGENT,
    T_ACK,
    T_BROADCAST,
    T_FRAGMENT,
    T_HEARTBEAT,
    T_UNICAST,
    TLV_ACKED,
    TLV_APP,
    TLV_BEACON,
    TLV_FRAG,
    TLV_HOPS,
    TLV_NAME,
    TLV_PAYLOAD,
    TLV_ROLE,
    DecodeError,
    Packet,
    append_route,
    build,
    decode,
    packet_id_into,
    tlv,
)
from .peers import ROLE_CODES, PeerTable
from .replay import ReplayGuard
from .router import Router, router_class
from .txqueue import P_BULK, P_CONTROL, P_DATA, P_GAME, TxEntry, TxQueue

IF_ESPNOW = 0
IF_BLE = 1
IF_HOST = 2
IF_BRIDGE = 3

# Largest application payload in one frame: 250 minus header, recipient, tag,
# payload and app TLV headers, and room for a 16-hop route record.
MAX_PAYLOAD = 140
FRAG_CHUNK = 132
SEQ_COUNTER_BITS = 20


class MeshNode:
    def __init__(self, config: NodeConfig, identity: Identity, network_key: bytes,
                 rng: object, now_ms: int, boot_count: int = 0,
                 ifaces: "tuple[int, ...]" = (IF_ESPNOW,)) -> None:
        c = config
        self.config = c
        self.identity = identity
        self.node_id = identity.node_id
        self.rng = rng
        self.auth = FrameAuth(network_key)
        self.ifaces = ifaces
        self.peers = PeerTable(c.max_peers, c.rate_per_s, c.rate_burst)
        self.dedup = DedupCache(c.dedup_capacity, c.dedup_age_ms)
        self.replay = ReplayGuard(c.replay_senders)
        self.reasm = Reassembler(c.max_reassembly, c.max_message, c.reassembly_timeout_ms)
        self.txq = TxQueue(c.tx_queue_max)
        self.events = []  # type: list[Event]
        self.services = {}  # type: dict[int, object]
        self.counters = {"rx": 0, "tx": 0, "relayed": 0, "originated": 0, "delivered": 0,
                         "duplicates": 0, "heartbeats": 0}  # type: dict[str, int]
        self.drops = {}  # type: dict[str, int]
        self.last_error = ""  # the newest exception behind an "internal" drop
        self.now = wrap(now_ms)
        self.seq = (boot_count & 0xFFF) << SEQ_COUNTER_BITS
        self.beacon = 0
        self.frag_id = 0
        self.pid = bytearray(8)  # scratch identity buffer: no per-frame allocation
        self.rx_packet = Packet()  # reused by every receive (valid during the call)
        self.stranger_tokens = c.stranger_rate_per_s
        self.stranger_t = self.now
        self.next_hb = add(self.now, self._jitter(c.heartbeat_ms // 10 + 1))
        self.next_sweep = add(self.now, 1000)
        self.pending_acks = {}  # type: dict[bytes, tuple[int, bytes, int]]
        self.airtime = AirtimeBudget(c.bitrate_bps, c.airtime_window_ms, c.airtime_bulk_pct,
                                     c.airtime_data_pct, self.now)
        self.last_frame = b""  # type: bytes | bytearray
        self.router = self._make_router(c.router)

    # ---------------------------------------------------------------- set-up
    def _make_router(self, name: str) -> Router:
        cls = router_class(name)
        if cls is None:
            raise ValueError("unknown router " + name)
        return cls(self)

    def register_service(self, ptype: int, handler: object) -> None:
        """Frames of ``ptype`` for this node (or broadcast) go to
        ``handler.on_frame(node, packet, now)``."""
        self.services[ptype] = handler

    def set_heartbeat_interval(self, ms: int, now: "int | None" = None) -> None:
        """Change the heartbeat interval at runtime (validated like config)."""
        self.config.set("heartbeat_ms", ms)
        t = self.now if now is None else wrap(now)
        self.next_hb = add(t, self._jitter(ms))

    def set_peer_timeout(self, ms: int) -> None:
        """Change the peer timeout at runtime; takes effect at the next sweep."""
        self.config.set("peer_timeout_ms", ms)

    # ------------------------------------------------------------ counters
    def drop(self, reason: str) -> None:
        self.drops[reason] = self.drops.get(reason, 0) + 1

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def _jitter(self, ms: int) -> int:
        pct = self.config.heartbeat_jitter_pct
        if pct == 0 or ms < 10:
            return ms
        span = ms * pct // 100
        r = int(self.rng.getrandbits(16))  # type: ignore[attr-defined]
        return ms - span + r * 2 * span // 65536

    # ------------------------------------------------------------- receive
    def receive(self, iface: int, frame: "bytes | bytearray", rssi: int, now_ms: int,
                addr: "bytes | None" = None) -> None:
        """Handle one frame from a radio. Never raises."""
        now = wrap(now_ms)
        self.now = now
        self.counters["rx"] += 1
        self.airtime.heard(len(frame), now)
        try:
            self._receive(iface, frame, rssi, now, addr)
        except DecodeError as e:
            self.drop(e.reason)
        except Exception as e:  # noqa: BLE001 - the contract: nothing escapes the core
            self.drop("internal")
            self.last_error = repr(e)[:100]

    def _receive(self, iface: int, frame: "bytes | bytearray", rssi: int, now: int,
                 addr: "bytes | None") -> None:
        p = decode(frame, self.rx_packet)
        link = self.peers.slot_by_addr(addr)
        if link >= 0:
            if not self.peers.allow(link, now):
                self.peers.adjust_rep(link, -1)
                self.drop("rate")
                return
        elif not self._stranger_allow(now):
            self.drop("rate")
            return
        if not self.auth.verify(frame):
            if link >= 0:
                self.peers.adjust_rep(link, -5)
            self.drop("auth")
            return
        if link >= 0:
            self.peers.heard(link, rssi, now)
        pid = self.pid
        packet_id_into(p, pid)
        if self.dedup.seen(pid, now):
            self.counters["duplicates"] += 1
            self.router.heard_duplicate(p, bytes(pid), link, now)
            return
        if p.src == self.node_id:
            self.drop("own")
            return
        if not self.replay.check(p.src, p.seq, now):
            self.drop("replay")
            return
        pidb = bytes(pid)
        t = p.ptype
        if t == T_HEARTBEAT:
            self._on_heartbeat(p, iface, rssi, now, addr)
            return
        for_me = p.dst == self.node_id
        prio = P_GAME if p.flags & F_URGENT else (P_CONTROL if t == T_ACK else P_DATA)
        if not for_me:
            self.router.relay(p, frame, pidb, link, prio, now)
        if p.dst is not None and not for_me:
            return
        if for_me and t != T_ACK:
            if self.router.delivered_unicast(p, pidb, link, now) is False:
                return  # the router saw this message before (end-to-end dedup)
            if p.flags & F_ACK_REQ:
                self._send_ack(p, pidb, now)
        if t == T_BROADCAST or t == T_UNICAST:
            self._deliver(p.src, p.dst, p.payload(), p.app, p.hops, p.seq, t)
        elif t == T_ACK:
            self._on_ack(p, now)
        elif t == T_FRAGMENT:
            self._on_fragment(p, now)
        else:
            h = self.services.get(t)
            if h is not None:
                h.on_frame(self, p, now)  # type: ignore[attr-defined]
            else:
                self.drop("unknown_type")

    def _stranger_allow(self, now: int) -> bool:
        """One shared bucket for frames from link addresses not in the table."""
        el = diff(now, self.stranger_t)
        rate = self.config.stranger_rate_per_s
        if el >= 1000 // rate or el < 0:
            self.stranger_tokens = min(rate * 2, self.stranger_tokens + el * rate // 1000)
            self.stranger_t = now
        if self.stranger_tokens <= 0:
            return False
        self.stranger_tokens -= 1
        return True

    def _deliver(self, src: bytes, dst: "bytes | None", payload: bytes, app: int, hops: int,
                 msg_id: int, ptype: int) -> None:
        self.counters["delivered"] += 1
        self.push_event(Delivered(src, dst, payload, app, hops, msg_id, ptype))

    def push_event(self, ev: Event) -> None:
        if len(self.events) >= self.config.events_max:
            self.events.pop(0)
            self.drop("events_overflow")
        self.events.append(ev)

    def _on_heartbeat(self, p: Packet, iface: int, rssi: int, now: int,
                      addr: "bytes | None") -> None:
        self.counters["heartbeats"] += 1
        if p.ttl != p.ttl0 or addr is None or len(addr) != 6:
            self.drop("bad_heartbeat")
            return
        s = self.peers.slot(p.src)
        if s < 0:
            s = self.peers.add(p.src, addr, iface, now)
            if s < 0:
                self.drop("peers_full")
                return
            self.peers.heard(s, rssi, now)
            self.push_event(PeerUp(p.src, iface, rssi))
            self.router.peer_up(p.src, now)
        elif not self.peers.by_addr.key_starts(s, addr) or self.peers.iface[s] != iface:
            self.peers.relink(s, addr, iface)
            self.peers.heard(s, rssi, now)
        role = p.tlv(TLV_ROLE)
        if role and role[0] < 4:
            self.peers.role[s] = role[0]
        b = p.tlv(TLV_BEACON)
        if b is not None and len(b) >= 4:
            self.peers.beacon_counter(s, (b[2] << 8) | b[3])
        self.router.heard_heartbeat(p, s, now)

    def _on_fragment(self, p: Packet, now: int) -> None:
        frag = p.tlv(TLV_FRAG)
        if frag is None:
            self.drop("bad_frag")
            return
        r = self.reasm.add(p.src, frag, p.payload(), p.app, now)
        if r is None:
            return
        if isinstance(r, str):
            self.drop(r)
            return
        self._deliver(p.src, p.dst, r[2], r[1], p.hops, (frag[0] << 8) | frag[1], r[0])

    def _send_ack(self, p: Packet, pid: bytes, now: int) -> None:
        body = tlv(TLV_ACKED, pid) + tlv(TLV_HOPS, bytes((p.hops,)))
        self.router.send_unicast(p.src, T_ACK, body, 0, P_CONTROL, now)

    def _on_ack(self, p: Packet, now: int) -> None:
        acked = p.tlv(TLV_ACKED)
        if acked is None or len(acked) != 8:
            self.drop("bad_ack")
            return
        ent = self.pending_acks.pop(acked, None)
        if ent is not None:
            rtt = diff(now, ent[0])
            s = self.peers.slot(p.src)
            if s >= 0:
                self.peers.rtt(s, rtt)
            hops = p.tlv(TLV_HOPS)
            self.push_event(Acked(ent[1], ent[2], rtt, hops[0] if hops else 0))
        self.router.on_ack(p, acked, now)

    # -------------------------------------------------------------- sending
    def next_seq(self) -> int:
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        return self.seq

    def emit(self, frame: "bytes | bytearray", prio: int, to: int = -1,
             due: "int | None" = None, key: "bytes | None" = None) -> None:
        """Queue a frame: to peer slot ``to`` by link unicast, else broadcast on
        every interface. ``due``/``key`` make it a cancellable delayed relay."""
        if to >= 0:
            self.peers.tx[to] += 1
            self._push(TxEntry(prio, self.peers.iface[to], self.peers.addr_of(to), frame, due, key))
            return
        for i in self.ifaces:
            self._push(TxEntry(prio, i, None, frame, due, key))

    def _push(self, e: TxEntry) -> None:
        if self.txq.push(e) is not None:
            self.drop("txq_full")

    def originate(self, ptype: int, body: bytes, now: int, dst: "bytes | None" = None,
                  flags: int = 0, prio: int = P_DATA, to: int = -1, ttl: int = 0,
                  route: "bytes | None" = None) -> "tuple[int, bytes]":
        """Build, sign, record and queue a frame from this node.
        Returns (seq, packet identity)."""
        seq = self.next_seq()
        if prio == P_GAME:
            flags |= F_URGENT
        if route is not None:
            flags |= F_ROUTE_REC
        f = build(ptype, self.node_id, seq, ttl or self.config.ttl, body, dst, flags, route)
        self.auth.sign(f)
        p = decode(f)
        pid = bytearray(8)
        packet_id_into(p, pid)
        self.dedup.seen(pid, wrap(now))
        pidb = bytes(pid)
        self.counters["originated"] += 1
        if flags & F_ACK_REQ and dst is not None:
            if len(self.pending_acks) >= self.config.tx_queue_max:
                self.pending_acks.pop(next(iter(self.pending_acks)))
            self.pending_acks[pidb] = (wrap(now), dst, seq)
        self.last_frame = f
        self.emit(f, prio, to)
        return seq, pidb

    def relay_copy(self, p: Packet, frame: "bytes | bytearray") -> "bytearray | None":
        """A copy of ``frame`` ready to relay: TTL minus one, this node's short id
        appended to the route record when the frame asks for one (re-signed)."""
        if p.ttl <= 1:
            self.drop("ttl")
            return None
        if p.flags & F_ROUTE_REC:
            out = append_route(frame, p, self.identity.short)
            if out is None:
                out = bytearray(frame)
            else:
                self.auth.sign(out)
        else:
            out = bytearray(frame)
        out[2] = p.ttl - 1
        self.counters["relayed"] += 1
        return out

    def send_message(self, dst: "bytes | None", payload: bytes, now_ms: int, app: int = 0,
                     ack: bool = False, bulk: bool = False) -> int:
        """Send application bytes to ``dst`` (None: broadcast). Larger payloads
        are fragmented. Returns the message id (the first frame's seq)."""
        now = wrap(now_ms)
        self.now = now
        if len(payload) > self.config.max_message:
            raise ValueError("message larger than max_message")
        prio = P_BULK if bulk else P_DATA
        app_tlv = tlv(TLV_APP, bytes((app,))) if app else b""
        flags = F_ACK_REQ if ack and dst is not None else 0
        if len(payload) <= MAX_PAYLOAD:
            t = T_BROADCAST if dst is None else T_UNICAST
            return self._send(dst, t, app_tlv + tlv(TLV_PAYLOAD, payload), flags, prio, now)
        parts = split(payload, FRAG_CHUNK)
        self.frag_id = (self.frag_id + 1) & 0xFFFF
        inner = T_BROADCAST if dst is None else T_UNICAST
        first = -1
        for i in range(len(parts)):
            body = (tlv(TLV_FRAG, frag_tlv_value(self.frag_id, i, len(parts), inner))
                    + app_tlv + tlv(TLV_PAYLOAD, parts[i]))
            s = self._send(dst, T_FRAGMENT, body, 0, prio, now)
            if first < 0:
                first = s
        return first

    def _send(self, dst: "bytes | None", ptype: int, body: bytes, flags: int, prio: int,
              now: int) -> int:
        if dst is None:
            return self.router.send_broadcast(ptype, body, flags, prio, now)
        return self.router.send_unicast(dst, ptype, body, flags | F_DST, prio, now)

    def send_frame(self, ptype: int, dst: "bytes | None", body: bytes, now_ms: int,
                   prio: int = P_DATA, flags: int = 0) -> int:
        """Services send their own frame types through here."""
        return self._send(dst, ptype, body, flags, prio, wrap(now_ms))

    # ---------------------------------------------------------------- timers
    def handle_timer(self, now_ms: int) -> None:
        now = wrap(now_ms)
        self.now = now
        try:
            if diff(now, self.next_hb) >= 0:
                self._heartbeat(now)
            if diff(now, self.next_sweep) >= 0:
                self.next_sweep = add(now, 1000)
                self._sweep(now)
            self.router.on_timer(now)
        except Exception as e:  # noqa: BLE001
            self.drop("internal_timer")
            self.last_error = repr(e)[:100]

    def _heartbeat(self, now: int) -> None:
        c = self.config
        self.beacon = (self.beacon + 1) & 0xFFFF
        iv = min(c.heartbeat_ms // 100, 0xFFFF)
        body = (tlv(TLV_ROLE, bytes((ROLE_CODES.get(c.role, 0),)))
                + tlv(TLV_BEACON, bytes((iv >> 8, iv & 0xFF, self.beacon >> 8, self.beacon & 0xFF))))
        if c.name:
            body += tlv(TLV_NAME, c.name.encode())
        body += self.router.heartbeat_tlvs(now)
        self.originate(T_HEARTBEAT, body, now, prio=P_CONTROL, ttl=1)
        self.next_hb = add(now, self._jitter(c.heartbeat_ms))

    def _sweep(self, now: int) -> None:
        for nid in self.peers.expired(now, self.config.peer_timeout_ms):
            self.peers.remove(nid)
            self.push_event(PeerLost(nid))
            self.router.peer_lost(nid, now)
        self.dedup.expire(now)
        n = self.reasm.expire(now)
        if n:
            self.drops["reassembly_timeout"] = self.drops.get("reassembly_timeout", 0) + n

    def next_timer(self) -> "int | None":
        t = self.next_hb
        limit = self.airtime.allowed(self.now)
        held = self.airtime.window_end() if self.txq.held(limit) else None
        for cand in (self.next_sweep, self.router.next_timer(self.now),
                     self.txq.next_due(self.now, limit), held):
            if cand is not None and diff(cand, t) < 0:
                t = cand
        return t

    # --------------------------------------------------------------- output
    def frames_to_send(self) -> "list[tuple[int, bytes | None, bytes | bytearray]]":
        """Frames due now, most urgent first: (iface, link addr or None, bytes)."""
        out = []  # type: list[tuple[int, bytes | None, bytes | bytearray]]
        if not self.txq.entries:
            return out
        at = self.airtime
        for e in self.txq.pop_ready(self.now, at.allowed(self.now)):
            if e.prio > at.allowed(self.now):
                self.txq.entries.append(e)  # the budget ran out: wait for the next window
                continue
            out.append((e.iface, e.addr, e.frame))
            at.sent(len(e.frame), self.now)
        self.counters["tx"] += len(out)
        return out

    def next_event(self) -> "Event | None":
        if self.events:
            return self.events.pop(0)
        return None

    def stats(self) -> "dict[str, object]":
        """Every counter, drop reason and table size in one dict."""
        d = {}  # type: dict[str, object]
        for k in self.counters:
            d[k] = self.counters[k]
        d["drops"] = dict(self.drops)
        d["last_error"] = self.last_error  # what an "internal" drop was, for a bug report
        d["tables"] = {
            "peers": len(self.peers), "peers_max": self.peers.cap,
            "dedup": len(self.dedup), "dedup_max": self.dedup.cap,
            "replay": len(self.replay), "reassembly": len(self.reasm),
            "txq": len(self.txq), "events": len(self.events),
            "pending_acks": len(self.pending_acks),
        }
        d["router"] = self.router.name
        d["router_stats"] = self.router.stats()
        d["airtime"] = {"max_utilization": self.airtime.utilization(),
                        "deferred": self.airtime.deferred}
        return d

    def is_bridged(self, p: Packet) -> bool:
        return bool(p.flags & F_BRIDGED)

