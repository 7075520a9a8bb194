"""The simulator's medium and engine behave as FORMAT.md specifies."""

from __future__ import annotations

from typing import Any

import pytest

from bitmesh.sim.engine import Engine
from bitmesh.sim.medium import Medium
from bitmesh.sim.reference import etx_from
from bitmesh.sim.scenario import parse_scenario

pytestmark = pytest.mark.sim


def scenario(**kw: Any) -> Any:
    data: dict[str, Any] = {"format": 1, "name": "t", "seed": 3, "duration_s": 30}
    data.update(kw)
    return parse_scenario(data, "<test>")


def explicit(n: int, links: list[Any], spacing: float = 50.0) -> dict[str, Any]:
    return {"kind": "explicit", "links": links,
            "nodes": [{"id": f"n{i}", "x": i * spacing, "y": 0} for i in range(n)]}


def test_lossless_grid_flood_each_node_sends_each_broadcast_once() -> None:
    sc = scenario(
        radio={"range_m": 100},
        topology={"kind": "grid", "rows": 5, "cols": 6, "spacing_m": 100},
        node_defaults={"ttl": 16},
        traffic=[{"kind": "broadcast", "count": 3, "size": 40, "start_s": 10,
                  "interval_s": 5, "from": "n0"},
                 {"kind": "broadcast", "count": 2, "size": 200, "start_s": 12,
                  "interval_s": 5, "from": "random"}])
    e = Engine(sc, "flood")
    res = e.run()
    msgs = e.col.msgs
    assert len(msgs) == 5
    for m in msgs:
        frames = 1 if m.t_us % 5_000_000 == 0 else 2  # 200 bytes: two fragments
        assert m.tx == 30 * frames
        assert m.delivered == set(range(30)) - {m.origin}
        assert m.reach == set(range(30)) - {m.origin}
    assert res["broadcast"]["delivery_ratio"] == 1.0
    assert res["per_node"]["msg_tx"] == [3 + 2 * 2] * 30
    assert res["reference"]["cds_greedy"] is not None


def test_partition_blocks_exactly_the_cross_group_links() -> None:
    sc = scenario(radio={"range_m": 100},
                  topology={"kind": "grid", "rows": 3, "cols": 4, "spacing_m": 100})
    med = Medium(sc)
    before = {(i, j) for i in range(med.n) for j, _t, _r in med.nbrs[i]}
    groups = [[0, 1, 4, 5], [2, 3, 6, 7]]  # row 2 (nodes 8..11) is in no group
    med.partition(groups)
    after = {(i, j) for i in range(med.n) for j, _t, _r in med.nbrs[i]}
    g = {i: k for k, grp in enumerate(groups) for i in grp}
    cross = {(i, j) for i, j in before if i in g and j in g and g[i] != g[j]}
    assert cross == {(1, 2), (2, 1), (5, 6), (6, 5)}
    assert after == before - cross
    med.heal()
    assert {(i, j) for i in range(med.n) for j, _t, _r in med.nbrs[i]} == before


def test_partition_event_stops_broadcasts_crossing() -> None:
    sc = scenario(
        radio={"range_m": 60}, topology=explicit(4, [["n0", "n1"], ["n1", "n2"], ["n2", "n3"]]),
        traffic=[{"kind": "broadcast", "count": 2, "size": 20, "start_s": 5,
                  "interval_s": 10, "from": "n0"}],
        events=[{"at_s": 10, "action": "partition", "groups": [["n0", "n1"], ["n2", "n3"]]},
                {"at_s": 20, "action": "heal"}])
    e = Engine(sc, "flood")
    e.run()
    first, second = e.col.msgs
    assert first.delivered == {1, 2, 3}
    assert second.delivered == {1} and second.reach == {1}


def test_oneway_link_carries_one_direction_only() -> None:
    sc = scenario(topology=explicit(2, [["n0", "n1", {"oneway": True}]]),
                  traffic=[{"kind": "broadcast", "count": 2, "size": 20, "start_s": 5,
                            "interval_s": 1, "from": "n0"},
                           {"kind": "broadcast", "count": 2, "size": 20, "start_s": 8,
                            "interval_s": 1, "from": "n1"}])
    med = Medium(sc)
    assert [j for j, _t, _r in med.nbrs[0]] == [1]
    assert med.nbrs[1] == []
    e = Engine(sc, "flood")
    res = e.run()
    assert [m.delivered for m in e.col.msgs] == [{1}, {1}, set(), set()]
    # n1 -> n0 does not exist, so n1's broadcasts have no reachable pair
    assert res["broadcast"]["reachable_pairs"] == 2
    assert res["broadcast"]["delivery_ratio"] == 1.0


def test_link_loss_one_drops_everything_and_set_loss_applies_later() -> None:
    sc = scenario(topology=explicit(3, [["n0", "n1", {"loss": 1.0}], ["n0", "n2"]]),
                  traffic=[{"kind": "broadcast", "count": 2, "size": 20, "start_s": 5,
                            "interval_s": 10, "from": "n0"}],
                  events=[{"at_s": 10, "action": "set_loss", "loss": 1.0}])
    e = Engine(sc, "flood")
    e.run()
    a, b = e.col.msgs
    assert a.delivered == {2}  # the link's own loss wins over radio.loss
    assert b.delivered == set()  # set_loss reaches links without their own loss


def test_collisions_hide_simultaneous_frames_from_a_middle_node() -> None:
    traffic = [{"kind": "broadcast", "count": 1, "size": 20, "start_s": 7.0005, "from": "n0"},
               {"kind": "broadcast", "count": 1, "size": 20, "start_s": 7.0005, "from": "n2"}]
    # hidden terminals: n0 and n2 both reach n1 but not each other
    for collisions, expect in ((False, {1}), (True, set())):
        sc = scenario(radio={"range_m": 60, "collisions": collisions},
                      topology={"kind": "line", "count": 3, "spacing_m": 50},
                      node_defaults={"ttl": 1}, traffic=traffic)
        e = Engine(sc, "flood")
        res = e.run()
        assert [m.delivered for m in e.col.msgs] == [expect, expect]
        assert (res["drops"].get("collision", 0) >= 2) == collisions


def test_carrier_sense_defers_a_frame_while_another_is_on_the_air() -> None:
    # n2 hears n0's frame begin 0.3 ms earlier, waits for it to end and backs
    # off: with collisions modelled, neighbours that hear each other take turns.
    traffic = [{"kind": "broadcast", "count": 1, "size": 20, "start_s": 7.0005, "from": "n0"},
               {"kind": "broadcast", "count": 1, "size": 20, "start_s": 7.0008, "from": "n2"}]
    sc = scenario(radio={"range_m": 60, "collisions": True},
                  topology={"kind": "line", "count": 3, "spacing_m": 25},
                  node_defaults={"ttl": 1}, traffic=traffic)
    e = Engine(sc, "flood")
    res = e.run()
    assert [m.delivered for m in e.col.msgs] == [{1, 2}, {0, 1}]
    assert res["airtime"]["carrier_deferrals"] >= 1
    assert "collision" not in res["drops"]


def test_kill_and_revive() -> None:
    sc = scenario(radio={"range_m": 60}, topology={"kind": "line", "count": 3, "spacing_m": 50},
                  traffic=[{"kind": "broadcast", "count": 3, "size": 20, "start_s": 5,
                            "interval_s": 10, "from": "n0"}],
                  events=[{"at_s": 10, "action": "kill", "nodes": ["n1"]},
                          {"at_s": 20, "action": "revive", "nodes": ["n1"]}])
    e = Engine(sc, "flood")
    res = e.run()
    m1, m2, m3 = e.col.msgs
    assert m1.delivered == {1, 2}
    assert m2.delivered == set() and m2.reach == set()  # n1 dead: nothing reachable
    assert m3.delivered == {1, 2}
    assert res["broadcast"]["reachable_pairs"] == 4
    assert res["broadcast"]["delivery_ratio"] == 1.0


def test_known_route_floor_counts_passive_relay_acks_and_the_last_hop_ack() -> None:
    """reference.etx_from: a relay hop costs 1/(pf*pr), the last hop (1+pf)/(pf*pr)
    because the destination answers every copy with an ack frame."""
    nbrs = [[(1, 0, 0)], [(0, 0, 0), (2, 0, 0)], [(1, 0, 0)]]  # the line n0 - n1 - n2
    loss = {(0, 1): 0.1, (1, 0): 0.1, (1, 2): 0.1, (2, 1): 0.5}
    got = etx_from(nbrs, loss, [True] * 3, 0)
    assert set(got) == {1, 2}
    assert got[1] == pytest.approx(1.9 / 0.81)  # one hop at 10% loss: 2.35, above 2x
    assert got[2] == pytest.approx(1 / 0.81 + 1.9 / 0.45)
    assert 2 not in etx_from(nbrs, loss, [True, True, False], 0)
    assert etx_from(nbrs, loss, [True, False, True], 0) == {}
