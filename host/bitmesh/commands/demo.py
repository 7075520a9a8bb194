"""`bitmesh demo`: see a mesh work, with no hardware."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from bitmesh.inprocess import DemoMesh


def in_process_demo(console: Console, count: int = 12) -> dict[str, int]:
    """Boot ``count`` core nodes in one process, let them discover each other,
    then exchange broadcasts and unicasts and summarise what arrived."""
    mesh = DemoMesh(count=count, router="flood")
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


@click.command("demo")
@click.option("--in-process", "in_process", is_flag=True,
              help="run core nodes in this process instead of virtual boards")
@click.option("--nodes", default=12, show_default=True, type=click.IntRange(2, 64))
def demo_cmd(in_process: bool, nodes: int) -> None:
    """A mesh at work, with no hardware: nodes find each other, then chat."""
    console = Console()
    in_process_demo(console, nodes)


def register(group: click.Group) -> None:
    group.add_command(demo_cmd)
