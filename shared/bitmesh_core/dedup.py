"""Duplicate suppression bounded by count *and* age, in fixed memory.

Identities (8 bytes) live in a ring in arrival order; an open-addressed index
(linear probing, backward-shift deletion) finds them. Memory is allocated once:
``8 * (capacity + 1)`` key bytes, ``2 * (capacity + 1)`` times and
``2 * 2 * capacity`` index bytes (14 KB for 1024 entries). The ring has one
slot more than the cache holds: a new identity goes into the spare slot first
and the oldest leaves after, so a full cache records a frame with one probe. Times are kept in 16-bit units of 1024
ms (``_TICK_SHIFT``): an age bound is a matter of seconds, and 16 bits at that
unit wrap after 18 hours, far beyond the largest bound (1 hour), which the
sweep enforces every second. An entry leaves when it is the oldest and the
ring is full, or when :meth:`expire` finds it older than ``max_age_ms``, so a frame heard again
half an hour later is treated as new instead of being dropped forever, and an
old identity can never shadow a new frame after the tick counter wraps.

The cache is keyed by identity only, not by interface: a frame heard on
ESP-NOW and again on BLE counts once (the cross-radio window is the age bound).
"""

from array import array

from .compat import const
from .keytable import backshift

_TICK_SHIFT = const(10)  # stored times are now_ms >> 10 (units of 1.024 s), 16 bits


class DedupCache:
    __slots__ = ("cap", "ring", "max_age", "keys", "times", "index", "mask", "head", "count",
                 "tail", "klen")

    def __init__(self, capacity: int, max_age_ms: int) -> None:
        self.cap = capacity
        # In 1.024 s units, rounded up: a frame stays a duplicate for at least
        # max_age_ms, and is forgotten at most about 2 s after that.
        self.max_age = (max_age_ms + (1 << _TICK_SHIFT) - 1) >> _TICK_SHIFT
        self.ring = capacity + 1  # one spare slot: see the module docstring
        self.klen = 8  # identities: keytable.backshift reads the key length here
        self.keys = bytearray(8 * self.ring)
        size = 1
        while size < 2 * capacity or size <= self.ring:  # never full: a miss ends at a 0
            size <<= 1
        # Both arrays take their zeros item by item from a view of the (still
        # zero) key buffer: array("H", bytes(n)) would first need a temporary
        # block as large as the array, which a fragmented board heap may lack.
        zero = memoryview(self.keys)
        self.times = array("H", zero[: self.ring])
        self.index = array("H", zero[:size])  # ring slot + 1; 0 = empty
        self.mask = size - 1
        self.head = 0  # next ring slot to write
        self.tail = 0  # oldest ring slot
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def _home(self, key: "bytes | bytearray | memoryview", off: int) -> int:
        return ((key[off + 5] << 16) | (key[off + 6] << 8) | key[off + 7]) & self.mask

    def _find(self, key: "bytes | bytearray") -> int:
        """Index position holding ``key``, or -1 - (first empty position)."""
        idx = self.index
        keys = self.keys
        mask = self.mask
        j = self._home(key, 0)
        while True:
            s = idx[j]
            if s == 0:
                return -1 - j
            o = (s - 1) * 8
            if keys.find(key, o, o + 8) == o:  # compares in C, no slice
                return j
            j = (j + 1) & mask

    def seen(self, key: "bytes | bytearray", now: int) -> bool:
        """Record ``key``; True if it was already recorded within the age bound."""
        j = self._find(key)
        if j >= 0:
            slot = self.index[j] - 1
            if self._age(now, slot) <= self.max_age:
                return True
            # Stale but not yet swept: forget it and record afresh.
            backshift(self, j)
            j = self._find(key)
        slot = self.head  # free: the ring has a spare slot even when the cache is full
        o = slot * 8
        self.keys[o : o + 8] = key
        self.times[slot] = (now >> _TICK_SHIFT) & 0xFFFF
        self.index[-1 - j] = slot + 1
        self.head = slot + 1 if slot + 1 < self.ring else 0
        self.count += 1
        if self.count > self.cap:
            self._drop_oldest()  # after the insert: its probe position stays valid
        return False

    def contains(self, key: "bytes | bytearray", now: int) -> bool:
        """True if ``key`` is recorded and fresh; records nothing."""
        j = self._find(key)
        return j >= 0 and self._age(now, self.index[j] - 1) <= self.max_age

    def expire(self, now: int) -> int:
        """Drop entries older than the age bound, oldest first. Returns how many."""
        n = 0
        while self.count and self._age(now, self.tail) > self.max_age:
            self._drop_oldest()
            n += 1
        return n

    def _age(self, now: int, slot: int) -> int:
        """Age of ring slot ``slot`` in 1.024 s units (16-bit wraparound)."""
        return ((now >> _TICK_SHIFT) - self.times[slot]) & 0xFFFF

    def _drop_oldest(self) -> None:
        slot = self.tail
        o = slot * 8
        j = self._home(self.keys, o)
        while True:
            s = self.index[j]
            if s == slot + 1:
                backshift(self, j)
                break
            if s == 0:  # already unlinked when a stale copy was re-recorded
                break
            j = (j + 1) & self.mask
        self.tail = slot + 1 if slot + 1 < self.ring else 0
        self.count -= 1
