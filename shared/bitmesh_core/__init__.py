"""bitmesh_core: the bitmesh protocol as a sans-IO state machine.

The same files run on ESP32 boards (MicroPython) and on laptops (CPython).
Bytes and time go in; frames, timers and events come out. See node.py.
"""

__version__ = "0.1.0"
