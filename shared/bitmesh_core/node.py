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
The transmit side (origination, relay copies, messages, fragments, the queue
drain) is in transmit.py, and heartbeats, the peer sweep and probes are in
liveness.py, both bound into the class below.
"""

from . import liveness, transmit
from .airtime import AirtimeBudget
from .auth import FrameAuth
from .clock import add, diff, wrap
from .config import NodeConfig
from .dedup import DedupCache
from .events import Acked, Delivered, Event
from .fragment import Reassembler
from .identity import Identity
from .packet import (
    F_ACK_REQ,
    F_URGENT,
    T_ACK,
    T_BROADCAST,
    T_FRAGMENT,
    T_HEARTBEAT,
    T_UNICAST,
    TLV_ACKED,
    TLV_FRAG,
    TLV_HOPS,
    DecodeError,
    Packet,
    decode,
    packet_id_into,
)
from .peers import PeerTable
from .replay import ReplayGuard
from .router import Router, router_class
from .txqueue import P_CONTROL, P_DATA, P_GAME, TxQueue

IF_ESPNOW = 0
IF_BLE = 1
IF_HOST = 2
IF_BRIDGE = 3

SEQ_COUNTER_BITS = 20


class MeshNode:
    # The transmit side lives in transmit.py as plain functions of the node,
    # bound here as methods: callers keep calling node.emit(...), with no
    # wrapper call on the forward path.
    next_seq = transmit.next_seq
    emit = transmit.emit
    originate = transmit.originate
    relay_copy = transmit.relay_copy
    send_message = transmit.send_message
    send_frame = transmit.send_frame
    frames_to_send = transmit.frames_to_send
    _send_ack = transmit.send_ack
    _heartbeat = liveness.send_heartbeat
    _on_heartbeat = liveness.heard_heartbeat
    _sweep = liveness.sweep
    answer_soon = liveness.answer_soon

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
                         "duplicates": 0, "heartbeats": 0, "probes": 0}  # type: dict[str, int]
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
        self.hb_sent = add(self.now, -liveness.ANSWER_GAP_MS)
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
        # Objects used more than once are held in locals: on MicroPython each
        # attribute read is a table lookup, and this runs for every frame heard.
        p = decode(frame, self.rx_packet)
        peers = self.peers
        link = peers.slot_by_addr(addr)
        if link >= 0:
            if not peers.allow(link, now):
                peers.adjust_rep(link, -1)
                self.drop("rate")
                return
        elif not self._stranger_allow(now):
            self.drop("rate")
            return
        if not self.auth.verify(frame):
            if link >= 0:
                peers.adjust_rep(link, -5)
            self.drop("auth")
            return
        if link >= 0:
            peers.heard(link, rssi, now)
        pid = self.pid
        packet_id_into(p, pid)
        if self.dedup.seen(pid, now):
            self.counters["duplicates"] += 1
            self.router.heard_duplicate(p, bytes(pid), link, now)
            return
        src = p.src
        me = self.node_id
        if src == me:
            self.drop("own")
            return
        hops = p.hops
        if not self.replay.check(src, p.seq, now, hops):
            self.drop("replay")
            return
        pidb = bytes(pid)
        t = p.ptype
        if t == T_HEARTBEAT:
            self._on_heartbeat(p, iface, rssi, now, addr)
            return
        dst = p.dst
        for_me = dst == me
        prio = P_GAME if p.flags & F_URGENT else (P_CONTROL if t == T_ACK else P_DATA)
        if not for_me:
            self.router.relay(p, frame, pidb, link, prio, now)
            if dst is not None:
                return
        if for_me and t != T_ACK:
            # False: the router saw this message before (end-to-end dedup).
            fresh = self.router.delivered_unicast(p, pidb, link, now) is not False
            if p.flags & F_ACK_REQ:
                self._send_ack(p, pidb, now)  # a duplicate too: the first ack may be lost
            if not fresh:
                return
        if t == T_BROADCAST or t == T_UNICAST:
            self._deliver(src, dst, p.payload(), p.app, hops, p.msg_id() if for_me else p.seq, t)
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
        events = self.events
        if len(events) >= self.config.events_max:
            events.pop(0)
            self.drop("events_overflow")
        events.append(ev)

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

    def _on_ack(self, p: Packet, now: int) -> None:
        acked = p.tlv(TLV_ACKED)
        if acked is None or len(acked) != 8:
            self.drop("bad_ack")
            return
        ent = self.pending_acks.pop(acked, None)
        if ent is not None:
            # One Acked per message: forget its other copies' entries (a
            # message re-sent by the router has one per copy, same dst and id).
            acks = self.pending_acks
            for k in [k for k in acks if acks[k][2] == ent[2] and acks[k][1] == ent[1]]:
                del acks[k]
            rtt = diff(now, ent[0])
            s = self.peers.slot(p.src)
            if s >= 0:
                self.peers.rtt(s, rtt)
            hops = p.tlv(TLV_HOPS)
            self.push_event(Acked(ent[1], ent[2], rtt, hops[0] if hops else 0))
        self.router.on_ack(p, acked, now)

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

    def next_timer(self) -> "int | None":
        t = self.next_hb
        limit = self.airtime.allowed(self.now)
        held = self.airtime.window_end() if self.txq.held(limit) else None
        for cand in (self.next_sweep, self.router.next_timer(self.now),
                     self.txq.next_due(self.now, limit), held):
            if cand is not None and diff(cand, t) < 0:
                t = cand
        return t

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

