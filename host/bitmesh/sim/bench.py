"""``bench_sim()``: simulated seconds per wall second at 100 and 1000 nodes;
``bench_routers()``: the bitmesh router against blind flooding, side by side.

The scenario is generated: a random geometric placement at the density of
random-200.json (about nine neighbours per node, 10 % distance-model loss),
300 s simulated, one broadcast every 10 s and one unicast every 1.5 s from
t = 30 s, under the ``flood`` router (the baseline; every node relays every
new frame, so it is the heaviest load per message of the three routers).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bitmesh.sim.engine import run_scenario
from bitmesh.sim.scenario import Scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[3]


def bench_scenario(nodes: int, duration_s: float = 300.0, seed: int = 5) -> Scenario:
    side = round(1000.0 * math.sqrt(nodes / 200.0))
    data: dict[str, Any] = {
        "format": 1, "name": f"bench-{nodes}", "seed": seed, "duration_s": duration_s,
        "radio": {"range_m": 120, "loss": 0.1, "loss_model": "distance"},
        "topology": {"kind": "random_geometric", "count": nodes, "width_m": side,
                     "height_m": side},
        "traffic": [
            {"kind": "broadcast", "count": 1000, "size": 40, "start_s": 30, "interval_s": 10},
            {"kind": "unicast", "count": 1000, "size": 60, "start_s": 30, "interval_s": 1.5},
        ],
    }
    return parse_scenario(data, f"<bench-{nodes}>")


def sim_speed(nodes: int, duration_s: float = 300.0, router: str = "flood") -> float:
    """Simulated seconds per wall-clock second for one generated run."""
    res = run_scenario(bench_scenario(nodes, duration_s), router)
    return round(float(res["duration_s"]) / max(1e-9, float(res["wall_s"])), 2)


def bench_sim() -> dict[str, float]:
    """Figures for build/bench.json (flood router, 300 s simulated each)."""
    return {"sim_speed_100": sim_speed(100), "sim_speed_1000": sim_speed(1000)}


def routers_scenario() -> Scenario:
    """grid-100-lossy's mesh (10 x 10, each node hears up to 8 neighbours, 10 %
    loss per link) without its killed nodes, for 300 s: 40 broadcasts and 100
    unicasts, all sent by 260 s."""
    path = ROOT / "tests/scenarios/grid-100-lossy.json"
    data: dict[str, Any] = json.loads(path.read_text())
    data.update(name="bench-grid-100", duration_s=300, events=[])
    for t in data["traffic"]:
        t["count"] = 40 if t["kind"] == "broadcast" else 100
    return parse_scenario(data, str(path))


def bench_routers() -> dict[str, float]:
    """Broadcast and unicast cost and delivery of ``flood`` and ``bitmesh`` on
    the same placement, loss draws and traffic (``routers_scenario``).
    ``router_bcast_tx_ratio`` is bitmesh's transmissions per broadcast over
    blind flooding's (issue-4 target on dense meshes: at most 0.5)."""
    sc = routers_scenario()
    out: dict[str, float] = {}
    for router in ("flood", "bitmesh"):
        res = run_scenario(sc, router)
        b, u = res["broadcast"], res["unicast"]
        out[f"router_bcast_tx_{router}"] = round(float(b["tx_per_message"]), 2)
        out[f"router_bcast_delivery_{router}"] = round(float(b["delivery_ratio"]), 4)
        out[f"router_ucast_tx_{router}"] = round(float(u["tx_per_message"]), 2)
        out[f"router_ucast_delivery_{router}"] = round(float(u["delivery_ratio"]), 4)
    out["router_bcast_tx_ratio"] = round(out["router_bcast_tx_bitmesh"]
                                         / out["router_bcast_tx_flood"], 3)
    return out


if __name__ == "__main__":
    print(bench_sim())
    print(bench_routers())
