"""bitmesh router: the timing of flood relays (delay-and-cancel).

Dual-runtime (CPython and MicroPython). The first test drives eight nodes
through their public API (tests/core/harness.Mesh), so tests/mpy/run_all.py
gives this file a heap of 120wK; the second checks the cancel rule of
``Coverage`` on one node's view, where a mesh would leave it to timing.
"""

from bitmesh_core.broadcast import Coverage
from core.harness import ROUTING_FAST, Mesh


def test_a_relay_moves_later_as_copies_cover_its_targets() -> None:
    # Origin 0 reaches 1, 2 and 3. Node 1 alone would reach 4 and 5, node 3
    # alone 5 and 6, and node 2 alone 4, 6 and 7: node 2 goes first and
    # covers 4. Node 1's relay then moves later, to the delay of one target,
    # and node 3 (which does not hear node 2, so its count stays at two)
    # covers 5 before node 1 is due: node 1 never relays. With its first
    # delay kept, it went together with node 3, which had the same count.
    links = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (1, 4), (1, 5), (2, 4), (2, 6), (2, 7),
             (3, 5), (3, 6)]
    cfg = dict(ROUTING_FAST)
    cfg["bcast_cover"] = 1  # one copy covers a neighbour: the count alone decides
    # Eight nodes in one board-sized heap: every table at the size a broadcast needs.
    cfg.update({"dedup_capacity": 32, "max_peers": 6, "events_max": 8, "tx_queue_max": 12,
                "max_routes": 4, "route_paths": 1, "msg_dedup": 8, "hold_max": 1,
                "origin_slots": 4, "pending_relays": 2, "hop_pending": 2,
                "replay_senders": 8, "flood_repair": 2})
    n = 8
    m = Mesh(n, links, config=cfg)
    m.run(4000)
    for k in range(8):
        m.events = [[] for _ in range(n)]  # a board-sized heap keeps no history
        before = [m.nodes[i].stats()["relayed"] for i in range(4)]
        m.nodes[0].send_message(None, b"m%d" % k, m.now)
        m.run(400)
        for i in range(1, n):
            assert m.delivered(i, b"m%d" % k) == 1, (k, i)
        relayed = [m.nodes[i].stats()["relayed"] - before[i] for i in range(4)]
        assert relayed == [0, 0, 1, 1], (k, relayed)


def _coverage(z_lists_y: bool) -> "tuple[Coverage, int]":
    # Our peer slots: 0 the origin, 1 and 2 relays that (like the origin)
    # hear each other's side of us but not Z (3) or Y (4); Z and Y hear each
    # other, or (z_lists_y False) Y hears only us: a bridge.
    c = Coverage(8, 4, 2)
    c.neighbours(0, 0b00110, True, False, 4)
    c.neighbours(1, 0b00001, True, False, 4)
    c.neighbours(2, 0b00001, True, False, 4)
    c.neighbours(3, 0b10000 if z_lists_y else 0, True, False, 3)
    c.neighbours(4, 0b01000 if z_lists_y else 0, True, False, 2 if z_lists_y else 1)
    used = bytearray(b"\x01" * 5 + b"\x00" * 3)
    return c, c.targets(used, bytearray(8))  # links losing nothing


def test_copies_from_three_peers_cancel_a_broadcast_relay_unless_a_bridge_waits() -> None:
    pid = b"pidpidpi"
    # Y and Z each have a neighbour of their own besides us: after copies
    # from three peers, the relays we did not hear most likely reached them.
    c, tg = _coverage(True)
    assert c.first(pid, 0, tg, 40, 0, 0, True) == 40  # two targets only we would reach
    assert c.heard_copy(pid, 1, tg, 40, 10) == 0
    assert c.heard_copy(pid, 2, tg, 40, 20) == -1
    # Y hears only us: nobody else can reach it, so we still relay.
    c, tg = _coverage(False)
    assert c.first(pid, 0, tg, 40, 0, 0, True) == 40
    assert c.heard_copy(pid, 1, tg, 40, 10) == 0
    assert c.heard_copy(pid, 2, tg, 40, 20) == 0
    assert len(c.pending) == 1
    # A unicast's discovery flood keeps to coverage: copies do not count.
    c, tg = _coverage(True)
    assert c.first(pid, 0, tg, 40, 0, 0, False) == 40
    assert c.heard_copy(pid, 1, tg, 40, 10) == 0
    assert c.heard_copy(pid, 2, tg, 40, 20) == 0
    assert len(c.pending) == 1
