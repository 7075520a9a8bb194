"""Render `bitmesh sim --json` outputs as the markdown tables of docs/ROUTING.md.

Usage: python docs/routing_table.py OUT1.json [OUT2.json ...]
Each file holds the list `bitmesh sim --json` writes (one object per router).
Only numbers from those files are printed; nothing is estimated.
"""

import json
import sys


def pct(x: object) -> str:
    return "-" if x is None else "%.1f%%" % (100 * float(x))  # type: ignore[arg-type]


def num(x: object, fmt: str = "%.1f") -> str:
    return "-" if x is None else fmt % x  # type: ignore[operator]


ROWS = [
    ("broadcast delivery", lambda r: pct(r["broadcast"].get("delivery_ratio"))),
    ("broadcast tx/message", lambda r: num(r["broadcast"].get("tx_per_message"))),
    ("broadcast latency p50 / p95 ms", lambda r: "%s / %s" % (
        num(r["broadcast"].get("latency_ms_p50"), "%.0f"),
        num(r["broadcast"].get("latency_ms_p95"), "%.0f"))),
    ("unicast delivery", lambda r: pct(r["unicast"].get("delivery_ratio"))),
    ("unicast tx/message", lambda r: num(r["unicast"].get("tx_per_message"))),
    ("unicast hops mean / optimal", lambda r: "%s / %s" % (
        num(r["unicast"].get("hops_mean"), "%.2f"), num(r["unicast"].get("optimal_hops_mean"), "%.2f"))),
    ("known-route unicasts: tx/hop (delivery)", lambda r: "%s (%s)" % (
        num(r["unicast"].get("known_route_tx_per_hop"), "%.2f"),
        pct(r["unicast"].get("known_route_delivery_ratio")))),
    ("... of which the route held: count, tx/hop", lambda r: "%s, %s" % (
        r["unicast"].get("intact_route_sent", "-"),
        num(r["unicast"].get("intact_route_tx_per_hop"), "%.2f"))),
    ("floor: best acked path, tx per hop (reference)", lambda r: num(
        r.get("reference", {}).get("etx_tx_per_hop"), "%.2f")),
    ("unicast latency p50 / p95 ms", lambda r: "%s / %s" % (
        num(r["unicast"].get("latency_ms_p50"), "%.0f"), num(r["unicast"].get("latency_ms_p95"), "%.0f"))),
    ("control tx", lambda r: str(r["control"]["tx"])),
    ("partition detected ms", lambda r: num(r["events"].get("partition_detected_ms"), "%.0f")),
    ("route repair ms", lambda r: num(r["events"].get("route_repair_ms"), "%.0f")),
    ("max routes", lambda r: str(r.get("tables", {}).get("max_routes", "-"))),
    ("greedy CDS (reference)", lambda r: str(r.get("reference", {}).get("cds_greedy", "-"))),
]


def table(path: str) -> str:
    runs = json.load(open(path))
    head = "| %s (%d nodes, seed %s) | %s |" % (
        runs[0]["scenario"], runs[0]["nodes"], runs[0]["seed"], " | ".join(r["router"] for r in runs))
    out = [head, "|" + " --- |" * (len(runs) + 1)]
    for name, fn in ROWS:
        cells = []
        for r in runs:
            try:
                cells.append(fn(r))
            except (KeyError, TypeError):
                cells.append("-")
        out.append("| %s | %s |" % (name, " | ".join(cells)))
    return "\n".join(out)


if __name__ == "__main__":
    print("\n\n".join(table(p) for p in sys.argv[1:]))
