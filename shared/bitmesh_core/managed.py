"""Managed flooding, after Meshtastic: contention-window relays that cancel.

A node that hears a new frame it should relay does not relay at once: it
waits a random delay drawn from a contention window whose size depends on
the signal strength of the neighbour it heard the frame from. A weak signal
means a far neighbour, and a far node covers more new ground, so weaker
signal gives a *smaller* window and the farther nodes relay first. If a copy
of the same frame is heard from a neighbour before the delay runs out, the
scheduled relay is cancelled (its coverage is probably redundant).

Unicast floods under the same rules (a recipient that is a direct neighbour
gets it by link unicast), with an end-to-end ack: the origin sets F_ACK_REQ
and the recipient's node answers. The origin retransmits a frame that was
neither acked nor heard relayed by any neighbour (Meshtastic's implicit ack)
after ``RETRY_MS``, at most ``RETRIES`` times. The pending table is bounded by
``tx_queue_max``.

The signal strength used is the per-neighbour RSSI average kept in the peer
table (updated with the frame that triggered the relay); a sender not yet in
the table gets the middle of the range.
"""

from .clock import add, diff
from .compat import TYPE_CHECKING, const
from .packet import F_ACK_REQ, T_ACK, Packet
from .router import ROUTERS, Router

if TYPE_CHECKING:
    from .node import MeshNode

SLOT_MS = const(2)  # one contention slot: a bit more than one 250-byte frame's airtime
CW_MIN = const(2)  # window exponent for the weakest signal: 0..3 slots
CW_MAX = const(5)  # window exponent for the strongest signal: 0..31 slots
RSSI_WEAK = const(-95)
RSSI_STRONG = const(-45)
RETRY_MS = const(1500)
RETRIES = const(2)


class Pending:
    """A unicast of ours awaiting its end-to-end ack."""

    __slots__ = ("frame", "deadline", "tries", "relayed", "prio")

    def __init__(self, frame: "bytes | bytearray", deadline: int, prio: int) -> None:
        self.frame = frame
        self.deadline = deadline
        self.tries = RETRIES
        self.relayed = False  # a neighbour was heard relaying it (implicit ack)
        self.prio = prio


class ManagedFloodRouter(Router):
    name = "managed"

    def __init__(self, node: "MeshNode") -> None:
        super().__init__(node)
        self.pending = {}  # type: dict[bytes, Pending]
        self.st = {"scheduled": 0, "cancelled": 0, "retries": 0, "acked": 0}

    def contention_ms(self, link: int) -> int:
        """A random relay delay; smaller windows for weaker (farther) senders."""
        rssi = (RSSI_WEAK + RSSI_STRONG) // 2
        if link >= 0:
            r = self.node.peers.rssi[link]
            if r != -127:
                rssi = r
        if rssi < RSSI_WEAK:
            rssi = RSSI_WEAK
        elif rssi > RSSI_STRONG:
            rssi = RSSI_STRONG
        cw = CW_MIN + (rssi - RSSI_WEAK) * (CW_MAX - CW_MIN) // (RSSI_STRONG - RSSI_WEAK)
        slots = self.node.rng.getrandbits(cw)  # type: ignore[attr-defined]
        return int(slots) * SLOT_MS

    def relay(self, p: Packet, frame: "bytes | bytearray", pid: bytes, link: int,
              prio: int, now: int) -> None:
        node = self.node
        if p.ttl <= 1 or node.config.role == "leaf":
            return
        out = node.relay_copy(p, frame)
        if out is None:
            return
        self.st["scheduled"] += 1
        node.emit(out, prio, to=self.link_unicast(p), due=add(now, self.contention_ms(link)),
                  key=pid)

    def heard_duplicate(self, p: Packet, pid: bytes, link: int, now: int) -> None:
        n = self.node.txq.cancel(pid)
        if n:
            self.st["cancelled"] += 1
        ent = self.pending.get(pid)
        if ent is not None:
            ent.relayed = True  # a neighbour relayed our frame: the first hop worked

    def send_unicast(self, dst: bytes, ptype: int, body: bytes, flags: int, prio: int,
                     now: int) -> int:
        node = self.node
        ack = ptype != T_ACK
        if ack:
            flags |= F_ACK_REQ
        to = node.peers.slot(dst)
        before = len(node.txq.entries)
        seq, pid = node.originate(ptype, body, now, dst=dst, flags=flags, prio=prio, to=to)
        if ack and len(node.txq.entries) > before:
            if len(self.pending) >= node.config.tx_queue_max:
                self.pending.pop(next(iter(self.pending)))
            frame = node.txq.entries[-1].frame
            self.pending[pid] = Pending(frame, add(now, RETRY_MS), prio)
        return seq

    def on_ack(self, p: Packet, acked: bytes, now: int) -> None:
        if self.pending.pop(acked, None) is not None:
            self.st["acked"] += 1

    def on_timer(self, now: int) -> None:
        if not self.pending:
            return
        done = []
        for pid in self.pending:
            ent = self.pending[pid]
            if diff(now, ent.deadline) < 0:
                continue
            if ent.relayed or ent.tries <= 0:
                done.append(pid)
                continue
            ent.tries -= 1
            ent.deadline = add(now, RETRY_MS)
            self.st["retries"] += 1
            self.node.emit(ent.frame, ent.prio)
        for pid in done:
            del self.pending[pid]

    def next_timer(self, now: int) -> "int | None":
        best = None  # type: int | None
        for pid in self.pending:
            t = self.pending[pid].deadline
            if best is None or diff(t, best) < 0:
                best = t
        return best

    def stats(self) -> "dict[str, object]":
        d = {"pending": len(self.pending)}  # type: dict[str, object]
        for k in self.st:
            d[k] = self.st[k]
        return d


ROUTERS["managed"] = ManagedFloodRouter
