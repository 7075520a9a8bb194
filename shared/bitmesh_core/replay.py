"""Replay protection: a sliding window of sequence numbers per origin.

Each origin numbers its frames ``boot_count << 20 | counter``; the boot count
is persisted by the shell, so sequence numbers only grow across reboots. A
frame is accepted when its seq is newer than the highest seen from that origin,
or within the last ``_WINDOW`` and not yet seen. A captured frame sent again
later is rejected, and dedup (checked first) keeps ordinary flood copies out of
the replay count.

The window is 30 bits so it stays a small int on a 32-bit board (one shift,
no allocation). The table holds ``capacity`` origins in fixed arrays; when
full, the origin heard from least recently is forgotten (documented trade-off:
a frame of a forgotten origin is accepted once as new).
"""

from array import array

from .clock import diff
from .compat import const
from .keytable import KeyTable

_WINDOW = const(30)
_MASK = const(0x3FFFFFFF)


class ReplayGuard:
    __slots__ = ("cap", "slots", "top", "bits", "heard", "hops")

    def __init__(self, capacity: int) -> None:
        self.cap = capacity
        self.slots = KeyTable(capacity, 8)
        self.top = array("I", bytes(4 * capacity))
        self.bits = array("i", bytes(4 * capacity))  # bit b set: seq top-b seen
        self.heard = array("i", bytes(4 * capacity))
        self.hops = bytearray(capacity)  # how far the origin's last accepted frame came

    def __len__(self) -> int:
        return len(self.slots)

    def check(self, src: bytes, seq: int, now: int, hops: int = 0) -> bool:
        """Record (src, seq), a frame that came ``hops`` hops (decode bounds
        them by MAX_TTL); False when it is a replay or too old."""
        s = self.slots.get(src)
        if s < 0:
            s = self._claim(src)
            self.top[s] = seq
            self.bits[s] = 1
            self.heard[s] = now
            self.hops[s] = hops
            return True
        self.heard[s] = now
        tops = self.top
        top = tops[s]
        bits = self.bits
        if seq > top:
            self.hops[s] = hops
            shift = seq - top
            bits[s] = ((bits[s] << shift) & _MASK) | 1 if shift < _WINDOW else 1
            tops[s] = seq
            return True
        back = top - seq
        if back >= _WINDOW:
            return False
        m = 1 << back
        b = bits[s]
        if b & m:
            return False
        bits[s] = b | m
        return True

    def hops_to(self, src: bytes) -> int:
        """Hops the last frame accepted from ``src`` travelled; 0 if unknown."""
        s = self.slots.get(src)
        return self.hops[s] if s >= 0 else 0

    def forget(self, src: bytes) -> None:
        self.slots.pop(src)

    def _claim(self, src: bytes) -> int:
        s = self.slots.free_slot()
        if s < 0:
            # Evict the origin heard from least recently.
            s = 0
            heard = self.heard
            for i in range(self.cap):  # every slot is in use here
                if diff(heard[i], heard[s]) < 0:
                    s = i
            self.slots.pop(self.slots.key_at(s))
        self.slots[src] = s
        return s
