"""`bitmesh logs summary`: counts, peers, drops over reboots, heap lows, topology."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bitmesh.errors import UsageError
from bitmesh.logsummary import draw_topology, read_records, summarize

ID_A = "aa" * 8
ID_B = "bb" * 8

RECORDS: list[dict[str, Any]] = [
    {"connect": {"name": "a", "node_id": ID_A}, "node": "a"},
    {"connect": {"name": "b", "node_id": ID_B}, "node": "b"},
    {"t": 1, "lvl": "info", "msg": "peer_up", "peer": ID_B, "node": "a"},
    {"ev": "peer_up", "peer": ID_A, "node": "b"},
    {"t": 2, "lvl": "info", "msg": "peer_up", "peer": "cc" * 8, "node": "b"},
    {"t": 3, "lvl": "info", "msg": "status", "heap_free": 60000, "heap_min": 51000,
     "drops": {"auth": 3, "ttl": 1}, "node": "a"},
    {"t": 4, "lvl": "info", "msg": "status", "heap_free": 59000, "heap_min": 50000,
     "drops": {"auth": 5}, "node": "a"},
    {"gap": {"start": 1.0, "end": 3.5, "seconds": 2.5, "reason": "unplugged"}, "node": "a"},
    {"t": 1, "lvl": "info", "msg": "status", "heap_free": 61000, "heap_min": 55000,
     "drops": {"auth": 2}, "node": "a"},  # after a reboot: counters restarted
    {"t": 5, "lvl": "warn", "msg": "drop", "reason": "crc", "node": "a"},
    {"lvl": "error", "msg": "x", "heap": {"free": 40000, "min_free": 30000}, "node": "b"},
]


def test_summary_counts_peers_drops_and_heap() -> None:
    s = summarize(RECORDS)
    a, b = s["nodes"]["a"], s["nodes"]["b"]
    assert a["lines"] == 5 and a["by_level"] == {"info": 4, "warn": 1}
    assert a["peers"] == ["b"] and b["peers"] == ["a", "cc" * 8]
    assert a["drops"] == {"auth": 7, "ttl": 1, "crc": 1}
    assert a["heap_low"] == 50000 and b["heap_low"] == 30000
    assert a["gaps"] == 1 and a["gap_seconds"] == 2.5 and b["gaps"] == 0
    assert a["node_id"] == ID_A
    assert s["edges"] == [["a", "b"], ["b", "cc" * 8]]


def test_read_records_and_plot(tmp_path: Path) -> None:
    (tmp_path / "merged.jsonl").write_text(
        "\n".join(json.dumps(r) for r in RECORDS) + "\nnot json\n")
    s = summarize(read_records(tmp_path))
    assert s["records"] == len(RECORDS)
    draw_topology(s, tmp_path / "topo.png")
    assert (tmp_path / "topo.png").read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no .jsonl"):
        read_records(tmp_path / "empty")
