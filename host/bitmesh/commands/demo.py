"""`bitmesh demo`: a virtual field deployment, no hardware needed.

Eight virtual boards run the real firmware on the MicroPython unix port (heap
capped like an ESP32) over a simulated radio medium; a live table shows peers,
routes, deliveries and heap per node; then a summary and a topology PNG. When
mosquitto is installed, two meshes are then bridged through it and a laptop
client chats across them. ``--in-process`` runs core nodes in this process
instead (seconds, not minutes).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from bitmesh.errors import BitmeshError
from bitmesh.inprocess import DemoMesh

DEMO_SCENARIO = Path(__file__).resolve().parents[1] / "data" / "demo-field-8.json"


def in_process_demo(console: Console, count: int = 12) -> dict[str, int]:
    """Boot ``count`` core nodes in one process, let them discover each other,
    then exchange broadcasts and unicasts and summarise what arrived."""
    mesh = DemoMesh(count=count, router="bitmesh")
    console.print(f"[bold]bitmesh demo[/bold]: {count} in-process nodes on the core, "
                  f"{mesh.loss:.0%} loss per reception")
    mesh.run(10_000)
    ups = sum(1 for _, _, e in mesh.events if e.kind == "peer_up")
    console.print(f"discovery: {ups} neighbour links came up in 10 s of mesh time")
    sent_b = 0
    sent_u = 0
    for r in range(5):
        src = mesh.nodes[r % count]
        src.send_message(None, f"round {r}: hello everyone".encode(), mesh.now)
        sent_b += 1
        for k in range(3):
            dst = mesh.nodes[(r * 5 + k * 7 + 3) % count]
            if dst is src:
                continue
            src.send_message(dst.node_id, f"round {r}: hi {dst.config.name}".encode(),
                             mesh.now, ack=True)
            sent_u += 1
        mesh.run(1500)
    mesh.run(3000)
    got_b = sum(1 for _, _, e in mesh.events
                if e.kind == "delivered" and getattr(e, "dst", 0) is None)
    got_u = sum(1 for _, _, e in mesh.events
                if e.kind == "delivered" and getattr(e, "dst", None) is not None)
    acked = sum(1 for _, _, e in mesh.events if e.kind == "acked")
    t = Table(title="per node")
    for col in ("node", "id", "peers", "rx", "tx", "relayed", "delivered", "drops"):
        t.add_column(col, justify="right" if col not in ("node", "id") else "left")
    for n in mesh.nodes:
        s = n.stats()
        drops = s["drops"]
        assert isinstance(drops, dict)
        t.add_row(n.config.name, n.node_id.hex()[:8], str(len(n.peers)), str(s["rx"]),
                  str(s["tx"]), str(s["relayed"]), str(s["delivered"]), str(sum(drops.values())))
    console.print(t)
    summary = {"nodes": count, "broadcasts_sent": sent_b,
               "broadcast_deliveries": got_b, "broadcast_possible": sent_b * (count - 1),
               "unicasts_sent": sent_u, "unicasts_delivered": got_u, "unicasts_acked": acked,
               "radio_tx": mesh.tx}
    console.print(f"broadcasts: {got_b}/{sent_b * (count - 1)} (message, node) deliveries; "
                  f"unicasts: {got_u}/{sent_u} delivered, {acked} acknowledged end to end; "
                  f"{mesh.tx} radio transmissions in all")
    return summary


def _live_table(snap: dict[str, Any]) -> Table:
    t = Table(title=f"virtual field deployment, t = {snap.get('t_s', 0):.0f} s "
                    f"({snap.get('delivered', 0)} deliveries so far)")
    for col in ("node", "state", "peers", "routes", "delivered", "heap free", "heap low"):
        t.add_column(col, justify="left" if col in ("node", "state") else "right")
    nodes = snap.get("nodes", {})
    for name in sorted(nodes, key=lambda n: int(n[1:]) if n[1:].isdigit() else 0):
        s = nodes[name]
        t.add_row(name, str(s.get("state", "")), str(s.get("peers", "")), str(s.get("routes", "")),
                  str(s.get("delivered", "")), _kb(s.get("heap_free")), _kb(s.get("heap_min")))
    return t


def _kb(v: Any) -> str:
    return f"{v / 1024:.0f} KB" if isinstance(v, int | float) else "-"


def field_demo(console: Console, out_dir: Path) -> dict[str, Any]:
    """Run the 8-board virtual field deployment; returns its metrics."""
    from bitmesh.sim.plot import plot
    from bitmesh.sim.scenario import load_scenario
    from bitmesh.vboard.vmesh import run_vmesh

    sc = load_scenario(DEMO_SCENARIO)
    console.print(f"[bold]bitmesh demo[/bold]: {len(sc.nodes)} virtual boards run the real "
                  f"firmware (MicroPython unix port, ESP32-sized heap) for {sc.duration_s:g} s; "
                  "n5 dies at 40 s and comes back at 55 s")
    with Live(_live_table({}), console=console, refresh_per_second=2) as live:
        res = run_vmesh(DEMO_SCENARIO, on_tick=lambda snap: live.update(_live_table(snap)))
    if not console.is_terminal:
        console.print()  # piped, the last table ends without a line break
    b = res.get("broadcast", {})
    u = res.get("unicast", {})
    heap = res.get("firmware", {}).get("heap_min_free", {})
    lows = [v for v in heap.values() if isinstance(v, int)]
    console.print(
        f"summary: broadcast delivery {b.get('delivery_ratio', 0):.1%} "
        f"({b.get('tx_per_message', 0):.1f} tx each); unicast {u.get('delivered', 0)}/"
        f"{u.get('sent', 0)} delivered ({u.get('delivery_ratio', 0):.1%}), "
        f"{u.get('hops_mean') or 0:.1f} hops mean, p50 latency "
        f"{u.get('latency_ms_p50') or 0} ms; lowest free heap on any board "
        f"{min(lows) // 1024 if lows else '?'} KB")
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / "demo-topology.png"
    res.setdefault("duration_s", sc.duration_s)
    try:
        plot(sc, [res], png)
        console.print(f"topology and relay load: {png}")
    except (KeyError, TypeError, ValueError) as exc:
        console.print(f"[yellow]no topology plot: {exc}[/yellow]")
    return res


@click.command("demo")
@click.option("--in-process", "in_process", is_flag=True,
              help="run core nodes in this process instead of virtual boards (fast)")
@click.option("--nodes", default=12, show_default=True, type=click.IntRange(2, 64),
              help="node count for --in-process")
@click.option("--no-bridge", is_flag=True, help="skip the MQTT bridge part even if mosquitto exists")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("build"),
              show_default=True, help="where the PNG goes")
def demo_cmd(in_process: bool, nodes: int, no_bridge: bool, out: Path) -> None:
    """A mesh at work with no hardware: virtual boards find each other, route
    around a dying node and chat; then two meshes bridged over MQTT."""
    console = Console()
    if in_process:
        in_process_demo(console, nodes)
        return
    field_demo(console, out)
    if no_bridge:
        return
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        console.print("[dim]mosquitto is not installed: skipping the two-mesh MQTT bridge part "
                      "(apt-get install mosquitto)[/dim]")
        return
    try:
        from bitmesh.gateway.demo import run_bridge_demo
    except ImportError as exc:
        raise BitmeshError(f"bridge demo unavailable: {exc}") from None
    run_bridge_demo(console)


def register(group: click.Group) -> None:
    group.add_command(demo_cmd)
