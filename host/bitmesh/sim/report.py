"""The side-by-side comparison table (rich) and plain-language notes."""

from __future__ import annotations

from typing import Any

from rich.table import Table

# (label, section, key, format)
ROWS: list[tuple[str, str, str, str]] = [
    ("broadcast sent", "broadcast", "sent", "d"),
    ("broadcast delivery", "broadcast", "delivery_ratio", "pct"),
    ("broadcast tx/message", "broadcast", "tx_per_message", ".1f"),
    ("broadcast latency p50 ms", "broadcast", "latency_ms_p50", ".1f"),
    ("broadcast latency p95 ms", "broadcast", "latency_ms_p95", ".1f"),
    ("unicast sent (reachable)", "unicast", "sent", "d"),
    ("unicast delivered", "unicast", "delivered", "d"),
    ("unicast delivery", "unicast", "delivery_ratio", "pct"),
    ("unicast tx/message", "unicast", "tx_per_message", ".1f"),
    ("unicast hops mean", "unicast", "hops_mean", ".2f"),
    ("unicast optimal hops", "unicast", "optimal_hops_mean", ".2f"),
    ("known-route unicasts", "unicast", "known_route_sent", "d"),
    ("known-route tx/hop", "unicast", "known_route_tx_per_hop", ".2f"),
    ("  of which route held", "unicast", "intact_route_sent", "d"),
    ("  route held: tx/hop", "unicast", "intact_route_tx_per_hop", ".2f"),
    ("  floor: best acked path tx/hop", "reference", "etx_tx_per_hop", ".2f"),
    ("unicast latency p50 ms", "unicast", "latency_ms_p50", ".1f"),
    ("unicast latency p95 ms", "unicast", "latency_ms_p95", ".1f"),
    ("control tx", "control", "tx", "d"),
    ("control kB", "control", "bytes", "kB"),
    ("rogue tx", "rogue", "tx", "d"),
    ("partition detected ms", "events", "partition_detected_ms", ".0f"),
    ("partition false alarms", "events", "partition_false_alarms", "d"),
    ("route repair ms", "events", "route_repair_ms", ".0f"),
    ("max peers", "tables", "max_peers", "d"),
    ("max routes", "tables", "max_routes", "d"),
    ("max dedup", "tables", "max_dedup", "d"),
    ("max airtime utilisation", "airtime", "max_utilization", "pct"),
    ("carrier-sense waits", "airtime", "carrier_deferrals", "d"),
    ("greedy CDS (reference)", "reference", "cds_greedy", "d"),
    ("wall s", "", "wall_s", ".2f"),
]


def fmt(v: Any, how: str) -> str:
    if v is None:
        return "-"
    if how == "pct":
        return f"{100 * v:.1f}%"
    if how == "kB":
        return f"{v / 1000:.1f}"
    if how == "d":
        return str(int(v))
    return format(v, how)


def table(results: list[dict[str, Any]]) -> Table:
    first = results[0]
    t = Table(title=f"{first['scenario']}: {first['nodes']} nodes, seed {first['seed']}, "
              f"{first['duration_s']:g} s simulated")
    t.add_column("metric")
    for r in results:
        t.add_column(r["router"], justify="right")
    for label, sec, key, how in ROWS:
        vals = [(r.get(sec) or {}).get(key) if sec else r.get(key) for r in results]
        t.add_row(label, *[fmt(v, how) for v in vals])
    return t


def notes(results: list[dict[str, Any]]) -> list[str]:
    """Plain explanations for metrics that are empty (never a division by zero)."""
    r = results[0]
    out = []
    b, u = r["broadcast"], r["unicast"]
    if b["sent"] == 0 and u["sent"] == 0 and u["unreachable"] == 0:
        out.append("the traffic plan sent no messages (empty, or every send fell after "
                   "duration_s or on a dead node): delivery metrics are '-'")
    if u["unreachable"] and u["sent"] == 0:
        out.append(f"none of the {u['unreachable']} unicast messages had a destination "
                   "reachable at send time: unicast delivery is '-'")
    elif u["unreachable"]:
        out.append(f"{u['unreachable']} unicast messages had an unreachable destination "
                   "at send time and are not counted")
    if b["sent"] and b["reachable_pairs"] == 0:
        out.append("no broadcast had any reachable receiver: broadcast delivery is '-'")
    return out
