"""The forward path in instructions, for `bitmesh bench` under valgrind.

    micropython bench_forward_ir.py SHARED_DIR FRAMES fwd|build [nogc]

The node and frames of bench_core.py's forward benchmark: its dedup cache is
first filled with 1200 relayed broadcasts (the steady state: every new frame
evicts the oldest), then FRAMES more are built in batches of 100 and, with
``fwd``, received and relayed (receive, frames_to_send, next_event).
``build`` does the same work without the node's part, so the difference of
two runs' instruction counts over FRAMES is the node's cost per frame.
Instruction counts do not move with the load of a shared machine, unlike
microseconds. ``nogc`` turns the collector off (run it with a heap large
enough): the bytes printed are then all the run allocated. (Its instruction
count is no figure: with nothing reclaimed, the allocator's search for free
blocks, not the node, decides it.)
"""

import gc
import sys

# The script's directory is on MicroPython's sys.path.
from bench_core import ADDR, KEY, broadcast, flood_node  # type: ignore[import-not-found]

from bitmesh_core.auth import FrameAuth

WARM_BATCHES = 12


def main() -> None:
    frames = int(sys.argv[2])
    forward = sys.argv[3] == "fwd"
    node = flood_node()
    auth = FrameAuth(KEY)
    if len(sys.argv) > 4 and sys.argv[4] == "nogc":
        gc.collect()
        gc.disable()
    now = 10
    seq = 10
    batch = [b""] * 100
    for b in range(WARM_BATCHES + frames // 100):
        for i in range(100):
            seq += 1
            batch[i] = broadcast(auth, i, seq)
        if b < WARM_BATCHES or forward:
            for fb in batch:
                node.receive(0, fb, -60, now, ADDR)
                node.frames_to_send()
                node.next_event()
                now += 30
    alloc = gc.mem_alloc()  # type: ignore[attr-defined]  # MicroPython only
    print('{"relayed": %d, "alloc": %d}' % (node.counters["relayed"], alloc))


main()
