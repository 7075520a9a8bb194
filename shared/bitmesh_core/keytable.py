"""A fixed-memory map from short byte keys (node ids, link addresses) to slots.

A dict grows by reallocating one contiguous block, which fails on a
fragmented 110 KB board heap long before the heap is full. This table is
allocated once: ``keylen * capacity`` key bytes, a used flag per slot and an
open-addressed index (linear probing, backward-shift deletion) of 16-bit slot
numbers. It offers the small dict-like surface the core uses (``get``,
``[]``, ``in``, ``len``, iteration over keys, ``pop``); keys are stored at
their value's slot, so values are slot numbers ``0 <= v < capacity``.
"""

from array import array

from .compat import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterator

    from .dedup import DedupCache


class KeyTable:
    __slots__ = ("cap", "klen", "keys", "used", "index", "mask", "n", "hint")

    def __init__(self, capacity: int, keylen: int) -> None:
        self.cap = capacity
        self.klen = keylen
        self.keys = bytearray(keylen * capacity)
        self.used = bytearray(capacity)
        size = 4
        while size < 2 * capacity:
            size <<= 1
        self.index = array("H", bytes(2 * size))  # slot + 1; 0 = empty
        self.mask = size - 1
        self.n = 0
        self.hint = 0  # where the next free-slot search starts

    def __len__(self) -> int:
        return self.n

    def _home(self, buf: "bytes | bytearray", off: int) -> int:
        k = self.klen
        return ((buf[off + k - 1] << 8) ^ buf[off + k - 2] ^ (buf[off] << 4)) & self.mask

    def _pos(self, key: "bytes | bytearray") -> int:
        """Index position of ``key``, or -1 - (the empty position ending the probe)."""
        if len(key) != self.klen:
            return -1 - 0x7FFF
        idx = self.index
        keys = self.keys
        kl = self.klen
        mask = self.mask
        j = self._home(key, 0)
        while True:
            s = idx[j]
            if s == 0:
                return -1 - j
            o = (s - 1) * kl
            # find() bounded to the slot compares in C without a slice: it can
            # only match at o, since the key fills the window exactly.
            if keys.find(key, o, o + kl) == o:
                return j
            j = (j + 1) & mask

    def get(self, key: "bytes | bytearray | None", default: int = -1) -> int:
        if key is None:
            return default
        j = self._pos(key)
        return self.index[j] - 1 if j >= 0 else default

    def __contains__(self, key: bytes) -> bool:
        return self._pos(key) >= 0

    def __getitem__(self, key: bytes) -> int:
        j = self._pos(key)
        if j < 0:
            raise KeyError(key)
        return self.index[j] - 1

    def __setitem__(self, key: bytes, slot: int) -> None:
        """Map ``key`` to ``slot`` (which must be free or already ``key``'s)."""
        j = self._pos(key)
        if j == -1 - 0x7FFF:
            raise ValueError("key length")
        if j >= 0:
            old = self.index[j] - 1
            if old == slot:
                return
            backshift(self, j)
            self.used[old] = 0
            self.n -= 1
            j = self._pos(key)
        o = slot * self.klen
        self.keys[o : o + self.klen] = key
        self.used[slot] = 1
        self.index[-1 - j] = slot + 1
        self.n += 1

    def pop(self, key: bytes, default: int = -1) -> int:
        j = self._pos(key)
        if j < 0:
            return default
        s = self.index[j] - 1
        backshift(self, j)
        self.used[s] = 0
        self.n -= 1
        return s

    def free_slot(self) -> int:
        """A slot no key occupies, or -1 when full."""
        if self.n >= self.cap:
            return -1
        u = self.used
        cap = self.cap
        i = self.hint
        for _ in range(cap):
            if not u[i]:
                self.hint = i + 1 if i + 1 < cap else 0
                return i
            i = i + 1 if i + 1 < cap else 0
        return -1

    def clear(self) -> None:
        """Forget every key, keeping the memory."""
        idx = self.index
        for i in range(len(idx)):
            idx[i] = 0
        u = self.used
        for i in range(self.cap):
            u[i] = 0
        self.n = 0
        self.hint = 0

    def key_starts(self, slot: int, prefix: "bytes | bytearray") -> bool:
        """True if the key stored at ``slot`` begins with ``prefix`` (no allocation)."""
        o = slot * self.klen
        return len(prefix) <= self.klen and self.keys.find(prefix, o, o + len(prefix)) == o

    def key_at(self, slot: int) -> bytes:
        o = slot * self.klen
        return bytes(self.keys[o : o + self.klen])

    def values(self) -> "Iterator[int]":
        """The used slots, lazily: a list of 128 slots is a 1 KB block, which a
        fragmented board heap may not have (do not change the table while
        iterating)."""
        u = self.used
        for i in range(self.cap):
            if u[i]:
                yield i

    def __iter__(self) -> "Iterator[bytes]":
        for i in range(self.cap):
            if self.used[i]:
                yield self.key_at(i)


def backshift(t: "KeyTable | DedupCache", j: int) -> None:
    """Empty index position ``j`` of ``t``'s open-addressed index by
    backward-shift deletion (no tombstones, so probes stay short however
    long the table runs). ``t`` keeps ``klen``-byte keys at ``keys[slot *
    klen]``, slot + 1 in ``index`` (0 = empty), and hashes with ``_home``."""
    idx = t.index
    mask = t.mask
    keys = t.keys
    kl = t.klen
    i = j
    while True:
        idx[i] = 0
        k = i
        while True:
            k = (k + 1) & mask
            s = idx[k]
            if s == 0:
                return
            h = t._home(keys, (s - 1) * kl)
            # Leave the entry if its home lies cyclically in (i, k].
            if (i <= k and i < h <= k) or (i > k and (h > i or h <= k)):
                continue
            break
        idx[i] = idx[k]
        i = k


class IdRing:
    """The last ``capacity`` fixed-length ids, oldest overwritten first, in one
    ``bytearray`` (a list of bytes objects costs about 75 bytes per id on a
    64-bit VM). ``add`` and ``in`` allocate nothing."""

    __slots__ = ("buf", "klen", "cap", "head", "n")

    def __init__(self, capacity: int, keylen: int) -> None:
        self.buf = bytearray(capacity * keylen)
        self.klen = keylen
        self.cap = capacity
        self.head = 0  # the slot the next id takes
        self.n = 0

    def __len__(self) -> int:
        return self.n

    def add(self, key: "bytes | bytearray") -> None:
        """Remember ``key`` (which must be ``keylen`` bytes long)."""
        o = self.head * self.klen
        self.buf[o:o + self.klen] = key
        self.head = (self.head + 1) % self.cap
        if self.n < self.cap:
            self.n += 1

    def __contains__(self, key: "bytes | bytearray") -> bool:
        kl = self.klen
        if len(key) != kl:
            return False
        buf = self.buf
        for i in range(self.n):
            o = i * kl
            if buf.find(key, o, o + kl) == o:
                return True
        return False

    def clear(self) -> None:
        self.head = 0
        self.n = 0
