"""Issue 8 targets on a 30-node lossy mesh (tests/scenarios/games-30-lossy.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bitmesh.sim.engine import run_scenario
from bitmesh.sim.scenario import load_scenario

pytestmark = pytest.mark.sim

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "games-30-lossy.json"


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return run_scenario(load_scenario(SCENARIO), "bitmesh")


def test_every_round_settles_and_honest_players_agree(result: dict[str, Any]) -> None:
    g = result["games"]
    assert g["rounds_settled"] == g["rounds"]
    assert g["rounds_agreed"] == g["rounds"]


def test_every_cheater_is_detected_and_no_honest_player_is_accused(
        result: dict[str, Any]) -> None:
    g = result["games"]
    assert sorted(g["cheaters_detected"]) == sorted(["n3", "n9", "n17", "n22", "n28"])
    assert g["false_accusations"] == 0


def test_dht_lookups_find_their_value(result: dict[str, Any]) -> None:
    d = result["dht"]
    assert d["gets"] > 0 and d["found"] >= 0.98 * d["gets"]


def test_no_forged_relay_credit_is_accepted(result: dict[str, Any]) -> None:
    r = result["relay"]
    assert r["credited"] > 0
    assert r["forged_accepted"] == 0
    assert r["forged_rejected"] > 0
