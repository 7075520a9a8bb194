"""Whole runs: determinism, reachable-only accounting, routers, rogue nodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bitmesh.sim.engine import Engine, run_scenario
from bitmesh.sim.report import notes, table
from bitmesh.sim.scenario import load_scenario, parse_scenario
from bitmesh_core.events import PartitionSuspected

pytestmark = pytest.mark.sim

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def scenario(**kw: Any) -> Any:
    data: dict[str, Any] = {"format": 1, "name": "t", "seed": 3, "duration_s": 30}
    data.update(kw)
    return parse_scenario(data, "<test>")


def strip(res: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in res.items() if k != "wall_s"}


@pytest.mark.parametrize("router", ["flood", "managed"])
def test_same_seed_same_metrics(router: str) -> None:
    sc = load_scenario(SCENARIOS / "partition-heal.json")
    a = run_scenario(sc, router, duration_s=150)
    b = run_scenario(load_scenario(SCENARIOS / "partition-heal.json"), router, duration_s=150)
    assert strip(a) == strip(b)
    assert a["unicast"]["sent"] > 0


def test_other_seed_other_placement() -> None:
    a = load_scenario(SCENARIOS / "random-200.json")
    b = load_scenario(SCENARIOS / "random-200.json", seed=12)
    assert [(n.x, n.y) for n in a.nodes] != [(n.x, n.y) for n in b.nodes]
    assert b.seed == 12


def test_routers_see_the_same_traffic() -> None:
    sc = load_scenario(SCENARIOS / "line-8.json")
    runs = [Engine(sc, r) for r in ("flood", "managed")]
    for e in runs:
        e.end_us = 60_000_000
        e.run()
    a, b = ([(m.kind, m.origin, m.dst, m.t_us) for m in e.col.msgs] for e in runs)
    assert a == b and a


def test_nodes_count_airtime_at_the_scenario_bitrate() -> None:
    line = {"kind": "line", "count": 3, "spacing_m": 50}
    slow = Engine(scenario(radio={"bitrate_bps": 250_000}, topology=line), "flood")
    assert {c.bitrate_bps for c in slow.configs} == {250_000}
    own = Engine(scenario(radio={"bitrate_bps": 250_000}, topology=line,
                          node_defaults={"bitrate_bps": 2_000_000}), "flood")
    assert {c.bitrate_bps for c in own.configs} == {2_000_000}


def test_more_neighbours_than_peer_slots_does_not_storm() -> None:
    # 40 nodes that all hear each other, 8 peer slots each: most neighbours
    # are strangers whose copies go unheard (a shared rate limit). A relay
    # must not take that silence for a missed bridge and repeat its copy.
    sc = scenario(radio={"range_m": 500, "loss": 0.1}, duration_s=60,
                  topology={"kind": "random_geometric", "count": 40,
                            "width_m": 200, "height_m": 200},
                  node_defaults={"max_peers": 8},
                  traffic=[{"kind": "broadcast", "count": 10, "size": 40, "start_s": 20,
                            "interval_s": 3, "from": "random"}])
    res = run_scenario(sc, "bitmesh")
    assert res["broadcast"]["delivery_ratio"] == 1.0
    assert res["broadcast"]["tx_per_message"] <= 0.5 * 40


def test_a_dense_mesh_with_collisions_keeps_the_broadcast_targets() -> None:
    """80 nodes of about 20 neighbours, 10% loss, collisions and carrier sense:
    relays suppressed by what they hear still reach everyone, at under half
    of blind flooding's transmissions."""
    sc = load_scenario(SCENARIOS / "routing-collisions-80.json")
    flood, ours = (run_scenario(sc, r, duration_s=100) for r in ("flood", "bitmesh"))
    assert ours["drops"].get("collision", 0) > 0 and ours["airtime"]["carrier_deferrals"] > 0
    assert ours["broadcast"]["delivery_ratio"] >= 0.99
    assert ours["broadcast"]["tx_per_message"] <= 0.5 * flood["broadcast"]["tx_per_message"]
    assert ours["unicast"]["delivery_ratio"] >= max(0.99, flood["unicast"]["delivery_ratio"])


def test_a_dead_ends_link_ack_counts_with_its_broadcast() -> None:
    # n0 - n1 - n2 with two hops of TTL: n2 gets the relay with none left,
    # so it acks it instead of relaying. Origin, relay and ack: 3 frames.
    sc = scenario(topology={"kind": "line", "count": 3, "spacing_m": 80},
                  node_defaults={"ttl": 2},
                  traffic=[{"kind": "broadcast", "count": 1, "size": 40, "start_s": 20,
                            "from": "n0"}])
    res = run_scenario(sc, "bitmesh")
    assert res["broadcast"]["delivery_ratio"] == 1.0
    assert res["broadcast"]["tx_per_message"] == 3


def test_routes_come_back_after_relays_on_them_die() -> None:
    # Two long pairs across a 6 x 6 grid; four relays in the middle die. The
    # destinations' stored ways back run through them, out of their sight,
    # and a lost route reply is reported by nobody: the reply must follow the
    # flood that just arrived, or every later message floods as well.
    sc = scenario(seed=17, duration_s=150, radio={"range_m": 110, "loss": 0.1},
                  topology={"kind": "grid", "rows": 6, "cols": 6, "spacing_m": 100},
                  traffic=[{"kind": "unicast", "count": 120, "size": 60, "start_s": 20,
                            "interval_s": 1, "pairs": [["n0", "n35"], ["n5", "n30"]]}],
                  events=[{"at_s": 60, "action": "kill", "nodes": ["n14", "n21", "n15", "n20"]}])
    u = run_scenario(sc, "bitmesh")["unicast"]
    assert u["delivery_ratio"] == 1.0
    assert u["known_route_sent"] >= 0.9 * u["sent"]  # was 79 of 120


def test_delivery_counts_only_reachable_pairs() -> None:
    # two islands: {n0, n1} and {n2, n3}
    sc = scenario(radio={"range_m": 60},
                  topology={"kind": "explicit", "nodes": [
                      {"id": "n0", "x": 0, "y": 0}, {"id": "n1", "x": 50, "y": 0},
                      {"id": "n2", "x": 500, "y": 0}, {"id": "n3", "x": 550, "y": 0}]},
                  traffic=[{"kind": "broadcast", "count": 2, "size": 20, "start_s": 5,
                            "interval_s": 1, "from": "n0"},
                           {"kind": "unicast", "count": 4, "size": 20, "start_s": 5,
                            "interval_s": 1, "pairs": [["n0", "n1"], ["n0", "n3"]]}])
    res = run_scenario(sc, "flood")
    assert res["broadcast"]["reachable_pairs"] == 2
    assert res["broadcast"]["delivery_ratio"] == 1.0
    assert res["unicast"]["sent"] == 2
    assert res["unicast"]["unreachable"] == 2
    assert res["unicast"]["delivery_ratio"] == 1.0
    assert res["unicast"]["optimal_hops_mean"] == 1.0
    assert any("unreachable" in n for n in notes([res]))


def test_all_unreachable_and_empty_plans_explain_themselves() -> None:
    sc = scenario(topology={"kind": "line", "count": 2, "spacing_m": 500},
                  traffic=[{"kind": "unicast", "count": 3, "size": 20, "start_s": 5,
                            "pairs": [["n0", "n1"]]}])
    res = run_scenario(sc, "flood")
    assert res["unicast"]["sent"] == 0 and res["unicast"]["delivery_ratio"] is None
    assert any("none of the 3 unicast" in n for n in notes([res]))
    empty = run_scenario(scenario(topology={"kind": "line", "count": 2, "spacing_m": 50}),
                         "flood")
    assert empty["broadcast"]["delivery_ratio"] is None
    assert empty["control"]["tx"] > 0  # heartbeats still flow
    assert any("no messages" in n for n in notes([empty]))
    table([empty])  # renders with '-' cells, no exception


def test_managed_cancels_redundant_relays_in_a_clique() -> None:
    sc = scenario(radio={"range_m": 500},
                  topology={"kind": "grid", "rows": 3, "cols": 3, "spacing_m": 20},
                  traffic=[{"kind": "broadcast", "count": 5, "size": 30, "start_s": 10,
                            "interval_s": 2, "from": "n4"}])
    flood, managed = (Engine(sc, r) for r in ("flood", "managed"))
    rf, rm = flood.run(), managed.run()
    assert rf["broadcast"]["tx_per_message"] == 9.0
    assert rm["broadcast"]["tx_per_message"] < 3.0  # usually 2: origin + first relay
    assert rm["broadcast"]["delivery_ratio"] == 1.0
    cancelled = sum(int(str(nd.router.stats().get("cancelled", 0)))
                    for nd in managed.nodes if nd is not None)
    assert cancelled >= 5 * 6  # every node but the origin and first relays withdrew


def test_managed_unicast_is_acked_end_to_end() -> None:
    sc = scenario(radio={"range_m": 60}, topology={"kind": "line", "count": 5, "spacing_m": 50},
                  traffic=[{"kind": "unicast", "count": 5, "size": 30, "start_s": 10,
                            "interval_s": 2, "pairs": [["n0", "n4"]]}])
    e = Engine(sc, "managed")
    res = e.run()
    assert res["unicast"]["delivery_ratio"] == 1.0
    assert res["unicast"]["hops_mean"] == 4.0
    # on a line each message costs 4 data transmissions and 4 ack transmissions
    # (the recipient does not relay its own frame; the last relay is n3 or n1)
    assert res["unicast"]["tx_per_message"] == 8.0
    origin = e.nodes[0]
    assert origin is not None and origin.router.stats()["acked"] == 5


def test_rogue_frames_without_the_key_are_dropped_not_relayed() -> None:
    base: dict[str, Any] = {"radio": {"range_m": 60},
                            "topology": {"kind": "line", "count": 3, "spacing_m": 50}}
    ev = {"at_s": 5, "action": "rogue", "nodes": ["n0"], "rate_per_s": 10, "until_s": 9.95}
    res = run_scenario(scenario(events=[ev], **base), "flood")
    assert res["rogue"]["tx"] == 50
    assert res["drops"].get("auth", 0) + res["drops"].get("rate", 0) == 50
    res2 = run_scenario(scenario(events=[dict(ev, authenticated=True)], **base), "flood")
    # with the key they flood: the injection, then n1, n2 and n0 (whose own core
    # never saw the injected frame) each relay it once
    assert res2["rogue"]["tx"] == 200


def test_route_repair_counts_from_the_kill_to_the_next_delivery() -> None:
    sc = scenario(radio={"range_m": 60}, topology={"kind": "grid", "rows": 3, "cols": 3,
                                                   "spacing_m": 50},
                  traffic=[{"kind": "unicast", "count": 10, "size": 20, "start_s": 5,
                            "interval_s": 1, "pairs": [["n0", "n8"]]}],
                  events=[{"at_s": 10.5, "action": "kill", "nodes": ["n4"]}])
    res = run_scenario(sc, "flood")
    assert res["unicast"]["delivery_ratio"] == 1.0
    repair = res["events"]["route_repair_ms"]
    assert repair is not None and 500 <= repair < 600  # next send at 11 s, a few hops later
    assert res["events"]["partition_detected_ms"] is None  # flood has no detector


def test_only_a_partition_report_naming_a_node_out_of_reach_counts() -> None:
    # A report naming only nodes still in reach (a live neighbour whose
    # heartbeats were all lost) is a false alarm, not a detection.
    sc = scenario(radio={"range_m": 60}, topology={"kind": "line", "count": 3, "spacing_m": 50},
                  events=[{"at_s": 10, "action": "partition", "groups": [["n0", "n1"], ["n2"]]}])
    e = Engine(sc, "bitmesh")
    far = PartitionSuspected([e.identities[2].node_id])
    near = PartitionSuspected([e.identities[1].node_id])
    assert not e._partition_founded(0, far) and not e._partition_founded(0, near)
    assert e.col.partition_false_alarms == 2
    e.alive[1] = False  # the only relay dies: n2 is out of n0's reach
    assert e._partition_founded(0, far) and e._partition_founded(0, near)
    e.alive[1] = True
    e.medium.partition([[0, 1], [2]])
    assert e._partition_founded(0, far) and not e._partition_founded(0, near)
    assert e.col.partition_false_alarms == 3
    res = e.run()
    assert res["events"]["partition_false_alarms"] >= 3
