"""The forward path in instructions, for `bitmesh bench` under valgrind.

    micropython bench_forward_ir.py SHARED_DIR FRAMES fwd|build [nogc]

Builds a flood-router node (1024 dedup entries), fills its dedup cache with
1200 relayed broadcasts (the steady state: every new frame evicts the oldest),
then builds FRAMES more authentic broadcasts from 16 origins in batches of 100
and, with ``fwd``, has the node receive and relay each one (receive,
frames_to_send, next_event, as bench_core.py times it). ``build`` does the
same work without the node's part, so the difference of two runs' instruction
counts over FRAMES is the node's cost per frame. Instruction counts do not
move with the load of a shared machine, unlike microseconds; ``nogc`` turns
the collector off (run it with a heap large enough) to count the
interpreter's work alone.
"""

import gc
import sys

sys.path.insert(0, sys.argv[1])

from bitmesh_core import packet as P  # noqa: E402
from bitmesh_core.auth import FrameAuth  # noqa: E402
from bitmesh_core.config import NodeConfig  # noqa: E402
from bitmesh_core.identity import Identity  # noqa: E402
from bitmesh_core.node import MeshNode  # noqa: E402
from bitmesh_core.rng import SeededRng  # noqa: E402

KEY = bytes(range(32))
WARM_BATCHES = 12


def main() -> None:
    frames = int(sys.argv[2])
    forward = sys.argv[3] == "fwd"
    node = MeshNode(NodeConfig(dedup_capacity=1024, max_peers=32, router="flood"),
                    Identity.from_secret(bytes(32)), KEY, SeededRng(1), 0)
    auth = FrameAuth(KEY)
    addr = b"\x02\x00\x00\x00\x00\x01"
    hb = P.build(P.T_HEARTBEAT, bytes((0xA0, 1, 0, 0, 0, 0, 0, 1)), 1, 1,
                 P.tlv(P.TLV_ROLE, b"\x00"))
    auth.sign(hb)
    node.receive(0, hb, -50, 0, addr)
    if len(sys.argv) > 4 and sys.argv[4] == "nogc":
        gc.collect()
        gc.disable()
    now = 10
    seq = 10
    batch = [b""] * 100
    for b in range(WARM_BATCHES + frames // 100):
        for i in range(100):
            seq += 1
            src = bytes((0xB0, i % 16, 0, 0, 0, 0, 0, 2))
            f = P.build(P.T_BROADCAST, src, seq, 5, P.tlv(P.TLV_PAYLOAD, b"m" * 60))
            auth.sign(f)
            batch[i] = bytes(f)
        if b < WARM_BATCHES or forward:
            for fb in batch:
                node.receive(0, fb, -60, now, addr)
                node.frames_to_send()
                node.next_event()
                now += 30
    alloc = gc.mem_alloc()  # type: ignore[attr-defined]  # MicroPython only
    print('{"relayed": %d, "alloc": %d}' % (node.counters["relayed"], alloc))


main()
