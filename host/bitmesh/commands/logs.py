"""``bitmesh logs``: collect logs from many boards (logcollect.py) and summarize
them (logsummary.py)."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from types import FrameType

import click
import serial
from rich.console import Console
from rich.table import Table

from bitmesh.errors import UsageError
from bitmesh.logcollect import MERGED, Collector, open_serial
from bitmesh.logsummary import draw_topology, read_records, summarize
from bitmesh.replconn import port_error


def register(group: click.Group) -> None:
    """Add the ``logs`` group (collect; ``logs summary DIR``) to ``group``."""
    group.add_command(logs_group)


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def check_logs_port(port: str) -> None:
    """One-line error for a missing, busy or forbidden port; keeps its input."""
    if not Path(port).exists():
        raise UsageError(f"no such port {port}: is the board plugged in?")
    try:
        open_serial(port).close()
    except (serial.SerialException, OSError) as exc:
        raise port_error(port, exc) from None


@click.group("logs", invoke_without_command=True)
@click.option("--port", "ports", multiple=True, envvar="BITMESH_PORT",
              help="A board's serial port; repeat for many boards.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for <node>.jsonl files and merged.jsonl.")
@click.option("--duration", type=float, default=None,
              help="Stop after this many seconds (default: until Ctrl-C).")
@click.option("--no-probe", is_flag=True,
              help="Do not ask boards for their name over the host link.")
@click.pass_context
def logs_group(ctx: click.Context, ports: tuple[str, ...], out: Path | None,
               duration: float | None, no_probe: bool) -> None:
    """Collect JSON log lines from one or more boards until Ctrl-C.

    \b
    bitmesh logs --port /dev/ttyUSB0 --port /dev/ttyUSB1 --out field-logs
    bitmesh logs summary field-logs --plot topo.png

    Opening a port does not reset the board. An unplugged board is waited
    for and picked up again; the gap is recorded as a {"gap": ...} line.
    """
    if ctx.invoked_subcommand is not None:
        return
    if not ports:
        raise UsageError("no port given: use --port P (repeat it for more boards)")
    if out is None:
        raise UsageError("no output folder given: use --out DIR")
    if len(set(ports)) != len(ports):
        raise UsageError("the same --port is given twice")
    for port in ports:
        check_logs_port(port)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {out}: {exc.strerror}") from None
    console = Console(stderr=True)
    collector = Collector(list(ports), out, probe=not no_probe)
    previous = signal.signal(signal.SIGTERM, _sigterm)
    console.print(f"collecting from {len(ports)} board(s) into {out}; Ctrl-C to stop")
    try:
        collector.run(duration)
    except KeyboardInterrupt:
        pass  # run() has stopped the readers and flushed every file
    finally:
        signal.signal(signal.SIGTERM, previous)
    counts = collector.sink.counts
    gaps = sum(r.gaps for r in collector.readers)
    console.print(f"wrote {sum(counts.values())} records from {len(counts)} node(s) to "
                  f"{out / MERGED}" + (f"; {gaps} reconnect(s)" if gaps else ""))


@logs_group.command("summary")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Draw the topology (peer_up links) into this PNG.")
def summary_cmd(folder: Path, as_json: bool, plot: Path | None) -> None:
    """Per-node counts, peers seen, drops by reason and heap lows of FOLDER."""
    summary = summarize(read_records(folder))
    if plot is not None:
        draw_topology(summary, plot)
        summary["plot"] = str(plot)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    table = Table(title=f"{folder}: {summary['records']} records")
    for col in ("node", "lines", "warn/error", "peers", "drops", "heap low", "gaps"):
        table.add_column(col)
    for name, n in summary["nodes"].items():
        lv = n["by_level"]
        drops = ", ".join(f"{k} {v}" for k, v in sorted(n["drops"].items())) or "-"
        table.add_row(name, str(n["lines"]), f"{lv.get('warn', 0)}/{lv.get('error', 0)}",
                      ", ".join(p[:8] for p in n["peers"]) or "-", drops,
                      str(n["heap_low"]) if n["heap_low"] is not None else "-",
                      f"{n['gaps']} ({n['gap_seconds']:.1f}s)" if n["gaps"] else "-")
    Console().print(table)
    if plot is not None:
        click.echo(f"topology: {plot}")
