"""``--plot``: one PNG comparing the routers of a run (matplotlib, Agg).

Top row, one panel per router (at most three): the topology with links,
every node coloured by its relay load (radio transmissions it made for
application messages: originals, relays, retries, acks) on one colour scale
shared by all panels, marker shape by role, killed nodes crossed out, rogue
nodes starred, partition groups outlined and the links a partition cuts
dashed. Bottom row: delivery ratios, transmissions per message (with the
greedy-CDS floor) and latency / control load per router.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from bitmesh.sim.medium import Medium  # noqa: E402
from bitmesh.sim.scenario import Scenario  # noqa: E402

MARKERS = {"relay": "o", "leaf": "s", "gateway": "^", "treasury": "D"}
GROUP_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown"]
ROUTER_COLOURS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3"]


def _events(sc: Scenario) -> tuple[dict[int, str], list[list[int]], set[int]]:
    killed: dict[int, str] = {}
    groups: list[list[int]] = []
    rogue: set[int] = set()
    for ev in sc.events:
        if ev.action == "kill":
            for i in ev.nodes:
                killed[i] = f"killed {ev.at_s:g}s"
        elif ev.action == "revive":
            for i in ev.nodes:
                if i in killed:
                    killed[i] += f", back {ev.at_s:g}s"
        elif ev.action == "partition" and not groups:
            groups = ev.groups
        elif ev.action == "rogue":
            rogue.update(ev.nodes)
    return killed, groups, rogue


def _topology(ax: Any, sc: Scenario, med: Medium, load: list[int], norm: Normalize,
              title: str) -> Any:
    xs, ys = med.xs, med.ys
    killed, groups, rogue = _events(sc)
    gmap = {i: g for g, members in enumerate(groups) for i in members}
    segs: list[list[tuple[float, float]]] = []
    cut: list[list[tuple[float, float]]] = []
    for i in range(med.n):
        for j, _own in med.base[i]:
            if i < j or i not in {k for k, _ in med.base[j]}:
                seg = [(xs[i], ys[i]), (xs[j], ys[j])]
                gi, gj = gmap.get(i, -1), gmap.get(j, -1)
                (cut if gi >= 0 and gj >= 0 and gi != gj else segs).append(seg)
    lw = 0.6 if med.n <= 300 else 0.3
    ax.add_collection(LineCollection(segs, colors="#bbbbbb", linewidths=lw, zorder=1))
    if cut:
        ax.add_collection(LineCollection(cut, colors="tab:red", linewidths=0.9,
                                         linestyles="dashed", zorder=1))
    size = max(12.0, min(70.0, 9000.0 / max(1, med.n)))
    for g, members in enumerate(groups):
        ax.scatter([xs[i] for i in members], [ys[i] for i in members], s=size * 9,
                   color=GROUP_COLOURS[g % len(GROUP_COLOURS)], alpha=0.18, linewidths=0,
                   zorder=0)
    sc_obj = None
    for role, mk in MARKERS.items():
        idx = [i for i, nd in enumerate(sc.nodes) if nd.role == role]
        if not idx:
            continue
        edge = [GROUP_COLOURS[gmap[i] % len(GROUP_COLOURS)] if i in gmap else "black"
                for i in idx]
        sc_obj = ax.scatter([xs[i] for i in idx], [ys[i] for i in idx],
                            c=[load[i] for i in idx], cmap="inferno_r", norm=norm, marker=mk,
                            s=size, edgecolors=edge, linewidths=0.9 if gmap else 0.4,
                            zorder=3)
    by_label: dict[str, list[int]] = {}
    for i, label in killed.items():
        ax.scatter([xs[i]], [ys[i]], marker="x", s=size * 2.2, c="red", linewidths=2, zorder=4)
        by_label.setdefault(label, []).append(i)
    for label, members in by_label.items():
        # one note per kill event, above its topmost node, so neighbours do not overlap
        top = max(members, key=lambda i: (ys[i], xs[i]))
        names = ",".join(sc.nodes[i].name for i in members)
        who = names if len(members) <= 4 else f"{len(members)} nodes"
        ax.annotate(f"{who}: {label}", (xs[top], ys[top]), textcoords="offset points",
                    xytext=(0, 9), ha="center", fontsize=7, color="red", zorder=5,
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none",
                          "alpha": 0.8})
    for i in rogue:
        ax.scatter([xs[i]], [ys[i]], marker="*", s=size * 5, facecolors="none",
                   edgecolors="magenta", linewidths=1.5, zorder=4)
        ax.annotate(f"rogue {sc.nodes[i].name}", (xs[i], ys[i]), textcoords="offset points",
                    xytext=(6, -10), fontsize=7, color="magenta", zorder=5)
    if med.n <= 40:
        for i, nd in enumerate(sc.nodes):
            ax.annotate(nd.name, (xs[i], ys[i]), textcoords="offset points", xytext=(0, 6),
                        fontsize=6, ha="center", zorder=5)
    ax.set_title(title, fontsize=10)
    ax.set_aspect("equal", adjustable="datalim")
    ax.autoscale_view()
    ax.tick_params(labelsize=7)
    ax.set_xlabel("m", fontsize=8)
    return sc_obj


def _bars(ax: Any, results: list[dict[str, Any]], series: list[tuple[str, str, str]],
          title: str, pct: bool = False) -> None:
    width = 0.8 / max(1, len(results))
    for k, r in enumerate(results):
        vals = [(r.get(sec) or {}).get(key) for _lbl, sec, key in series]
        xs = [i + (k - (len(results) - 1) / 2) * width for i in range(len(series))]
        hs = [0.0 if v is None else (100 * v if pct else float(v)) for v in vals]
        bars = ax.bar(xs, hs, width, label=r["router"],
                      color=ROUTER_COLOURS[k % len(ROUTER_COLOURS)])
        for b, v in zip(bars, vals, strict=True):
            text = "-" if v is None else (f"{100 * v:.0f}%" if pct else f"{v:.3g}")
            ax.annotate(text, (b.get_x() + b.get_width() / 2, b.get_height()),
                        ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(series)), [s[0] for s in series], fontsize=8)
    ax.set_title(title, fontsize=10)
    if pct:
        ax.set_ylim(0, 112)
        ax.set_ylabel("%", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="best")


def _timeline(ax: Any, sc: Scenario, results: list[dict[str, Any]]) -> None:
    """Delivery over simulated time per router, with the scenario's events."""
    window = 10
    for k, r in enumerate(results):
        colour = ROUTER_COLOURS[k % len(ROUTER_COLOURS)]
        for kind, style in (("unicast", "-"), ("broadcast", "--")):
            pts = [(t, v) for t, kd, v in r.get("timeline", []) if kd == kind and v is not None]
            if not pts:
                continue
            xs, ys = [], []
            for i in range(len(pts)):
                chunk = pts[max(0, i - window + 1): i + 1]
                xs.append(pts[i][0])
                ys.append(100 * sum(v for _t, v in chunk) / len(chunk))
            ax.plot(xs, ys, style, color=colour, linewidth=1.2,
                    label=f"{r['router']} {kind}")
    open_at: dict[str, float] = {}
    for ev in sc.events:
        if ev.action == "kill":
            ax.axvline(ev.at_s, color="red", linewidth=1)
            ax.annotate("kill", (ev.at_s, 2), fontsize=7, color="red", rotation=90)
        elif ev.action == "revive":
            ax.axvline(ev.at_s, color="green", linewidth=1)
            ax.annotate("revive", (ev.at_s, 2), fontsize=7, color="green", rotation=90)
        elif ev.action == "partition":
            open_at.setdefault("partition", ev.at_s)
        elif ev.action == "heal" and "partition" in open_at:
            ax.axvspan(open_at.pop("partition"), ev.at_s, color="orange", alpha=0.2,
                       label="partitioned")
        elif ev.action == "rogue":
            ax.axvspan(ev.at_s, ev.until_s, color="magenta", alpha=0.12, label="rogue active")
        elif ev.action == "set_loss":
            ax.axvline(ev.at_s, color="grey", linestyle=":", linewidth=1)
            ax.annotate(f"loss={ev.loss:g}", (ev.at_s, 2), fontsize=7, rotation=90)
    if "partition" in open_at:
        ax.axvspan(open_at["partition"], results[0]["duration_s"], color="orange", alpha=0.2,
                   label="partitioned")
    ax.set_xlim(0, results[0]["duration_s"])
    ax.set_ylim(0, 105)
    ax.set_xlabel("simulated s", fontsize=8)
    ax.set_ylabel(f"% delivered (last {window} messages)", fontsize=8)
    ax.set_title("delivery over time", fontsize=10)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="lower left", ncol=2)


def plot(sc: Scenario, results: list[dict[str, Any]], out: Path) -> None:
    """Write the comparison figure for ``results`` (one per router) to ``out``."""
    med = Medium(sc)
    shown = results[:3]
    fig = plt.figure(figsize=(20, 12.5), constrained_layout=True)
    rows = fig.add_gridspec(2, 1, height_ratios=[1.45, 1])
    top = rows[0].subgridspec(1, max(2, len(shown)))
    bottom = rows[1].subgridspec(1, 4, width_ratios=[1, 1, 1, 1.7])
    # A simulator run counts each node's transmissions of application
    # messages (msg_tx); a virtual-board run (bitmesh demo) the frames each
    # board relayed, from its own counters (relayed).
    keys = ["msg_tx" if "msg_tx" in r["per_node"] else "relayed" for r in shown]
    loads = [r["per_node"][key] for r, key in zip(shown, keys, strict=True)]
    what = {"msg_tx": "message tx", "relayed": "frames relayed"}
    norm = Normalize(vmin=0, vmax=max(1, max(max(ld) for ld in loads)))
    mappable = None
    topo_axes = []
    for k, r in enumerate(shown):
        ax = fig.add_subplot(top[0, k])
        topo_axes.append(ax)
        title = (f"{r['router']}: relay load per node\n"
                 f"{sum(loads[k])} {what[keys[k]]} in total, busiest node {max(loads[k])}")
        mappable = _topology(ax, sc, med, loads[k], norm, title) or mappable
    if mappable is not None:
        fig.colorbar(mappable, ax=topo_axes, shrink=0.8, pad=0.01,
                     label=("radio transmissions for application messages"
                            if keys[0] == "msg_tx" else "frames relayed"))
    _bars(fig.add_subplot(bottom[0, 0]), results,
          [("broadcast", "broadcast", "delivery_ratio"), ("unicast", "unicast", "delivery_ratio")],
          "delivery ratio (reachable pairs)", pct=True)
    ax = fig.add_subplot(bottom[0, 1])
    _bars(ax, results, [("broadcast", "broadcast", "tx_per_message"),
                        ("unicast", "unicast", "tx_per_message")],
          "radio transmissions per message")
    cds = results[0].get("reference", {}).get("cds_greedy")  # a vboard run has no references
    if cds:
        ax.axhline(cds, color="black", linestyle=":", linewidth=1)
        ax.annotate(f"greedy CDS = {cds}", (-0.45, cds), xytext=(0, 3),
                    textcoords="offset points", fontsize=7)
    ax = fig.add_subplot(bottom[0, 2])
    _bars(ax, results, [("p50", "unicast", "latency_ms_p50"),
                        ("p95", "unicast", "latency_ms_p95")],
          "unicast latency, ms (log)")
    if any((r["unicast"].get("latency_ms_p50") or 0) > 0 for r in results):
        ax.set_yscale("log")
    _timeline(fig.add_subplot(bottom[0, 3]), sc, results)
    handles = [Line2D([], [], marker=m, linestyle="", color="grey", label=role)
               for role, m in MARKERS.items() if any(nd.role == role for nd in sc.nodes)]
    killed, groups, rogue = _events(sc)
    if killed:
        handles.append(Line2D([], [], marker="x", color="red", linestyle="", label="killed"))
    if rogue:
        handles.append(Line2D([], [], marker="*", color="magenta", linestyle="",
                              label="rogue", markerfacecolor="none"))
    if groups:
        handles.append(Line2D([], [], marker="o", color=GROUP_COLOURS[0], alpha=0.3,
                              markersize=12, linestyle="", label="partition group"))
        handles.append(Line2D([], [], color="tab:red", linestyle="dashed",
                              label="link cut by partition"))
    fig.legend(handles=handles, loc="upper left", fontsize=8, ncol=len(handles))
    r0 = results[0]
    fig.suptitle(f"{r0['scenario']}: {r0['nodes']} nodes, {r0['duration_s']:g} s simulated, "
                 f"seed {r0['seed']}: " + " vs ".join(r["router"] for r in results), fontsize=13)
    fig.savefig(out, dpi=100)
    plt.close(fig)
