"""Runtime shims so one source file runs on MicroPython and CPython.

Typing names exist only for mypy; on a board ``TYPE_CHECKING`` is False and
``const`` is MicroPython's compile-time constant marker.
"""

import sys

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython has no typing module
    TYPE_CHECKING = False  # type: ignore[misc,unused-ignore]

if TYPE_CHECKING:

    def const(x: int) -> int:
        return x

else:
    try:
        from micropython import const
    except ImportError:  # CPython

        def const(x):
            return x


MICROPYTHON = sys.implementation.name == "micropython"

__all__ = ["TYPE_CHECKING", "MICROPYTHON", "const"]
