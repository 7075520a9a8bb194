"""Summarize a folder written by ``bitmesh logs``: counts, peers, drops, heap, topology.

Reads ``merged.jsonl`` (or, without it, every ``*.jsonl``). Per node:

* ``lines``: records, ``by_level``: log lines per ``lvl``;
* ``peers``: node ids seen in ``peer_up`` (log ``msg`` or event ``ev``);
* ``drops``: by reason, the sum over boots of the highest value each
  counter reached in ``status`` lines (a counter that goes down means the
  node restarted), plus one
  per ``drop`` log line carrying a ``reason``;
* ``heap_low``: the lowest ``heap_min``/``heap_free`` seen (also
  ``heap.min_free``/``heap.free`` objects);
* ``gaps`` and ``gap_seconds``: from the collector's gap markers.

Edges of the topology are ``peer_up`` pairs; node ids are shown by name when
a ``connect`` record tied the id to a name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bitmesh.errors import UsageError
from bitmesh.logcollect import MERGED


def read_records(folder: Path) -> list[dict[str, Any]]:
    """Every JSON object of the folder's log files; bad lines are skipped."""
    if not folder.is_dir():
        raise UsageError(f"no log folder {folder}")
    files = [folder / MERGED] if (folder / MERGED).exists() else sorted(folder.glob("*.jsonl"))
    if not files:
        raise UsageError(f"no .jsonl log files in {folder}")
    out = []
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict):
                    out.append(rec)
    return out


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary document (see the module docstring)."""
    nodes: dict[str, dict[str, Any]] = {}
    names: dict[str, str] = {}  # node id -> name
    edges: set[tuple[str, str]] = set()
    boot_last: dict[str, dict[str, float]] = {}  # node -> reason -> value this boot
    boot_done: dict[str, dict[str, float]] = {}  # node -> reason -> sum of ended boots
    for rec in records:
        node = str(rec.get("node", "?"))
        n = nodes.setdefault(node, {"lines": 0, "by_level": {}, "peers": set(), "drops": {},
                                    "heap_low": None, "gaps": 0, "gap_seconds": 0.0,
                                    "node_id": None})
        if isinstance(rec.get("gap"), dict):
            n["gaps"] += 1
            n["gap_seconds"] += _num(rec["gap"].get("seconds")) or 0.0
            continue
        if isinstance(rec.get("connect"), dict):
            nid = rec["connect"].get("node_id")
            if isinstance(nid, str):
                n["node_id"] = nid
                names[nid] = node
            continue
        n["lines"] += 1
        lvl = rec.get("lvl")
        if isinstance(lvl, str):
            n["by_level"][lvl] = n["by_level"].get(lvl, 0) + 1
        what = rec.get("msg") if "msg" in rec else rec.get("ev")
        if what == "peer_up" and isinstance(rec.get("peer"), str):
            n["peers"].add(rec["peer"])
            edges.add((node, rec["peer"]))
        if what == "drop" and isinstance(rec.get("reason"), str):
            n["drops"][rec["reason"]] = n["drops"].get(rec["reason"], 0) + 1
        drops = rec.get("drops")
        if what == "status" and isinstance(drops, dict):
            last = boot_last.setdefault(node, {})
            vals = {k: v for k, v in ((k, _num(v)) for k, v in drops.items()) if v is not None}
            if any(k in vals and vals[k] < v for k, v in last.items()):  # counters restarted
                done = boot_done.setdefault(node, {})
                for k, v in last.items():
                    done[k] = done.get(k, 0.0) + v
                last.clear()
            for k, v in vals.items():
                last[k] = max(last.get(k, 0.0), v)
        for key in ("heap_min", "heap_free"):
            val = _num(rec.get(key))
            if val is not None and (n["heap_low"] is None or val < n["heap_low"]):
                n["heap_low"] = val
        heap = rec.get("heap")
        if isinstance(heap, dict):
            for key in ("min_free", "free"):
                val = _num(heap.get(key))
                if val is not None and (n["heap_low"] is None or val < n["heap_low"]):
                    n["heap_low"] = val
    for table in (boot_done, boot_last):
        for node, counters in table.items():
            d = nodes[node]["drops"]
            for reason, val in counters.items():
                d[reason] = d.get(reason, 0) + int(val)
    out_nodes = {}
    for node, n in sorted(nodes.items()):
        out_nodes[node] = {
            **n,
            "peers": sorted(names.get(p, p) for p in n["peers"]),
            "heap_low": int(n["heap_low"]) if n["heap_low"] is not None else None,
            "gap_seconds": round(n["gap_seconds"], 3),
        }
    links = sorted({tuple(sorted((a, names.get(b, b)))) for a, b in edges})
    return {"nodes": out_nodes, "edges": [list(e) for e in links],
            "records": len(records)}


def draw_topology(summary: dict[str, Any], path: Path) -> None:
    """A PNG of the peer graph: collected nodes filled, peers only seen hollow."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx  # type: ignore[import-untyped]

    g: Any = nx.Graph()
    g.add_nodes_from(summary["nodes"])
    g.add_edges_from(tuple(e) for e in summary["edges"])
    fig, ax = plt.subplots(figsize=(7, 6), dpi=100)
    pos = nx.spring_layout(g, seed=1) if len(g) else {}
    collected = [n for n in g.nodes if n in summary["nodes"]]
    others = [n for n in g.nodes if n not in summary["nodes"]]
    nx.draw_networkx_edges(g, pos, ax=ax, edge_color="#888888")
    nx.draw_networkx_nodes(g, pos, nodelist=collected, ax=ax, node_color="#4c8bf5",
                           node_size=700)
    nx.draw_networkx_nodes(g, pos, nodelist=others, ax=ax, node_color="white",
                           edgecolors="#4c8bf5", node_size=500)
    nx.draw_networkx_labels(g, pos, ax=ax, font_size=8)
    ax.set_title(f"bitmesh topology: {len(collected)} nodes logged, {g.number_of_edges()} links")
    ax.axis("off")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
