"""Core micro-benchmarks, runnable on MicroPython and CPython alike.

    micropython tests/..../bench_core.py SHARED_DIR   -> one JSON line

forward_us: mean time (median over 30 batches of 100) for the node to
receive, authenticate, dedup, replay-check and relay (queue + hand out) one
authentic broadcast frame from a known neighbour. forward_us_best: the fastest
batch's mean (on a shared machine the slow batches are other load: within one
run the batch means spread from 33 to 55 us). codec_us: build + sign + decode
of one 60-byte-payload frame.
hash_*: the dedup hash over the same 200-byte input, viper and pure Python,
in the same process (on CPython both names are the pure version).
"""

import json
import sys

sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else "shared")

try:
    from time import ticks_diff, ticks_us  # type: ignore[attr-defined]
except ImportError:
    from time import perf_counter_ns

    def ticks_us() -> int:
        return perf_counter_ns() // 1000

    def ticks_diff(a: int, b: int) -> int:
        return a - b


from bitmesh_core import packet as P  # noqa: E402
from bitmesh_core.auth import FrameAuth  # noqa: E402
from bitmesh_core.config import NodeConfig  # noqa: E402
from bitmesh_core.hashing import hash64_into, hash64_into_py  # noqa: E402
from bitmesh_core.identity import Identity  # noqa: E402
from bitmesh_core.node import MeshNode  # noqa: E402
from bitmesh_core.rng import SeededRng  # noqa: E402

KEY = bytes(range(32))


def bench_hash() -> "dict[str, float]":
    data = bytes((i * 7 + 3) & 0xFF for i in range(200))
    out = bytearray(8)
    n = 2000
    t0 = ticks_us()
    for _ in range(n):
        hash64_into_py(data, 200, out)
    t1 = ticks_us()
    for _ in range(n):
        hash64_into(data, 200, out)
    t2 = ticks_us()
    py = ticks_diff(t1, t0) / n
    fast = ticks_diff(t2, t1) / n
    return {"hash_py_us": py, "hash_viper_us": fast, "hash_viper_speedup": py / fast if fast else 0.0}


ADDR = b"\x02\x00\x00\x00\x00\x01"  # the one neighbour's link address


def flood_node() -> "MeshNode":
    """A flood-router node (1024 dedup entries) that has heard one neighbour,
    at ADDR: the node every forward benchmark relays through."""
    cfg = NodeConfig(dedup_capacity=1024, max_peers=32, router="flood")
    node = MeshNode(cfg, Identity.from_secret(bytes(32)), KEY, SeededRng(1), 0)
    hb = P.build(P.T_HEARTBEAT, bytes((0xA0, 1, 0, 0, 0, 0, 0, 1)), 1, 1,
                 P.tlv(P.TLV_ROLE, b"\x00"))
    FrameAuth(KEY).sign(hb)
    node.receive(0, hb, -50, 0, ADDR)
    return node


def broadcast(auth: FrameAuth, i: int, seq: int) -> bytes:
    """An authentic 60-byte broadcast from origin ``i % 16`` (16 origins, as in
    a busy mesh), as the neighbour relays it."""
    src = bytes((0xB0, i % 16, 0, 0, 0, 0, 0, 2))
    f = P.build(P.T_BROADCAST, src, seq, 5, P.tlv(P.TLV_PAYLOAD, b"m" * 60))
    auth.sign(f)
    return bytes(f)


def bench_forward() -> "dict[str, float]":
    node = flood_node()
    auth = FrameAuth(KEY)
    addr = ADDR
    batches = []
    count = 0
    now = 10
    seq = 10
    for _ in range(30):
        batch = []
        for i in range(100):
            seq += 1
            batch.append(broadcast(auth, i, seq))
        t0 = ticks_us()
        for fb in batch:
            node.receive(0, fb, -60, now, addr)
            node.frames_to_send()
            node.next_event()
            now += 30  # 33 frames/s from this neighbour stays inside its rate limit
        batches.append(ticks_diff(ticks_us(), t0) / len(batch))
        count += len(batch)
    relayed = node.counters["relayed"]
    # The median batch mean: robust to another process taking the CPU briefly.
    batches.sort()
    return {"forward_us": batches[len(batches) // 2], "forward_us_best": batches[0],
            "forward_relayed": float(relayed), "forward_frames": float(count)}


def bench_codec() -> "dict[str, float]":
    auth = FrameAuth(KEY)
    src = bytes(8)
    dst = bytes(range(8))
    body = P.tlv(P.TLV_PAYLOAD, b"c" * 60)
    n = 500
    t0 = ticks_us()
    for i in range(n):
        f = P.build(P.T_UNICAST, src, i, 7, body, dst)
        auth.sign(f)
        P.decode(f)
    return {"codec_us": ticks_diff(ticks_us(), t0) / n}


def main() -> None:
    out = {}  # type: dict[str, float]
    for fn in (bench_hash, bench_forward, bench_codec):
        r = fn()
        for k in r:
            out[k] = r[k]
    print(json.dumps(out))


if __name__ == "__main__":  # bench_forward_ir.py imports the helpers above
    main()
