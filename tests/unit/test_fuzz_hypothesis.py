"""Property: nothing a radio can deliver makes an exception escape the core."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bitmesh_core import packet as P
from bitmesh_core.auth import FrameAuth
from bitmesh_core.config import NodeConfig
from bitmesh_core.node import MeshNode
from bitmesh_core.rng import SeededRng
from core.harness import KEY, SMALL_TABLES, make_identity


def _node() -> MeshNode:
    return MeshNode(NodeConfig.from_dict(SMALL_TABLES), make_identity(1), KEY, SeededRng(1), 0)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20), st.integers(0, 2**30 - 1))
def test_arbitrary_bytes_are_counted_never_raised(frames: list[bytes], t0: int) -> None:
    node = _node()
    for i, f in enumerate(frames):
        node.receive(0, f, -60, t0 + i, b"\x01\x02\x03\x04\x05\x06")
    assert "internal" not in node.drops
    assert node.counters["rx"] == len(frames)


@settings(max_examples=300, deadline=None)
@given(
    ptype=st.integers(0, 255), ttl=st.integers(1, 32), flags=st.integers(0, 255),
    body=st.binary(max_size=120), mutate=st.lists(st.tuples(st.integers(0, 249), st.integers(0, 255)),
                                                   max_size=3),
    with_dst=st.booleans(),
)
def test_authentic_then_mutated_frames(ptype: int, ttl: int, flags: int, body: bytes,
                                       mutate: list[tuple[int, int]], with_dst: bool) -> None:
    node = _node()
    f = P.build(ptype, make_identity(9).node_id, 5, ttl, body,
                node.node_id if with_dst else None, flags)
    FrameAuth(KEY).sign(f)
    for pos, val in mutate:
        if pos < len(f):
            f[pos] = val
    node.receive(0, bytes(f), -50, 100, None)
    node.handle_timer(200)
    node.frames_to_send()
    assert "internal" not in node.drops
