"""bitmesh router: heartbeats list the floods a node holds, and a neighbour
resends one it missed (floodrepair.RecentFloods).

Dual-runtime (CPython and MicroPython), driven only through the node's public
API via tests/core/harness.Mesh.
"""

from bitmesh_core import packet as P
from bitmesh_core.auth import FrameAuth
from bitmesh_core.config import NodeConfig
from bitmesh_core.identity import Identity
from bitmesh_core.node import MeshNode
from bitmesh_core.rng import SeededRng
from core.harness import ROUTING_FAST, Mesh, grid, line, router_stats

FAST = ROUTING_FAST


def test_neighbour_resends_a_broadcast_a_node_missed() -> None:
    # Node 2 is cut off while the broadcast and its relay's repeats go past.
    # Back on air, its next heartbeat does not list the broadcast, and relay 1
    # sends its copy once more.
    m = Mesh(3, line(3), config=FAST)
    m.run(4000)
    m.block(1, 2)
    m.nodes[0].send_message(None, b"missed", m.now)
    m.run(2500)  # the flood, relay 1's repeats into the cut, within the peer timeout
    assert m.delivered(1, b"missed") == 1
    assert m.delivered(2, b"missed") == 0
    m.unblock_all()
    m.run(2500)
    assert router_stats(m, 1)["flood_repairs"] >= 1
    assert m.delivered(2, b"missed") == 1


def test_no_resends_when_every_node_has_the_broadcast() -> None:
    m = Mesh(6, grid(2, 3), config=FAST)
    m.run(4000)
    for k in range(4):
        m.nodes[k].send_message(None, b"all%d" % k, m.now)
        m.run(1500)
    m.run(4000)  # several heartbeats listing them
    for j in range(6):
        assert router_stats(m, j)["flood_repairs"] == 0, j
        for k in range(4):
            if j != k:
                assert m.delivered(j, b"all%d" % k) == 1, (j, k)


def test_resends_of_one_broadcast_are_capped() -> None:
    # Relay 1 hears node 2's heartbeats, but nothing it sends reaches 2 (a
    # one-way failure 2 has not timed out yet): it resends twice and stops.
    cfg = dict(FAST)
    cfg["peer_timeout_ms"] = 10000
    m = Mesh(3, line(3), config=cfg)
    m.run(4000)
    m.blocked.add((1, 2))
    m.nodes[0].send_message(None, b"never", m.now)
    m.run(8000)  # eight heartbeats from 2 that lack it
    assert router_stats(m, 1)["flood_repairs"] == 2
    assert m.delivered(2, b"never") == 0


def test_heartbeat_with_every_field_full_fits_one_frame() -> None:
    # The longest name, more neighbours than one heartbeat lists, and a full
    # list of floods held: still one ESP-NOW frame.
    key = bytes(range(32))
    node = MeshNode(NodeConfig(max_peers=48, name="n" * 31), Identity.from_secret(bytes(32)),
                    key, SeededRng(1), 0)
    auth = FrameAuth(key)
    now = 0
    for i in range(48):
        f = P.build(P.T_HEARTBEAT, bytes((0xA0, i, 0, 0, 0, 0, 0, 1)), 1, 1,
                    P.tlv(P.TLV_ROLE, b"\x00") + P.tlv(P.TLV_BEACON, b"\x00\x32\x00\x01"))
        auth.sign(f)
        node.receive(0, f, -60, now, bytes((2, 0, 0, 0, 0, i)))
        now += 100
        while node.next_event() is not None:
            pass
    for k in range(6):
        node.send_message(None, b"f%d" % k, now)
        now += 10
    node.frames_to_send()
    node.set_heartbeat_interval(1000, now)
    node.handle_timer(now + 1500)
    hb = [f for _, _, f in node.frames_to_send() if f[1] == P.T_HEARTBEAT]
    assert len(hb) == 1 and 240 <= len(hb[0]) <= 250, [len(f) for f in hb]
    assert node.stats()["router_stats"]["flood_repairs"] == 0  # type: ignore[index]
    assert not node.stats()["last_error"]
    # 13 s later every neighbour is close to its timeout and probed: the
    # probe takes the room left, if any, and the frame still fits.
    for t in range(now + 1600, now + 15000, 100):
        node.handle_timer(t)
        for _, _, f in node.frames_to_send():
            assert len(f) <= 250
    assert node.stats()["probes"] >= 1
    assert not node.stats()["last_error"]


def test_a_node_that_missed_a_broadcast_asks_for_it_when_a_heartbeat_lists_it() -> None:
    # Node 1 missed the broadcast, and its own heartbeats go out every 30 s,
    # longer than the floods are kept: only by answering node 0's heartbeat,
    # which lists the broadcast, does node 1 tell node 0 that it lacks it.
    m = Mesh(2, line(2), config=FAST)
    m.run(4000)
    m.nodes[1].set_heartbeat_interval(30000, m.now)
    for j in (0, 1):
        m.nodes[j].set_peer_timeout(60000)  # no probes either
    m.blocked.add((0, 1))
    m.nodes[0].send_message(None, b"pulled", m.now)
    m.run(1500)  # the broadcast and node 0's repeats of it
    m.blocked = set()
    assert m.delivered(1, b"pulled") == 0
    m.run(5000)
    assert router_stats(m, 0)["flood_repairs"] >= 1
    assert m.delivered(1, b"pulled") == 1
