"""Scenario validation and the `bitmesh sim` command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bitmesh.errors import UsageError
from bitmesh.sim.scenario import ScenarioError, load_scenario, parse_scenario

pytestmark = pytest.mark.sim

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def bitmesh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bitmesh.cli", *args],
                          capture_output=True, text=True, timeout=120)


def base(**kw: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"topology": {"kind": "line", "count": 3, "spacing_m": 50}}
    d.update(kw)
    return d


@pytest.mark.parametrize("name", ["grid-100-lossy", "line-8", "partition-heal", "random-200"])
def test_examples_load(name: str) -> None:
    sc = load_scenario(SCENARIOS / f"{name}.json")
    assert sc.name == name and sc.nodes


def test_defaults_are_those_of_the_format() -> None:
    sc = parse_scenario(base(), "<t>", default_name="file-stem")
    assert (sc.name, sc.seed, sc.duration_s) == ("file-stem", 1, 300)
    r = sc.radio
    assert (r.range_m, r.loss, r.loss_model, r.bitrate_bps, r.mtu, r.collisions) == (
        100, 0.0, "uniform", 1_000_000, 250, False)
    assert sc.traffic == [] and sc.events == []
    assert [(n.name, n.x) for n in sc.nodes] == [("n0", 0), ("n1", 50), ("n2", 100)]


@pytest.mark.parametrize("data, path, expected", [
    (base(radoi={}), "radoi", "unknown key"),
    (base(radio={"loss": 2}), "radio.loss", "0..1"),
    (base(radio={"loss_model": "fancy"}), "radio.loss_model", "distance"),
    ({"seed": 1}, "topology", "required"),
    (base(topology={"kind": "ring"}), "topology.kind", "one of"),
    (base(topology={"kind": "line", "count": 3}), "topology.spacing_m", "a number"),
    (base(traffic=[{"kind": "broadcast", "from": "n9"}]), "traffic[0].from", "node id"),
    (base(traffic=[{"kind": "unicast", "pairs": [["n0"]]}]), "traffic[0].pairs[0]", "[src"),
    (base(traffic=[{"kind": "unicast", "count": 1, "colour": 1}]), "traffic[0].colour",
     "unknown key"),
    (base(events=[{"at_s": 1, "action": "explode"}]), "events[0].action", "one of"),
    (base(events=[{"at_s": 1, "action": "kill"}]), "events[0].nodes", "node ids"),
    (base(node_defaults={"heartbeat_s": 0.01}), "node_defaults.heartbeat_ms", "integer"),
    (base(node_defaults={"hartbeat_s": 5}), "node_defaults.hartbeat_s", "unknown key"),
])
def test_bad_scenarios_name_path_and_expectation(data: Any, path: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as ei:
        parse_scenario(data, "bad.json")
    msg = str(ei.value)
    assert msg.startswith(f"bad.json: {path}: expected"), msg
    assert expected in msg and "\n" not in msg
    assert ei.value.exit_code == 2


def test_unknown_key_inside_a_link_option(tmp_path: Path) -> None:
    f = tmp_path / "links.json"
    f.write_text(json.dumps(base(topology={
        "kind": "line", "count": 2, "spacing_m": 10, "links": [["n0", "n1", {"los": 1}]]})))
    with pytest.raises(UsageError, match=r"links\.json: topology\.links\[0\]\[2\]\.los"):
        load_scenario(f)


def test_cli_bad_scenario_exits_2_with_one_line(tmp_path: Path) -> None:
    f = tmp_path / "typo.json"
    f.write_text(json.dumps(base(duration=5)))
    r = bitmesh("sim", "--scenario", str(f))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "typo.json: duration: expected" in lines[0], r.stderr
    bad_json = tmp_path / "broken.json"
    bad_json.write_text("{")
    r = bitmesh("sim", "--scenario", str(bad_json))
    assert r.returncode == 2 and "broken.json: line 1: expected valid JSON" in r.stderr
    r = bitmesh("sim", "--scenario", str(tmp_path / "missing.json"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_cli_unknown_router_is_one_clear_line() -> None:
    r = bitmesh("sim", "--scenario", str(SCENARIOS / "line-8.json"), "--router", "nope")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "nope" in r.stderr


def test_cli_json_and_plot(tmp_path: Path) -> None:
    out, png = tmp_path / "out.json", tmp_path / "out.png"
    r = bitmesh("sim", "--scenario", str(SCENARIOS / "line-8.json"), "--router", "flood",
                "--router", "managed", "--duration", "60", "--json", str(out),
                "--plot", str(png), "--seed", "4")
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    assert [d["router"] for d in data] == ["flood", "managed"]
    for d in data:
        assert d["seed"] == 4 and d["nodes"] == 8 and d["duration_s"] == 60
        for key in ("broadcast", "unicast", "control", "reference", "events", "tables",
                    "airtime", "wall_s"):
            assert key in d
    assert "broadcast delivery" in r.stdout and "managed" in r.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_of_a_virtual_board_run(tmp_path: Path) -> None:
    """`make demo` plots a run of virtual boards: it has no graph references
    and its per-node load is the frames each board relayed (vmesh.py)."""
    from bitmesh.sim.plot import plot

    sc = load_scenario(SCENARIOS / "line-8.json")
    out = tmp_path / "out.json"
    r = bitmesh("sim", "--scenario", str(SCENARIOS / "line-8.json"), "--router", "flood",
                "--duration", "30", "--json", str(out))
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())[0]
    del res["reference"]
    res.update(router="firmware", per_node={"relayed": list(range(len(sc.nodes)))})
    png = tmp_path / "demo.png"
    plot(sc, [res], png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_determinism_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    outs = []
    for hs in ("1", "2"):
        out = tmp_path / f"run{hs}.json"
        r = subprocess.run([sys.executable, "-m", "bitmesh.cli", "sim", "--scenario",
                            str(SCENARIOS / "line-8.json"), "--router", "flood", "--router",
                            "managed", "--duration", "90", "--quiet", "--json", str(out)],
                           capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONHASHSEED": hs})
        assert r.returncode == 0, r.stderr
        runs = json.loads(out.read_text())
        for run in runs:
            run.pop("wall_s")
        outs.append(runs)
    assert outs[0] == outs[1]
