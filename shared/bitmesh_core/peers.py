"""The neighbour table: fixed arrays of per-peer link state.

A peer is a node heard *directly* (its heartbeat arrived with ttl == ttl0). Each
slot holds: node id, link address and interface, last_seen, frames sent and
received, RSSI (EWMA), loss (from gaps in the heartbeat counter, EWMA, percent),
latency (ack RTT EWMA, ms), reputation (0..100, starts at 50) and role, plus a
token bucket that limits the frames accepted from that neighbour.

Eviction when full (documented in docs/ARCHITECTURE.md): the new neighbour takes
the slot of the peer heard from least recently, preferring peers whose
reputation is below the newcomer's starting score; a table of fresh, reputable
peers therefore refuses the newcomer rather than churning (counted).
"""

from array import array

from .clock import diff
from .compat import const
from .keytable import KeyTable

_ADDR_LEN = const(6)  # link addresses are MAC-sized on every interface (ESP-NOW, BLE, sim)

ROLE_CODES = {"relay": 0, "leaf": 1, "gateway": 2, "treasury": 3}
ROLE_NAMES = ("relay", "leaf", "gateway", "treasury")
REP_START = 50
_TOKEN_SCALE = const(16)  # tokens are stored in 1/16ths so refill is integer math


class PeerTable:
    __slots__ = (
        "cap", "by_id", "by_addr", "iface", "last_seen", "first_seen",
        "rx", "tx", "rssi", "loss", "latency", "rep", "role", "tokens", "tok_t",
        "beacon", "rate", "burst", "refused",
    )

    def __init__(self, capacity: int, rate_per_s: int, burst: int) -> None:
        self.cap = capacity
        self.rate = rate_per_s
        self.burst = burst
        self.by_id = KeyTable(capacity, 8)
        self.by_addr = KeyTable(capacity, _ADDR_LEN)
        self.iface = bytearray(capacity)
        self.last_seen = array("i", bytes(4 * capacity))
        self.first_seen = array("i", bytes(4 * capacity))
        self.rx = array("I", bytes(4 * capacity))
        self.tx = array("I", bytes(4 * capacity))
        self.rssi = array("b", bytes(capacity))
        self.loss = bytearray(capacity)
        self.latency = array("H", bytes(2 * capacity))
        self.rep = bytearray(capacity)
        self.role = bytearray(capacity)
        self.tokens = array("i", bytes(4 * capacity))
        self.tok_t = array("i", bytes(4 * capacity))
        self.beacon = array("i", bytes(4 * capacity))
        self.refused = 0

    def __len__(self) -> int:
        return len(self.by_id)

    def node_id(self, s: int) -> bytes:
        """The id of the peer in slot ``s`` (allocates 8 bytes). Ids and link
        addresses live only in the two key tables, not in per-peer objects."""
        return self.by_id.key_at(s)

    def addr_of(self, s: int) -> bytes:
        """The link address of slot ``s`` (allocates)."""
        return self.by_addr.key_at(s)

    def id_starts(self, s: int, prefix: "bytes | bytearray") -> bool:
        """True if the id of slot ``s`` begins with ``prefix`` (no allocation)."""
        return self.by_id.key_starts(s, prefix)

    def slot(self, node_id: bytes) -> int:
        """The slot of ``node_id`` or -1."""
        return self.by_id.get(node_id, -1)

    def slot_by_addr(self, addr: "bytes | None") -> int:
        return self.by_addr.get(addr)  # -1 for None or an unknown address

    def add(self, node_id: bytes, addr: bytes, iface: int, now: int) -> int:
        """Insert a neighbour; returns its slot, or -1 when the table refuses it."""
        if len(addr) != _ADDR_LEN:
            return -1
        if len(self.by_id) < self.cap:
            s = self.by_id.free_slot()
        else:
            s = self._victim(now)
            if s < 0:
                self.refused += 1
                return -1
            self.remove(self.node_id(s))
        self.by_id[node_id] = s
        self.by_addr[addr] = s  # an address another slot held moves here
        self.iface[s] = iface
        self.last_seen[s] = now
        self.first_seen[s] = now
        self.rx[s] = 0
        self.tx[s] = 0
        self.rssi[s] = -127
        self.loss[s] = 0
        self.latency[s] = 0
        self.rep[s] = REP_START
        self.role[s] = 0
        self.tokens[s] = self.burst * _TOKEN_SCALE
        self.tok_t[s] = now
        self.beacon[s] = -1
        return s

    def _victim(self, now: int) -> int:
        best = -1
        best_age = -1
        used = self.by_id.used
        for s in range(self.cap):
            if not used[s] or self.rep[s] > REP_START:
                continue
            age = diff(now, self.last_seen[s])
            if age > best_age:
                best = s
                best_age = age
        return best

    def remove(self, node_id: bytes) -> None:
        s = self.by_id.pop(node_id, -1)
        if s >= 0:
            a = self.by_addr.key_at(s)
            if self.by_addr.get(a) == s:
                self.by_addr.pop(a)

    def relink(self, s: int, addr: bytes, iface: int) -> None:
        """A known peer was heard at a new link address or interface."""
        old = self.by_addr.key_at(s)
        if old != addr and len(addr) == _ADDR_LEN:
            if self.by_addr.get(old) == s:
                self.by_addr.pop(old)
            other = self.by_addr.get(addr)
            if other >= 0:  # the address moved to this peer: unmap the stale owner
                self.by_addr.pop(addr)
            self.by_addr[addr] = s
        self.iface[s] = iface

    def heard(self, s: int, rssi: int, now: int) -> None:
        """Any frame arrived from neighbour ``s``."""
        self.last_seen[s] = now
        self.rx[s] += 1
        if rssi > -128:
            r = self.rssi[s]
            self.rssi[s] = rssi if r == -127 else (r * 3 + rssi) // 4
            if self.rssi[s] > 127:
                self.rssi[s] = 127

    def beacon_counter(self, s: int, counter: int) -> None:
        """Update the loss estimate from a heartbeat's 16-bit counter."""
        last = self.beacon[s]
        self.beacon[s] = counter
        if last < 0:
            return
        gap = (counter - last) & 0xFFFF
        if gap == 0 or gap > 64:  # reboot or long silence: no evidence
            return
        # An EWMA over heartbeat slots, 1/8 a slot: this heartbeat stands for
        # ``gap`` slots, gap - 1 of them missed, so it moves the estimate gap
        # times as far (at most all the way). Weighing every heartbeat alike
        # read 3% at 10% loss: the missed ones were under-counted.
        d = ((gap - 1) * 100 // gap - self.loss[s]) * (gap if gap < 8 else 8)
        if d >= 0:
            self.loss[s] += (d + 4) >> 3
        else:
            d = (4 - d) >> 3
            self.loss[s] -= d if d else 1  # rounded, yet it still comes down to 0

    def rtt(self, s: int, ms: int) -> None:
        if ms < 0:
            return
        ms = 65535 if ms > 65535 else ms
        lat = self.latency[s]
        self.latency[s] = ms if lat == 0 else (lat * 7 + ms) // 8

    def allow(self, s: int, now: int) -> bool:
        """Token bucket per neighbour: False when it is over its rate."""
        el = diff(now, self.tok_t[s])
        t = self.tokens[s]
        if el > 0:
            t += el * self.rate * _TOKEN_SCALE // 1000
            top = self.burst * _TOKEN_SCALE
            if t > top:
                t = top
            self.tok_t[s] = now
        if t < _TOKEN_SCALE:
            self.tokens[s] = t
            return False
        self.tokens[s] = t - _TOKEN_SCALE
        return True

    def adjust_rep(self, s: int, delta: int) -> None:
        r = self.rep[s] + delta
        self.rep[s] = 0 if r < 0 else (100 if r > 100 else r)

    def expired(self, now: int, timeout_ms: int) -> "list[bytes]":
        """Ids of peers silent for longer than ``timeout_ms``."""
        out = []
        used = self.by_id.used
        for s in range(self.cap):
            if used[s] and diff(now, self.last_seen[s]) > timeout_ms:
                out.append(self.node_id(s))
        return out

    def quiet(self, now: int, after_ms: int, timeout_ms: int) -> bytes:
        """Short ids, back to back, of peers silent for longer than
        ``after_ms`` and not yet ``timeout_ms``: the ones to probe."""
        out = b""
        used = self.by_id.used
        keys = self.by_id.keys
        for s in range(self.cap):
            if used[s]:
                age = diff(now, self.last_seen[s])
                if after_ms < age <= timeout_ms:
                    out += keys[8 * s:8 * s + 4]
        return out

    def snapshot(self, now: int) -> "list[dict[str, object]]":
        """Per-peer state for status output (allocates; not for the hot path)."""
        out = []  # type: list[dict[str, object]]
        for nid in self.by_id:
            s = self.by_id[nid]
            out.append({
                "id": nid.hex(),
                "iface": self.iface[s],
                "age_ms": diff(now, self.last_seen[s]),
                "rx": self.rx[s],
                "tx": self.tx[s],
                "rssi": self.rssi[s],
                "loss_pct": self.loss[s],
                "latency_ms": self.latency[s],
                "reputation": self.rep[s],
                "role": ROLE_NAMES[self.role[s]] if self.role[s] < 4 else "relay",
            })
        return out
