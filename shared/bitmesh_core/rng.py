"""A small seeded generator with the ``getrandbits`` interface the core expects.

MicroPython has no ``random.Random``; tests and the simulator need many
independent, repeatable streams on both runtimes. This is xorshift32 (Marsaglia)
with outputs of at most 30 bits, so a 32-bit board never allocates a big int
for a result. Not for secrets: boards pass their hardware-seeded ``random``.
"""


class SeededRng:
    __slots__ = ("s",)

    def __init__(self, seed: int) -> None:
        s = (seed * 2654435761 + 0x6D2B79F5) & 0xFFFFFFFF
        self.s = s or 0x1234567
        for _ in range(4):
            self._next()

    def _next(self) -> int:
        x = self.s
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.s = x
        return x

    def getrandbits(self, k: int) -> int:
        """``k`` (1..30) random bits."""
        return self._next() >> (32 - k)

    def random(self) -> float:
        """A float in [0, 1)."""
        return (self._next() >> 2) / 1073741824.0

    def randbelow(self, n: int) -> int:
        """An integer in [0, n) without modulo bias (n <= 2**30)."""
        if n <= 1:
            return 0
        k = 1
        while (1 << k) < n:
            k += 1
        while True:
            v = self._next() >> (32 - k)
            if v < n:
                return v

    def randbytes(self, n: int) -> bytes:
        return bytes(self._next() & 0xFF for _ in range(n))
