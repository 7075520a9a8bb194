"""``bitmesh status``: what one board is doing, over the host link (op ``status``).

The JSON form (``--json``) is the board's status object (docs/PROTOCOL.md,
"Status schema") with ``port`` added; docs/HOST.md documents it.
"""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bitmesh.errors import BitmeshError
from bitmesh.hostlink import HostLink, HostLinkError
from bitmesh.replconn import check_port


def register(group: click.Group) -> None:
    """Add ``status`` to ``group``."""
    group.add_command(status_cmd)


def read_status(port: str, timeout: float = 3.0) -> dict[str, Any]:
    """The board's status object plus ``port``; one-line errors."""
    check_port(port)
    try:
        with HostLink(port) as link:
            reply = link.request("status", timeout=timeout)
    except HostLinkError as exc:
        if "no reply" in str(exc):
            raise BitmeshError(
                f"board on {port} does not answer the host link within {timeout:g}s: "
                "is the bitmesh firmware running? (bitmesh deploy --port ...)"
            ) from None
        raise
    status = reply.get("status")
    if not isinstance(status, dict):
        raise BitmeshError(f"board on {port} sent a status reply without a status object")
    return {"port": port, **status}


def _quality(peer: dict[str, Any]) -> str:
    """A link-quality word from loss (%) and RSSI, for people."""
    loss = peer.get("loss")
    rssi = peer.get("rssi")
    if isinstance(loss, (int, float)) and loss >= 30:
        return "poor"
    if isinstance(rssi, (int, float)) and rssi < -85:
        return "weak"
    if isinstance(loss, (int, float)) and loss >= 10:
        return "fair"
    return "good"


def _bot(svc: Any) -> str:
    """The craps bot line: off, disabled, or its table and progress."""
    if not isinstance(svc, dict) or svc.get("bot") in (None, "off"):
        return "off"
    if svc.get("bot") != "running":
        return str(svc.get("bot"))
    where = f"table {svc.get('table', '?')}"
    if "state" in svc:
        return f"{where}: {svc['state']}, round {svc.get('round')}/{svc.get('rounds')}"
    return f"{where}: waiting for it to open"


def render(status: dict[str, Any], console: Console) -> None:
    radios = status.get("radios") or {}
    heap = status.get("heap") or {}
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    for label, value in (
        ("node", f"{status.get('name', '?')}  ({status.get('node_id', '?')})"),
        ("state", f"{status.get('state', '?')}"
                  + (f": {status['reason']}" if status.get("reason") else "")),
        ("role", status.get("role", "?")),
        ("network", f"{status.get('network', '?')} (channel {status.get('channel', '?')})"),
        ("radios", ", ".join(f"{k} {v}" for k, v in radios.items()) or "-"),
        ("heap", f"free {heap.get('free', '?')} B, lowest {heap.get('min_free', '?')} B"),
        ("uptime", f"{(status.get('uptime_ms') or 0) / 1000:.0f}s, boot "
                   f"#{status.get('boot_count', '?')}, firmware {status.get('fw', '?')}"),
        ("bot", _bot(status.get("services"))),
    ):
        head.add_row(label, str(value))
    console.print(head)

    peers = Table(title="peers", title_justify="left")
    for col in ("id", "iface", "rssi", "loss %", "latency ms", "quality", "age ms"):
        peers.add_column(col)
    for p in status.get("peers") or []:
        peers.add_row(str(p.get("id", "?")), str(p.get("iface", "")), str(p.get("rssi", "")),
                      str(p.get("loss", "")), str(p.get("latency_ms", "")), _quality(p),
                      str(p.get("age_ms", "")))
    console.print(peers)

    routes = Table(title="routes", title_justify="left")
    for col in ("dst", "next hop", "hops"):
        routes.add_column(col)
    for r in status.get("routes") or []:
        routes.add_row(str(r.get("dst")), str(r.get("next_hop")), str(r.get("hops")))
    console.print(routes)

    counters = status.get("counters") or {}
    flat = {k: v for k, v in counters.items() if isinstance(v, (int, float))}
    drops = counters.get("drops") or {}
    line = "  ".join(f"{k} {v}" for k, v in sorted(flat.items()))
    console.print(f"[bold]counters[/bold] {line or '-'}")
    if drops:
        console.print("[bold]drops[/bold] "
                      + "  ".join(f"{k} {v}" for k, v in sorted(drops.items())))


@click.command("status")
@click.option("--port", envvar="BITMESH_PORT", help="Serial port of the board (or a vboard's pty).")
@click.option("--timeout", type=float, default=3.0, show_default=True,
              help="Seconds to wait for the board's reply.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON object.")
def status_cmd(port: str | None, timeout: float, as_json: bool) -> None:
    """Node id, name, role, radios, peers with link quality, routes, counters and
    heap of one board, read over the host link without resetting it."""
    status = read_status(port or "", timeout)
    if as_json:
        click.echo(json.dumps(status, indent=2))
    else:
        render(status, Console())
