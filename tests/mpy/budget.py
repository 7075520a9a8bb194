"""Memory budget: one node with full tables inside a board-sized heap.

Run by `make test-mpy` twice: with the core's .mpy files loaded into RAM
(BITMESH_CORE_PATH, -X heapsize=96wK) and with them in a ROMFS image
(BITMESH_CORE_ROMFS, 64wK plus the image: tests/mpy/budget_romfs.py).
Builds a node sized for 128 peers and 1024 dedup entries, fills its peer,
dedup and replay tables through the public API (heartbeats from 128
neighbours, broadcasts from 128 origins), then prints the live heap. Route
paths, the hold queue and reassembly are not filled. A MemoryError, or tables
that did not fill, fails the run. Prints JSON for `bitmesh bench`.
"""

import gc
import json
import os  # noqa: E402
import sys

ROOT = "/".join(sys.argv[0].split("/")[:-3]) or "."
ROMFS = os.getenv("BITMESH_CORE_ROMFS")
if ROMFS:
    # The core as a ROMFS image (tests/mpy/budget_romfs.py builds it): its
    # bytecode and constants run in place, as from a board's flash. The image
    # sits in one heap buffer here, allocated first; the runner adds exactly
    # its size to the heap, so the node itself still gets 64wK.
    import vfs

    _img = bytearray(os.stat(ROMFS)[6])
    with open(ROMFS, "rb") as _f:
        _f.readinto(_img)
    vfs.mount(vfs.VfsRom(_img), "/rom")
    sys.path.insert(0, "/rom/lib")
else:
    # The board loads precompiled .mpy files; `make test-mpy` points here at them.
    sys.path.insert(0, os.getenv("BITMESH_CORE_PATH") or ROOT + "/shared")

gc.collect()
base = gc.mem_alloc()

from bitmesh_core import mesh  # noqa: E402,F401  (the default router, loaded on first use)
from bitmesh_core import packet as P  # noqa: E402
from bitmesh_core.auth import FrameAuth  # noqa: E402
from bitmesh_core.config import NodeConfig  # noqa: E402
from bitmesh_core.identity import Identity  # noqa: E402
from bitmesh_core.node import MeshNode  # noqa: E402
from bitmesh_core.rng import SeededRng  # noqa: E402

gc.collect()
code = gc.mem_alloc() - base
KEY = bytes(range(32))


def main() -> int:
    cfg = NodeConfig(max_peers=128, dedup_capacity=1024, replay_senders=128)
    node = MeshNode(cfg, Identity.from_secret(bytes(32)), KEY, SeededRng(1), 0)
    auth = FrameAuth(KEY)
    now = 0
    # 128 neighbours heard by heartbeat.
    for i in range(128):
        src = bytes((0xA0, i, 0, 0, 0, 0, 0, 1))
        f = P.build(P.T_HEARTBEAT, src, 1, 1, P.tlv(P.TLV_ROLE, b"\x00")
                    + P.tlv(P.TLV_BEACON, b"\x00\x32\x00\x01"))
        auth.sign(f)
        node.receive(0, f, -60, now, bytes((2, 0, 0, 0, 0, i)))
        now += 100  # within the shared rate limit for not-yet-known neighbours
        while node.next_event() is not None:  # a shell drains events every loop
            pass
    # 1100 broadcasts from 128 origins fill the dedup ring and replay table.
    for i in range(1100):
        src = bytes((0xB0, i % 128, 0, 0, 0, 0, 0, 2))
        f = P.build(P.T_BROADCAST, src, 10 + i, 3, P.tlv(P.TLV_PAYLOAD, b"x" * 20))
        auth.sign(f)
        f[2] = 2  # one hop already made (the tag leaves TTL out): a relay's copy
        # of a frame from further away, which this node relays in turn.
        node.receive(0, f, -60, now, bytes((2, 0, 0, 0, 0, i % 128)))
        now += 60
        node.frames_to_send()  # a shell sends and drains every loop
        while node.next_event() is not None:
            pass
    node.frames_to_send()
    while node.next_event() is not None:
        pass
    gc.collect()
    live = gc.mem_alloc() - base
    st = node.stats()
    t = st["tables"]
    ok = t["peers"] == 128 and t["dedup"] == 1024 and "internal" not in st["drops"]
    # The pass criterion is the one the board has: everything above ran inside
    # the heap given (64wK is what a 32-bit board would give, scaled by word size).
    print(json.dumps({"heap_live_bytes": live, "code_bytes": code, "heap_free": gc.mem_free(), "drops": st["drops"],
                      "last_error": st.get("last_error"),
                      "tables": t, "ok": ok}))
    if not ok:
        print("FAIL: node with full tables over budget or tables not full")
        return 1
    print("1 passed, 0 failed")
    return 0


sys.exit(main())
