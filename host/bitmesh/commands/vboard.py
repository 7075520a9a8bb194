"""``bitmesh vboard start|stop|list``, ``bitmesh vmesh`` and ``bitmesh build``.

Virtual boards run the real firmware on the MicroPython unix port with a
board-sized heap; their serial port is a pty (docs/FIRMWARE.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bitmesh.errors import UsageError


def register(group: click.Group) -> None:
    group.add_command(vboard)
    group.add_command(vmesh)
    group.add_command(build_cmd)


@click.group()
def vboard() -> None:
    """Virtual boards: the real firmware on the MicroPython unix port."""


@vboard.command("start")
@click.argument("board_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--deploy", is_flag=True, help="Copy the compiled firmware onto the board first.")
@click.option("--medium", help="UDP radio medium HOST:PORT (see bitmesh vmesh).")
@click.option("--label", help="Node label the medium knows this board by.")
@click.option("--heap", default="110wK", show_default=True, help="MicroPython -X heapsize.")
def start_cmd(board_dir: Path, deploy: bool, medium: str | None, label: str | None,
              heap: str) -> None:
    """Start a board whose filesystem is BOARD_DIR; prints its serial port last."""
    from bitmesh.vboard import manager

    if deploy:
        manager.deploy(board_dir)
    st = manager.start(board_dir, medium=medium, label=label, heap=heap)
    click.echo(f"virtual board {st['dir']} running (pid {st['pid']})")
    click.echo(st["port"])


@vboard.command("stop")
@click.argument("board_dir", type=click.Path(file_okay=False, path_type=Path))
def stop_cmd(board_dir: Path) -> None:
    """Stop the board running in BOARD_DIR."""
    from bitmesh.vboard import manager

    if not manager.stop(board_dir):
        raise UsageError(f"no virtual board runs in {board_dir}")
    click.echo(f"stopped {board_dir}")


@vboard.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_cmd(as_json: bool) -> None:
    """Running virtual boards."""
    from bitmesh.vboard import manager

    boards = manager.list_boards()
    if as_json:
        click.echo(json.dumps(boards, indent=1))
        return
    t = Table("dir", "port", "pid", "boots", "medium")
    for b in boards:
        t.add_row(b["dir"], b["port"], str(b["pid"]), str(b["boots"]), str(b.get("medium")))
    Console().print(t)


def _table(snap: dict[str, Any]) -> Table:
    t = Table("node", "state", "peers", "routes", "delivered", "heap free", "heap min",
              title=f"vmesh t={snap['t_s']}s  delivered={snap['delivered']}")
    for name, s in snap["nodes"].items():
        t.add_row(name, str(s["state"]), str(s["peers"]), str(s["routes"]),
                  str(s["delivered"]), str(s["heap_free"]), str(s["heap_min"]))
    return t


@click.command("vmesh")
@click.option("--scenario", "scenario", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the metrics (simulator schema, router 'firmware') here.")
@click.option("--logs", "logs_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write every board's log and event lines here, one JSONL per node.")
@click.option("--duration", type=float, help="Override the scenario's duration_s.")
@click.option("--quiet", is_flag=True, help="No live table.")
@click.option("--router", type=click.Choice(["flood", "managed", "bitmesh"]),
              help="Core router the boards run (default: the core's default).")
def vmesh(scenario: Path, json_out: Path | None, logs_dir: Path | None,
          duration: float | None, quiet: bool, router: str | None) -> None:
    """Play a scenario on virtual boards running the real firmware (<= 12 nodes)."""
    from rich.live import Live

    from bitmesh.vboard.vmesh import run_vmesh

    console = Console(stderr=True)
    if quiet:
        res = run_vmesh(scenario, duration, None, logs_dir, router=router)
    else:
        with Live(console=console, refresh_per_second=2) as live:
            res = run_vmesh(scenario, duration, lambda s: live.update(_table(s)), logs_dir,
                            router=router)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps([res], indent=1))
    b, u = res["broadcast"], res["unicast"]
    click.echo(f"{res['scenario']}: {res['nodes']} boards, broadcast {b['delivery_ratio']}, "
               f"unicast {u['delivery_ratio']} ({u['delivered']}/{u['sent']}), "
               f"lowest heap {min((v for v in res['firmware']['heap_min_free'].values() if v), default=None)}")


@click.command("build")
@click.option("--out", "out", default="build/firmware", show_default=True,
              type=click.Path(file_okay=False, path_type=Path))
@click.option("--arch", help="mpy-cross -march (xtensawin, rv32imc, x64); default portable.")
@click.option("--board", "board", help="Take the arch from a board file (esp32, esp32c3, ...).")
@click.option("--romfs", "romfs", type=click.Path(dir_okay=False, path_type=Path),
              help="Also pack lib/ into this ROMFS image, for firmware built with ROMFS "
                   "(deploy it with `mpremote romfs deploy IMAGE`).")
def build_cmd(out: Path, arch: str | None, board: str | None, romfs: Path | None) -> None:
    """Compile the core and the firmware to .mpy (mpy-cross) in the board layout."""
    from bitmesh import build

    if board:
        from bitmesh.boards import load_board

        chip = str(getattr(load_board(board), "chip", "")).upper()
        arch = build.ARCH_BY_CHIP.get(chip, arch)
    manifest = build.build(out, arch)
    click.echo(f"built {len(manifest)} files into {out}" + (f" (-march={arch})" if arch else ""))
    if romfs is not None:
        image = build.romfs_image(out)
        romfs.parent.mkdir(parents=True, exist_ok=True)
        romfs.write_bytes(image)
        click.echo(f"ROMFS image {romfs}: {len(image)} bytes")
