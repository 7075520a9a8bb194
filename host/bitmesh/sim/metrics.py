"""Message accounting and the metrics object of FORMAT.md.

Attribution. Each application payload is the 4-byte unit ``0xB1 + message
index (3 bytes)`` repeated to ``size`` bytes, so every frame that carries it,
including every fragment (fragment chunks are 132 bytes, a multiple of 4),
names its message. The first time the medium sees a frame identity
(``seq + src``, header bytes 5..17, which relays never change) it is
classified once and cached: a payload unit gives the message; an ack's
``TLV_ACKED`` names the packet identity of the data frame it acknowledges,
which was recorded when that frame was first sent; rogue injections are
``rogue``; heartbeats and every other frame are ``control``. Relays and
retries of a frame keep its identity, so they land on the same message.
"""

from __future__ import annotations

from typing import Any

from bitmesh_core.events import Delivered, Event, PartitionSuspected
from bitmesh_core.packet import (
    F_SRC_ROUTE,
    T_ACK,
    T_BROADCAST,
    T_FRAGMENT,
    T_UNICAST,
    TLV_ACKED,
    DecodeError,
    decode,
    packet_id,
)

MARK = 0xB1
CONTROL = -1
ROGUE = -2


def payload_for(msg: int, size: int) -> bytes:
    unit = bytes((MARK, (msg >> 16) & 0xFF, (msg >> 8) & 0xFF, msg & 0xFF))
    return (unit * (size // 4 + 1))[:size]


def msg_of_payload(payload: bytes) -> int:
    if len(payload) >= 4 and payload[0] == MARK:
        return (payload[1] << 16) | (payload[2] << 8) | payload[3]
    return CONTROL


class Msg:
    __slots__ = ("kind", "origin", "dst", "t_us", "reach", "opt_hops", "counted",
                 "delivered", "t_done_us", "hops", "tx", "tx_nodes", "path", "routed",
                 "rerouted", "etx")

    def __init__(self, kind: str, origin: int, dst: int, t_us: int) -> None:
        self.kind = kind
        self.origin = origin
        self.dst = dst
        self.t_us = t_us
        self.reach: set[int] = set()  # broadcast: nodes reachable at send time
        self.opt_hops = 0
        self.counted = False  # unicast: destination reachable at send time
        self.delivered: set[int] = set()
        self.t_done_us = -1
        self.hops = 0
        self.tx = 0
        self.tx_nodes: set[int] = set()
        self.path: frozenset[int] = frozenset()
        self.routed = False  # unicast: its origin's first frame was source-routed
        self.rerouted = False  # routed, and later flooded: its route broke on the way
        self.etx = 0.0  # unicast: expected tx of the best acked path at send time (reference)


def _pct(vals: list[float], q: float) -> float | None:
    if not vals:
        return None
    s = sorted(vals)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def _mean(vals: list[float]) -> float | None:
    return sum(vals) / len(vals) if vals else None


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


class Collector:
    """Fed by the engine; :meth:`result` builds the metrics object."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.msgs: list[Msg] = []
        self.key2msg: dict[bytes, int] = {}
        self.pid2msg: dict[bytes, int] = {}
        self.rogue_keys: set[bytes] = set()
        self.control_tx = 0
        self.control_bytes = 0
        self.rogue_tx = 0
        self.msg_tx_by_node = [0] * n
        self.tx_by_node = [0] * n
        self.airtime_us = [0] * n  # sent or heard by each node
        self.disrupt_us: list[int] = []  # partition and kill times
        self.partition_seen_us: list[int] = []
        self.partition_false_alarms = 0  # reports naming only nodes still in reach
        self.repair_wait: dict[tuple[int, int], int] = {}
        self.repairs_ms: list[float] = []
        self.pair_path: dict[tuple[int, int], frozenset[int]] = {}
        self.max_peers = 0
        self.max_routes = 0
        self.max_dedup = 0
        self.medium_drops: dict[str, int] = {}
        self.deferrals = 0  # transmissions that waited for a busy channel (collisions on)
        self.bcast_lat_ms: list[float] = []  # each node's first copy of each broadcast

    # ------------------------------------------------------------- sending
    def new_msg(self, kind: str, origin: int, dst: int, t_us: int) -> int:
        self.msgs.append(Msg(kind, origin, dst, t_us))
        return len(self.msgs) - 1

    def classify(self, key: bytes, frame: bytes | bytearray) -> int:
        """Message index of a frame identity not seen before (or CONTROL/ROGUE)."""
        if key in self.rogue_keys:
            return ROGUE
        t = frame[1]
        m = CONTROL
        if t in (T_BROADCAST, T_UNICAST, T_FRAGMENT, T_ACK):
            try:
                p = decode(frame)
            except DecodeError:
                return CONTROL
            if t == T_ACK:
                acked = p.tlv(TLV_ACKED)
                m = self.pid2msg.get(acked, CONTROL) if acked else CONTROL
            else:
                m = msg_of_payload(p.payload())
                if m >= len(self.msgs):
                    m = CONTROL
                else:
                    # Broadcasts too: a dead end acks the flood frame it got.
                    self.pid2msg[packet_id(p)] = m
        self.key2msg[key] = m
        return m

    def on_tx(self, i: int, frame: bytes | bytearray) -> None:
        key = bytes(frame[5:17])
        m = self.key2msg.get(key)
        if m is None:
            m = self.classify(key, frame)
        self.tx_by_node[i] += 1
        if m >= 0:
            msg = self.msgs[m]
            if msg.kind == "unicast" and frame[1] != T_ACK:
                if msg.tx == 0 and i == msg.origin:
                    msg.routed = bool(frame[4] & F_SRC_ROUTE)  # header byte 4: flags
                elif msg.routed and not frame[4] & F_SRC_ROUTE:
                    msg.rerouted = True
            msg.tx += 1
            self.msg_tx_by_node[i] += 1
            if msg.kind == "unicast" and msg.t_done_us < 0:
                msg.tx_nodes.add(i)
        elif m == ROGUE:
            self.rogue_tx += 1
        else:
            self.control_tx += 1
            self.control_bytes += len(frame)

    # ------------------------------------------------------------ receiving
    def on_event(self, i: int, ev: Event, t_us: int) -> None:
        if isinstance(ev, Delivered):
            m = msg_of_payload(ev.payload)
            if m < 0 or m >= len(self.msgs):
                return
            msg = self.msgs[m]
            if msg.kind == "broadcast":
                if ev.dst is None and i != msg.origin and i not in msg.delivered:
                    msg.delivered.add(i)
                    self.bcast_lat_ms.append((t_us - msg.t_us) / 1000.0)
            elif i == msg.dst and msg.t_done_us < 0:
                msg.delivered.add(i)
                msg.t_done_us = t_us
                msg.hops = ev.hops
                pair = (msg.origin, msg.dst)
                msg.path = frozenset(msg.tx_nodes - {msg.origin, msg.dst})
                self.pair_path[pair] = msg.path
                since = self.repair_wait.pop(pair, None)
                if since is not None and msg.t_us >= since:
                    self.repairs_ms.append((t_us - since) / 1000.0)
                elif since is not None:
                    self.repair_wait[pair] = since
        elif isinstance(ev, PartitionSuspected):
            # The simulator passes only reports that name a node out of reach
            # (Engine._partition_founded); virtual boards log no names.
            self.partition_seen_us.append(t_us)

    def on_kill(self, nodes: list[int], t_us: int) -> None:
        self.disrupt_us.append(t_us)
        dead = set(nodes)
        for pair, path in self.pair_path.items():
            if path & dead and pair[0] not in dead and pair[1] not in dead:
                self.repair_wait.setdefault(pair, t_us)

    # -------------------------------------------------------------- result
    def result(self, duration_us: int) -> dict[str, Any]:
        b = [m for m in self.msgs if m.kind == "broadcast"]
        u = [m for m in self.msgs if m.kind == "unicast"]
        uc = [m for m in u if m.counted]
        pairs = sum(len(m.reach) for m in b)
        got = sum(len(m.delivered & m.reach) for m in b)
        done = [m for m in uc if m.t_done_us >= 0]
        lat = [(m.t_done_us - m.t_us) / 1000.0 for m in done]
        opt = [float(m.opt_hops) for m in uc]
        kr = [m for m in uc if m.routed]
        intact = [m for m in kr if not m.rerouted]
        first = min(self.disrupt_us) if self.disrupt_us else None
        seen = [t for t in self.partition_seen_us if first is not None and t >= first]
        util = max((a / duration_us for a in self.airtime_us), default=0.0)
        return {
            "broadcast": {
                "sent": len(b), "reachable_pairs": pairs, "delivered_pairs": got,
                "delivery_ratio": _ratio(got, pairs),
                "tx_per_message": _ratio(sum(m.tx for m in b), len(b)),
                # Send to each node's first copy (repairs arrive a heartbeat late).
                "latency_ms_p50": _round(_pct(self.bcast_lat_ms, 0.5)),
                "latency_ms_p95": _round(_pct(self.bcast_lat_ms, 0.95)),
            },
            "unicast": {
                "sent": len(uc), "unreachable": len(u) - len(uc), "delivered": len(done),
                "delivery_ratio": _ratio(len(done), len(uc)),
                "tx_per_message": _ratio(sum(m.tx for m in uc), len(uc)),
                "hops_mean": _round(_mean([float(m.hops) for m in done])),
                "optimal_hops_mean": _round(_mean(opt)),
                "latency_ms_p50": _round(_pct(lat, 0.5)),
                "latency_ms_p95": _round(_pct(lat, 0.95)),
                # Sent on a route already known: transmissions (retries, link
                # acks and any re-send included) per shortest-path hop.
                "known_route_sent": len(kr),
                "known_route_delivery_ratio": _ratio(sum(1 for m in kr if m.t_done_us >= 0),
                                                     len(kr)),
                "known_route_tx_per_hop": _ratio(sum(m.tx for m in kr),
                                                 sum(m.opt_hops for m in kr)),
                # ... of those, the ones whose route held (never fell back to
                # a flood after a relay on it died or a hop failed).
                "intact_route_sent": len(intact),
                "intact_route_tx_per_hop": _ratio(sum(m.tx for m in intact),
                                                  sum(m.opt_hops for m in intact)),
            },
            "control": {"tx": self.control_tx, "bytes": self.control_bytes},
            "rogue": {"tx": self.rogue_tx},
            "events": {
                "partition_detected_ms": (round((min(seen) - first) / 1000.0, 1)
                                          if seen and first is not None else None),
                "route_repair_ms": _round(_mean(self.repairs_ms)),
                "partition_false_alarms": self.partition_false_alarms,
            },
            "tables": {"max_peers": self.max_peers, "max_routes": self.max_routes,
                       "max_dedup": self.max_dedup},
            "airtime": {"max_utilization": round(util, 4), "carrier_deferrals": self.deferrals},
            "timeline": [[round(m.t_us / 1e6, 3), m.kind, _outcome(m)] for m in self.msgs],
        }


def _outcome(m: Msg) -> float | None:
    """Per message: broadcast = delivered share of reachable nodes; unicast = 1/0;
    None when nothing was reachable (the message does not count)."""
    if m.kind == "broadcast":
        return round(len(m.delivered & m.reach) / len(m.reach), 3) if m.reach else None
    if not m.counted:
        return None
    return 1.0 if m.t_done_us >= 0 else 0.0


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 2)
