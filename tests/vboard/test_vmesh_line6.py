"""Issue 5's targets on virtual boards: the lossy 6-node line, played by
``run_vmesh`` (the library behind ``bitmesh vmesh``) with the real firmware,
a capped heap and the ``bitmesh`` core router.

One run (about 2 minutes of wall time) serves every test of this module:

* unicast and broadcast delivery end to end on the line are at least 95 %;
* every booted node finds its first peer within 2 heartbeat intervals;
* no board logs or counts a MemoryError, and every board reports its heap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bitmesh.vboard.vmesh import run_vmesh

pytestmark = pytest.mark.vboard
SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "vboard-line-6-lossy.json"


@pytest.fixture(scope="module")
def line6(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_vmesh(SCENARIO, router="bitmesh", logs_dir=tmp_path_factory.mktemp("logs"))


def test_unicast_delivery_on_lossy_line(line6: dict[str, Any]) -> None:
    u = line6["unicast"]
    assert u["sent"] >= 90
    assert u["delivery_ratio"] >= 0.95, u


def test_broadcast_delivery_on_lossy_line(line6: dict[str, Any]) -> None:
    b = line6["broadcast"]
    assert b["sent"] >= 45
    assert b["delivery_ratio"] >= 0.95, b


def test_first_peer_within_two_heartbeats(line6: dict[str, Any]) -> None:
    firsts = line6["firmware"]["first_peer_heartbeats"]
    assert set(firsts) == {f"n{i}" for i in range(6)}
    assert all(v is not None for v in firsts.values()), firsts
    assert max(v for v in firsts.values() if v is not None) <= 2.0, firsts


def test_no_memory_error_at_capped_heap(line6: dict[str, Any]) -> None:
    fw = line6["firmware"]
    assert fw["core_router"] == "bitmesh"
    assert sum(fw["memory_errors"].values()) == 0, fw["memory_errors"]
    heaps = fw["heap_min_free"]
    assert all(isinstance(v, int) and v > 0 for v in heaps.values()), heaps
    assert set(fw["boots"].values()) == {1}
