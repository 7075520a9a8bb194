"""Any byte string fed to a node ends as a handled frame or a counted drop.

Runs on both runtimes (a seeded fuzz loop); tests/unit/test_fuzz_hypothesis.py
drives the same property with hypothesis under CPython. A drop counted as
"internal" means an exception was caught at the core's edge: that is a bug.
"""

from bitmesh_core import packet as P
from bitmesh_core.auth import FrameAuth
from bitmesh_core.config import NodeConfig
from bitmesh_core.node import MeshNode
from bitmesh_core.rng import SeededRng
from core.harness import KEY, SMALL_TABLES, make_identity


def _node() -> MeshNode:
    return MeshNode(NodeConfig.from_dict(SMALL_TABLES), make_identity(1), KEY, SeededRng(5), 0)


def _total_drops(node: MeshNode) -> int:
    n = 0
    for k in node.drops:
        n += node.drops[k]
    return n


def test_random_bytes_never_escape_and_are_counted() -> None:
    node = _node()
    rng = SeededRng(42)
    for i in range(1500):
        n = rng.randbelow(300)
        node.receive(0, rng.randbytes(n), -70, i * 3, b"\x02\x00\x00\x00\x00\x09")
        node.handle_timer(i * 3)
    assert "internal" not in node.drops
    assert node.counters["rx"] == 1500
    assert _total_drops(node) + node.counters["duplicates"] + node.counters["delivered"] >= 1400


def test_mutated_authentic_frames_never_escape() -> None:
    node = _node()
    auth = FrameAuth(KEY)
    rng = SeededRng(7)
    src = make_identity(2).node_id
    for i in range(800):
        body = P.tlv(P.TLV_PAYLOAD, rng.randbytes(rng.randbelow(40)))
        ptype = 1 + rng.randbelow(12)
        dst = node.node_id if rng.randbelow(2) else None
        f = P.build(ptype, src, i + 1, 1 + rng.randbelow(7), body, dst, rng.randbelow(64),
                    rng.randbytes(4 * rng.randbelow(3)) if rng.randbelow(2) else None)
        auth.sign(f)
        for _ in range(rng.randbelow(3)):
            f[rng.randbelow(len(f))] = rng.randbelow(256)
        if rng.randbelow(4) == 0:
            f = f[: rng.randbelow(len(f) + 1)]
        node.receive(rng.randbelow(2), bytes(f), -60, i * 20, b"\x02\x00\x00\x00\x00\x02")
        node.handle_timer(i * 20)
        node.frames_to_send()
        while node.next_event() is not None:
            pass
    assert "internal" not in node.drops
    assert "internal_timer" not in node.drops


def test_bad_tag_and_unknown_version_are_counted_by_reason() -> None:
    node = _node()
    auth = FrameAuth(KEY)
    f = P.build(P.T_BROADCAST, make_identity(3).node_id, 1, 3, P.tlv(P.TLV_PAYLOAD, b"x"))
    auth.sign(f)
    good = bytes(f)
    f[-1] ^= 0xFF
    node.receive(0, bytes(f), -50, 10, None)
    assert node.drops.get("auth") == 1
    v2 = bytearray(good)
    v2[0] = 2
    node.receive(0, bytes(v2), -50, 11, None)
    assert node.drops.get("version") == 1
    node.receive(0, good, -50, 12, None)
    node.receive(0, good, -50, 13, None)
    assert node.counters["duplicates"] == 1
    assert node.counters["delivered"] == 1
