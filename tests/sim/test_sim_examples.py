"""Every example scenario under every registered router, side by side (shortened)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bitmesh.sim import services
from bitmesh.sim.engine import Engine, run_scenario
from bitmesh.sim.scenario import load_scenario, parse_scenario
from bitmesh_core.router import router_class

pytestmark = pytest.mark.sim

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
ROUTER_NAMES = [r for r in ("flood", "managed", "bitmesh") if router_class(r) is not None]


@pytest.mark.parametrize("name, seconds", [("line-8", 120), ("partition-heal", 260),
                                           ("grid-100-lossy", 90), ("random-200", 80)])
def test_example_under_every_router(name: str, seconds: float) -> None:
    sc = load_scenario(SCENARIOS / f"{name}.json")
    results = [run_scenario(sc, r, duration_s=seconds) for r in ROUTER_NAMES]
    json.dumps(results)  # serialisable as written by --json
    sent = {(r["broadcast"]["sent"], r["unicast"]["sent"], r["unicast"]["unreachable"])
            for r in results}
    assert len(sent) == 1  # the same traffic for every router
    refs = {json.dumps(r["reference"]) for r in results}
    assert len(refs) == 1
    for r in results:
        for sec in ("broadcast", "unicast"):
            ratio = r[sec]["delivery_ratio"]
            assert ratio is None or 0.0 <= ratio <= 1.0
        assert r["control"]["tx"] > 0
    if name == "partition-heal":
        assert results[0]["unicast"]["unreachable"] > 0  # cross pairs during the partition


def test_leaf_nodes_do_not_relay() -> None:
    sc = parse_scenario({
        "seed": 2, "duration_s": 20, "radio": {"range_m": 60},
        "topology": {"kind": "line", "count": 3, "spacing_m": 50, "roles": {"n1": "leaf"}},
        "traffic": [{"kind": "broadcast", "count": 2, "size": 20, "start_s": 5, "from": "n0"}],
    }, "<t>")
    e = Engine(sc, "flood")
    res = e.run()
    assert [m.delivered for m in e.col.msgs] == [{1}, {1}]
    assert res["per_node"]["msg_tx"] == [2, 0, 0]


class FakeDht:
    """A minimal driver proving the services hook (issue 8 plugs in here)."""

    @classmethod
    def validate(cls, spec: dict[str, Any], path: str, index: dict[str, int]) -> None:
        assert path == "traffic[0]" and spec["puts"] == 2

    def __init__(self, spec: dict[str, Any], index: dict[str, int]) -> None:
        self.calls = 0

    def start(self, engine: Any) -> None:
        engine.at(1_000_000, self._tick)

    def _tick(self, _arg: Any) -> None:
        self.calls += 1

    def metrics(self) -> tuple[str, dict[str, Any]]:
        return "dht", {"gets": 0, "found": 0, "tx_per_get": None, "ticks": self.calls}


def test_service_drivers_plug_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(services.TRAFFIC_DRIVERS, "dht", FakeDht)
    sc = parse_scenario({
        "duration_s": 5, "topology": {"kind": "line", "count": 2, "spacing_m": 10},
        "traffic": [{"kind": "dht", "puts": 2, "gets": 4, "start_s": 1, "interval_s": 1}],
    }, "<t>")
    res = run_scenario(sc, "flood")
    assert res["dht"] == {"gets": 0, "found": 0, "tx_per_get": None, "ticks": 1}
