"""bitmesh router: the copies nobody else can cover, and relays that left.

Dual-runtime (CPython and MicroPython), driven only through the node's public
API via tests/core/harness.Mesh.
"""

from bitmesh_core.packet import T_BROADCAST
from core.harness import ROUTING_FAST, Mesh, grid, router_stats
from core.test_routing_resilience import king_grid

FAST = ROUTING_FAST


def test_origin_repeats_a_broadcast_no_neighbour_echoed() -> None:
    # Node 1 of a 2 x 3 king grid hears 5 neighbours (dense), so relays
    # cover each other's losses; but when the origin's own first copy reaches
    # none of them, only the origin can send it again.
    m = Mesh(6, king_grid(2, 3), config=FAST)
    m.run(4000)
    for j in range(6):
        if j != 1:
            m.block(1, j)
    m.nodes[1].send_message(None, b"lost-first", m.now)
    m.step()  # the first copy goes out into the blocked links
    m.unblock_all()
    m.run(1500)
    assert router_stats(m, 1)["flood_retries"] >= 1
    for j in range(6):
        if j != 1:
            assert m.delivered(j, b"lost-first") == 1, j


def test_relay_repeats_a_flood_copy_over_the_only_bridge() -> None:
    # Nodes 0-3 all hear each other (dense); 3 is the only way to 4 and 5,
    # over a link losing 40% each way. The other three do not reach 4, so no
    # other copy covers a loss there: 3 waits for 4's relay and repeats its
    # copy until it hears it.
    links = king_grid(2, 2) + [(3, 4, 0.4), (4, 5)]
    m = Mesh(6, links, config=FAST, seed=2)
    m.run(6000)
    got = 0
    for k in range(20):
        m.nodes[0].send_message(None, b"b%d" % k, m.now)
        m.run(400)
        got += len(m.kinds(5, "delivered"))
        m.events = [[] for _ in range(6)]  # a board-sized heap keeps no history
    m.run(1000)
    got += len(m.kinds(5, "delivered"))
    assert router_stats(m, 3)["flood_retries"] >= 2
    assert got >= 16, got  # 9 to 14 of 20 without the repeats (seeds 1-5)


def test_relay_reports_a_next_hop_that_left() -> None:
    # 0-1-2-3 is the short path and 0-4-5-6-3 the long one. Relay 2 dies; its
    # neighbour 1 notices at its peer timeout, but origin 0 still holds the
    # route through 2. Relay 1 answers the next frame on it with a route
    # error instead of sending it into the void, and 0 re-sends the message.
    links = [(0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (6, 3)]
    # Seven nodes on one board-sized heap: tables sized for two neighbours.
    m = Mesh(7, links, config=dict(FAST, max_peers=4, dedup_capacity=32, tx_queue_max=12))
    m.run(4000)
    m.events = [[] for _ in range(7)]  # a board-sized heap keeps no history
    for k in range(3):
        m.nodes[0].send_message(m.id(3), b"pre%d" % k, m.now)
        m.run(600)
    assert len(m.kinds(3, "delivered")) == 3
    assert router_stats(m, 2)["src_relays"] >= 1  # the short path was in use
    m.events = [[] for _ in range(7)]  # room on a board-sized heap
    m.kill(2)
    m.run(4500)  # relay 1's peer timeout (3 s) and its sweep
    assert m.kinds(1, "peer_lost")
    m.events = [[] for _ in range(7)]
    mid = m.nodes[0].send_message(m.id(3), b"after", m.now, ack=True)
    m.run(3000)
    assert router_stats(m, 1)["route_errors"] >= 1
    assert m.delivered(3, b"after") == 1
    # The re-sent copy is a new frame, but the application sees one message:
    # delivered and acked under the id send_message returned.
    assert [e.msg_id for e in m.kinds(3, "delivered")] == [mid]
    assert [e.msg_id for e in m.kinds(0, "acked")] == [mid]


def _drop_from(m: Mesh, i: int, j: int, ptype: int) -> None:
    """Frames of type ``ptype`` that node ``i`` sends no longer reach ``j``
    (its other frames, heartbeats included, still do)."""
    send = m.transmit

    def transmit(k: int, iface: int, a: "bytes | None", frame: "bytes | bytearray") -> None:
        cut = k == i and frame[1] == ptype and (i, j) not in m.blocked
        if cut:
            m.blocked.add((i, j))
        send(k, iface, a, frame)
        if cut:
            m.blocked.discard((i, j))

    m.transmit = transmit  # type: ignore[method-assign]


def test_a_relay_repeats_once_to_a_neighbour_others_reach() -> None:
    # A 2 x 3 grid (0 1 2 over 3 4 5), no loss. Node 1 relays node 0's
    # broadcast to 2 and 4 and never hears 4's relay. 4 has neighbours of
    # its own (3 and 5) on clean links, so its relay was most likely lost on
    # the way back: one repeat, not the three a link in a chain or behind a
    # lossy link gets.
    m = Mesh(6, grid(2, 3), config=dict(FAST, max_peers=4, dedup_capacity=32, tx_queue_max=12))
    m.run(4000)
    _drop_from(m, 4, 1, T_BROADCAST)
    m.nodes[0].send_message(None, b"grid", m.now)
    m.run(1500)
    for j in range(1, 6):
        assert m.delivered(j, b"grid") == 1, j
    assert router_stats(m, 1)["flood_retries"] == 1


def test_a_second_disjoint_path_carries_the_resend_when_a_relay_dies() -> None:
    # Two disjoint paths 0-1-4 and 0-2-3-4. The discovery flood reaches 4 by
    # both; 4 replies to the first copy and once more to the copy that came
    # by relays the first path does not use, so 0 holds both. When 1 dies the
    # message goes again along 2-3 at once: no new discovery flood.
    links = [(0, 1), (1, 4), (0, 2), (2, 3), (3, 4)]
    m = Mesh(5, links, config=FAST)
    m.run(4000)
    m.nodes[0].send_message(m.id(4), b"first", m.now)
    m.run(1000)
    assert m.delivered(4, b"first") == 1
    assert router_stats(m, 4)["route_replies2"] == 1
    routes = m.nodes[0].router.route_list(m.now)  # type: ignore[attr-defined]
    assert [r["paths"] for r in routes if r["dst"] == m.id(4).hex()] == [2]
    m.kill(1)
    floods = router_stats(m, 0)["sent_flooded"]
    m.nodes[0].send_message(m.id(4), b"after", m.now)
    m.run(1500)
    assert m.delivered(4, b"after") == 1
    assert router_stats(m, 0)["sent_flooded"] == floods  # re-sent on the second path
    assert router_stats(m, 0)["resent"] >= 1
