"""`bitmesh bench`: run every benchmark, write JSON, print a table."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from bitmesh.bench import run_all

TARGETS = {
    "hash_viper_speedup": ">= 15x (a plain FNV viper loop: ~16x)",
    "forward_us_micropython": "<= 50 us on the unix port (median batch; load-sensitive)",
    "forward_us_micropython_best": "fastest of 30 batches (a slow machine still shows: see hash_py_us)",
    "forward_instr_micropython": "instructions per relayed frame (valgrind; load-free, to compare changes)",
    "forward_alloc_bytes_micropython": "bytes allocated per relayed frame (GC pressure)",
    "heap64_ok": "1 = every table full fits 64wK with the code loaded into RAM",
    "heap64_romfs_ok": "1 = every table full fits 64wK with the code in flash (ROMFS)",
    "heap110_ok": "1 = fits a plain ESP32's 110wK, code in RAM (passes from 109wK)",
    "heap96_romfs_ok": "1 = fits 96wK with the code in flash (passes from 90wK)",
    "heap64_flood_ok": "flood router, every table full, code in RAM (passes from 72wK)",
    "heap64_flood_romfs_ok": "1 = flood router, every table full, code in flash (from 60wK)",
    "router_bcast_tx_ratio": "bitmesh / flood tx per broadcast, 10x10 grid at 10% loss (<= 0.5)",
    "router_bcast_delivery_bitmesh": ">= 0.99 (same run as the flood figures beside it)",
    "router_ucast_delivery_bitmesh": ">= 0.99, and never below flooding's",
}


@click.command("bench")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("build/bench.json"), show_default=True, help="where to write the JSON")
@click.option("--json", "as_json", is_flag=True, help="print the JSON instead of a table")
def bench_cmd(out: Path, as_json: bool) -> None:
    """Measure the core, memory, simulator, host link, gateway and games.

    Figures compare alternatives side by side (viper against pure Python, our
    router against flooding); nothing here is a pass/fail test."""
    console = Console(stderr=True)
    with console.status("benchmarking…") as status:
        res = run_all(lambda name: status.update(f"benchmarking {name}…"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    if as_json:
        click.echo(json.dumps(res, indent=2, sort_keys=True))
        return
    t = Table(title=f"bitmesh bench ({out})")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_column("target / note")
    for k, v in res["figures"].items():
        t.add_row(k, f"{v:.3g}" if isinstance(v, float) else str(v), TARGETS.get(k, ""))
    for k, why in res["skipped"].items():
        t.add_row(f"[dim]{k}[/dim]", "[dim]skipped[/dim]", f"[dim]{why}[/dim]")
    Console().print(t)


def register(group: click.Group) -> None:
    group.add_command(bench_cmd)
