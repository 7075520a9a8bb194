"""Replay protection: a sliding window of sequence numbers per origin.

Each origin numbers its frames ``boot_count << 20 | counter``; the boot count
is persisted by the shell, so sequence numbers only grow across reboots. A
frame is accepted when its seq is newer than the highest seen from that origin,
or within the last ``WINDOW`` and not yet seen. A captured frame sent again
later is rejected, and dedup (checked first) keeps ordinary flood copies out of
the replay count.

The table holds ``capacity`` origins in fixed arrays; when full, the origin
heard from least recently is forgotten (documented trade-off: a frame of a
forgotten origin is accepted once as new).
"""

from array import array

from .clock import diff
from .keytable import KeyTable

WINDOW = 64


class ReplayGuard:
    __slots__ = ("cap", "slots", "top", "bits", "heard")

    def __init__(self, capacity: int) -> None:
        self.cap = capacity
        self.slots = KeyTable(capacity, 8)
        self.top = array("I", bytes(4 * capacity))
        self.bits = bytearray(8 * capacity)  # 64-bit window per origin
        self.heard = array("i", bytes(4 * capacity))

    def __len__(self) -> int:
        return len(self.slots)

    def check(self, src: bytes, seq: int, now: int) -> bool:
        """Record (src, seq); False when it is a replay or too old."""
        s = self.slots.get(src)
        if s < 0:
            s = self._claim(src)
            self.top[s] = seq
            self._clear(s)
            self._set(s, 0)
            self.heard[s] = now
            return True
        self.heard[s] = now
        top = self.top[s]
        if seq > top:
            shift = seq - top
            if shift >= WINDOW:
                self._clear(s)
            else:
                self._shift(s, shift)
            self.top[s] = seq
            self._set(s, 0)
            return True
        back = top - seq
        if back >= WINDOW or self._get(s, back):
            return False
        self._set(s, back)
        return True

    def forget(self, src: bytes) -> None:
        self.slots.pop(src)

    def _claim(self, src: bytes) -> int:
        s = self.slots.free_slot()
        if s < 0:
            # Evict the origin heard from least recently.
            s = 0
            for i in range(self.cap):  # every slot is in use here
                if diff(self.heard[i], self.heard[s]) < 0:
                    s = i
            self.slots.pop(self.slots.key_at(s))
        self.slots[src] = s
        return s

    def _clear(self, s: int) -> None:
        o = s * 8
        for i in range(8):
            self.bits[o + i] = 0

    def _get(self, s: int, bit: int) -> int:
        return (self.bits[s * 8 + (bit >> 3)] >> (bit & 7)) & 1

    def _set(self, s: int, bit: int) -> None:
        self.bits[s * 8 + (bit >> 3)] |= 1 << (bit & 7)

    def _shift(self, s: int, n: int) -> None:
        """Age the window by ``n`` positions: bit b moves to bit b + n."""
        o = s * 8
        b = self.bits
        for i in range(7, -1, -1):
            v = 0
            src = i * 8 - n  # bit index that lands at this byte's bit 0
            for j in range(8):
                k = src + j
                if 0 <= k < 64 and (b[o + (k >> 3)] >> (k & 7)) & 1:
                    v |= 1 << j
            b[o + i] = v
