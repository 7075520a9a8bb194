"""bitmesh router, unicast: one-way links, repair, TTL, staleness, store-and-forward.

Dual-runtime (CPython and MicroPython), driven only through the node's public
API via tests/core/harness.Mesh.
"""

from bitmesh_core.compat import MICROPYTHON
from core.harness import ROUTING_FAST, ROUTING_SMALL, Mesh, line, router_stats

SMALL = ROUTING_SMALL
FAST = ROUTING_FAST


def test_one_way_links_route_both_directions() -> None:
    # 0 -> 1 -> 3 works only that way; 3 -> 2 -> 0 only that way.
    links = [(0, 1), (1, 3, 0.0, True), (3, 2, 0.0, True), (2, 0)]
    m = Mesh(4, links, config=FAST)
    m.run(4000)
    for k in range(6):
        m.nodes[0].send_message(m.id(3), b"fwd%d" % k, m.now)
        m.run(400)
        m.nodes[3].send_message(m.id(0), b"back%d" % k, m.now)
        m.run(400)
    m.run(1000)
    for k in range(6):
        assert m.delivered(3, b"fwd%d" % k) == 1, k
        assert m.delivered(0, b"back%d" % k) == 1, k
    # After discovery both directions are source-routed, not flooded.
    assert router_stats(m, 0)["sent_routed"] >= 4
    assert router_stats(m, 3)["sent_routed"] >= 3
    assert router_stats(m, 1)["src_relays"] >= 4 and router_stats(m, 2)["src_relays"] >= 2


def test_relay_dies_and_route_is_repaired_within_three_heartbeats() -> None:
    # Two disjoint two-hop paths 0-1-4 and 0-2-3-4.
    links = [(0, 1), (1, 4), (0, 2), (2, 3), (3, 4)]
    m = Mesh(5, links, config=FAST)
    m.run(4000)
    for k in range(4):
        m.nodes[0].send_message(m.id(4), b"pre%d" % k, m.now)
        m.run(300)
    assert m.delivered(4, b"pre3") == 1
    assert router_stats(m, 1)["src_relays"] >= 2  # the short path through 1 was in use
    m.kill(1)
    t_kill = m.now
    k = 0
    while m.delivered(4, b"post%d" % (k - 1)) == 0 if k else True:
        m.nodes[0].send_message(m.id(4), b"post%d" % k, m.now)
        m.run(250)
        k += 1
        assert m.now - t_kill <= 3 * 1000, "not repaired within 3 heartbeats"
    m.run(1000)
    for j in range(k):
        assert m.delivered(4, b"post%d" % j) <= 1  # never delivered twice


def test_sixteen_hops_work_and_ttl_expires() -> None:
    # 16 hops on CPython; the board-sized heap holds a 6-node line (5 hops).
    hops = 5 if MICROPYTHON else 16
    cfg = dict(SMALL)
    cfg.update({"router": "bitmesh", "ttl": hops, "heartbeat_ms": 1000})
    m = Mesh(hops + 1, line(hops + 1), config=cfg)
    m.run(3000)
    m.nodes[0].send_message(None, b"far", m.now)
    m.nodes[0].send_message(m.id(hops), b"uni", m.now)
    m.run(2000)
    assert m.delivered(hops, b"far") == 1
    assert m.delivered(hops, b"uni") == 1
    del m
    cfg["ttl"] = 3
    m2 = Mesh(5, line(5), config=cfg)
    m2.run(3000)
    m2.nodes[0].send_message(None, b"near", m2.now)
    m2.run(1500)
    assert m2.delivered(3, b"near") == 1
    assert m2.delivered(4, b"near") == 0
    assert m2.nodes[3].stats()["drops"].get("ttl", 0) >= 1  # type: ignore[attr-defined]


def test_route_goes_stale_and_is_rediscovered() -> None:
    cfg = dict(FAST)
    cfg["route_stale_ms"] = 4000
    m = Mesh(4, line(4), config=cfg)
    m.run(3000)
    m.nodes[0].send_message(m.id(3), b"a", m.now)
    m.run(500)
    m.nodes[0].send_message(m.id(3), b"b", m.now)
    m.run(500)
    assert router_stats(m, 0)["sent_flooded"] == 1 and router_stats(m, 0)["sent_routed"] == 1
    m.run(6000)  # no traffic: the 3-hop route ages past route_stale_ms
    m.nodes[0].send_message(m.id(3), b"c", m.now)
    m.run(500)
    assert router_stats(m, 0)["sent_flooded"] == 2
    assert m.delivered(3, b"c") == 1
    m.nodes[0].send_message(m.id(3), b"d", m.now)
    m.run(500)
    assert router_stats(m, 0)["sent_routed"] == 2 and m.delivered(3, b"d") == 1


def test_a_resent_message_whose_first_ack_was_lost_is_acked_once() -> None:
    # The first copy reaches 2, but 2's route reply and ack die on the way
    # back; the origin repeats the message. 2 drops the second copy (same
    # message id) yet acks it, so the origin learns of the delivery once.
    m = Mesh(3, line(3), config=FAST)
    m.run(3000)
    # One way, past 2's retries but within its peer timeout (3 s) and before
    # the origin's blind repeat (40 hop_ack_ms): 2's answers are all lost.
    m.blocked.add((2, 1))
    mid = m.nodes[0].send_message(m.id(2), b"once", m.now, ack=True)
    m.run(2200)
    assert m.delivered(2, b"once") == 1 and not m.kinds(0, "acked")
    m.unblock_all()
    m.run(4000)
    assert m.delivered(2, b"once") == 1
    assert router_stats(m, 0)["blind"] == 1  # the repeat
    assert m.nodes[2].stats()["drops"].get("dup_msg", 0) >= 1  # type: ignore[attr-defined]
    assert [e.msg_id for e in m.kinds(0, "acked")] == [mid]
    assert m.nodes[0].stats()["tables"]["pending_acks"] == 0  # type: ignore[index]


def test_store_and_forward_for_a_briefly_unreachable_destination() -> None:
    m = Mesh(3, line(3), config=FAST)
    m.run(3000)
    m.block(1, 2)
    m.run(5000)  # peer timeout passes: 1 reports 2 lost
    lost = m.kinds(1, "partition")
    assert lost and m.id(2) in lost[0].lost
    m.nodes[1].send_message(m.id(2), b"later", m.now)
    m.run(500)
    assert m.delivered(2, b"later") == 0
    assert router_stats(m, 1)["hold"] == 1
    m.unblock_all()
    m.run(3000)
    assert m.delivered(2, b"later") == 1
    assert router_stats(m, 1)["hold"] == 0
    healed = m.kinds(1, "healed")
    assert healed and m.id(2) in healed[0].back


def test_a_held_message_gets_one_last_flood_when_its_hold_ends() -> None:
    # 0 - 1 - 2 - 3: 3 is cut off while 0 floods to it, then comes back; it
    # never sends 0 a frame (nothing would release the held message), so the
    # flood 0 sends when the hold ends is what delivers it.
    cfg = dict(FAST)
    cfg["hold_ms"] = 4000
    m = Mesh(4, line(4), config=cfg)
    m.run(3000)
    m.block(2, 3)
    m.nodes[0].send_message(m.id(3), b"edge", m.now)
    m.run(5500)  # the flood and its blind repeat get no reply: held
    assert router_stats(m, 0)["hold"] == 1 and router_stats(m, 0)["blind"] == 1
    m.unblock_all()
    m.run(2500)
    assert m.delivered(3, b"edge") == 0  # still held
    m.run(2500)
    assert m.delivered(3, b"edge") == 1
    assert router_stats(m, 0)["resent"] == 1
    assert not m.kinds(0, "send_failed")


def test_route_list_shows_learned_routes_for_status() -> None:
    m = Mesh(4, line(4), config=FAST)
    m.run(3000)
    m.nodes[0].send_message(m.id(3), b"r", m.now)
    m.run(800)
    routes = m.nodes[0].router.route_list(m.now)  # type: ignore[attr-defined]
    by_dst = {r["dst"]: r for r in routes}
    far = by_dst[m.id(3).hex()]
    assert far["hops"] == 3 and far["next_hop"] == m.id(1)[:4].hex(), far
    assert by_dst[m.id(1).hex()]["hops"] == 1


def test_a_link_ack_speaks_only_for_the_neighbour_that_sent_it() -> None:
    # On the line 0-1-2-3 relay 2 waits for 3's passive ack. A link ack that
    # 1 sends to 0 for the same frame (0 missed 1's relay) must not end 2's
    # wait: 3 missed 2's first copies and only 2's later retry reaches it.
    m = Mesh(4, line(4), config=FAST)
    m.run(3000)
    m.nodes[0].send_message(m.id(3), b"warm", m.now)
    m.run(800)
    assert m.delivered(3, b"warm") == 1
    sent_routed = router_stats(m, 0)["sent_routed"]
    m.blocked.add((1, 0))  # one way: 0 misses 1's relay and retries
    m.blocked.add((2, 3))  # one way: 3 misses 2's relay and first retry
    m.nodes[0].send_message(m.id(3), b"once", m.now)
    m.run(100)
    assert router_stats(m, 0)["sent_routed"] == sent_routed + 1  # source-routed
    m.unblock_all()
    m.run(1500)
    assert m.delivered(3, b"once") == 1
    assert router_stats(m, 2)["hop_retries"] >= 2


def test_a_first_hop_that_stops_hearing_us_is_not_used() -> None:
    # Two two-hop paths, 0-1-2 and 0-3-2. Then the first hop in use stops
    # hearing 0 while 0 still hears it: once its heartbeats leave 0 out, a
    # frame sent that way could be neither acked nor reported, so 0 must
    # take the other path (or flood), not send and forget.
    m = Mesh(4, [(0, 1), (1, 2), (0, 3), (3, 2)], config=FAST)
    m.run(4000)
    for k in range(3):
        m.nodes[0].send_message(m.id(2), b"a%d" % k, m.now)
        m.run(300)
    hop = 1 if router_stats(m, 1)["src_relays"] >= router_stats(m, 3)["src_relays"] else 3
    m.blocked.add((0, hop))  # one direction only
    m.run(5000)  # the hop times 0 out; its next heartbeat no longer lists 0
    for k in range(6):
        m.nodes[0].send_message(m.id(2), b"b%d" % k, m.now)
        m.run(300)
    m.run(1000)
    for k in range(6):
        assert m.delivered(2, b"b%d" % k) == 1, k


def _relayed(m: Mesh, i: int) -> int:
    return m.nodes[i].stats()["relayed"]  # type: ignore[return-value]


def test_a_discovery_flood_goes_only_a_few_hops_past_the_known_distance() -> None:
    # A line 0-1-...-5. Node 0 broadcasts, so every node knows how far it is;
    # then 2 sends to 0 with no route yet. With flood_scope 1 its discovery
    # flood carries TTL 2 + 1 = 3: node 4 has it with 2 hops left, 4 away from
    # node 0 (more than one hop beyond), and does not pass it on, so 5 never
    # gets it. With flood_scope 0 (full TTL) node 4 relays it to the end.
    for scope in (1, 0):
        cfg = dict(FAST)
        cfg["flood_scope"] = scope
        m = Mesh(6, line(6), config=cfg)
        m.run(3000)
        m.nodes[0].send_message(None, b"here", m.now)
        m.run(1500)
        assert m.delivered(5, b"here") == 1
        before = [_relayed(m, i) for i in range(6)]
        m.nodes[2].send_message(m.id(0), b"find", m.now)
        m.run(1500)
        assert m.delivered(0, b"find") == 1
        assert router_stats(m, 2)["sent_flooded"] == 1
        assert router_stats(m, 4)["out_of_scope"] == (1 if scope else 0)
        assert (_relayed(m, 4) == before[4]) == (scope > 0)
        del m
