"""Wraparound-safe millisecond arithmetic.

The core never reads a clock: shells pass ``now_ms``. On a board that value is
``time.ticks_ms()``, which wraps at 2**30, so the core only ever compares times
through :func:`diff` and :func:`add`, exactly like ``time.ticks_diff``.
"""

from .compat import const

PERIOD = const(0x40000000)  # 2**30, MicroPython's ticks period
MASK = const(0x3FFFFFFF)
HALF = const(0x20000000)


def diff(a: int, b: int) -> int:
    """Signed ``a - b`` in ms, correct across one wrap (|a - b| < 2**29)."""
    return ((a - b + HALF) & MASK) - HALF


def add(t: int, delta: int) -> int:
    """``t + delta`` wrapped into the ticks range."""
    return (t + delta) & MASK


def wrap(t: int) -> int:
    """Bring any integer time into the ticks range."""
    return t & MASK
