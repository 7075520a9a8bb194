"""``bitmesh sim``: run a scenario under one or more routers, side by side.

Every router runs on the same placement, loss draws and traffic; the table
compares them line by line, ``--json`` writes one metrics object per router
(FORMAT.md) and ``--plot`` draws the topology, load and results.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from bitmesh.errors import UsageError


def register(group: click.Group) -> None:
    """Add ``sim`` to ``group``."""
    group.add_command(sim_command)


@click.command("sim")
@click.option("--scenario", "scenario_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Scenario file (JSON, see docs/SIM.md).")
@click.option("--router", "routers", multiple=True, default=("flood",), show_default=True,
              help="Router to run (flood, managed, bitmesh); repeat to compare.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the list of metrics objects here ('-' for stdout).")
@click.option("--plot", "plot_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a PNG figure (topology, relay load, delivery, overhead).")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), help="Override the scenario seed.")
@click.option("--duration", type=click.FloatRange(0.001, 10**7),
              help="Override duration_s (simulated seconds).")
@click.option("--quiet", is_flag=True, help="No table, no progress; only errors.")
def sim_command(scenario_path: Path, routers: tuple[str, ...], json_out: Path | None,
                plot_out: Path | None, seed: int | None, duration: float | None,
                quiet: bool) -> None:
    """Simulate a mesh scenario with real bitmesh_core nodes on a virtual clock.

    \b
    Example:
      bitmesh sim --scenario random-200.json --router flood --router managed \\
                  --plot out.png --json out.json
    """
    from bitmesh.sim.engine import check_router, run_scenario
    from bitmesh.sim.report import notes, table
    from bitmesh.sim.scenario import load_scenario

    order: list[str] = []
    for r in routers:
        if r not in order:
            order.append(r)
    for r in order:
        check_router(r)
    sc = load_scenario(scenario_path, seed=seed)
    console = Console(stderr=json_out is not None and str(json_out) == "-")
    results = []
    for r in order:
        if quiet:
            results.append(run_scenario(sc, r, duration))
        else:
            with console.status(f"simulating {sc.name} with {r} ..."):
                results.append(run_scenario(sc, r, duration))
    if json_out is not None:
        text = json.dumps(results, indent=1)
        if str(json_out) == "-":
            click.echo(text)
        else:
            try:
                json_out.write_text(text + "\n")
            except OSError as exc:
                raise UsageError(f"cannot write {json_out}: {exc.strerror or exc}") from None
    if plot_out is not None:
        from bitmesh.sim.plot import plot

        try:
            plot(sc, results, plot_out)
        except OSError as exc:
            raise UsageError(f"cannot write {plot_out}: {exc.strerror or exc}") from None
    if not quiet:
        console.print(table(results))
        for line in notes(results):
            console.print(f"[yellow]note:[/] {line}")
