"""``bitmesh deploy``: compile and copy the firmware, only what changed (deployer.py)."""

from __future__ import annotations

import json
from collections.abc import Callable

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from bitmesh.deployer import Artifact, deploy


def register(group: click.Group) -> None:
    """Add ``deploy`` to ``group``."""
    group.add_command(deploy_cmd)


@click.command("deploy")
@click.option("--port", envvar="BITMESH_PORT", help="Serial port of the board (or a vboard's pty).")
@click.option("--no-reset", is_flag=True, help="Do not soft-reset the board afterwards.")
@click.option("--timeout", type=float, default=8.0, show_default=True,
              help="Seconds to wait for the board to answer.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def deploy_cmd(port: str | None, no_reset: bool, timeout: float, as_json: bool) -> None:
    """Compile shared/bitmesh_core and firmware/ with mpy-cross and copy the files
    whose SHA-256 differs from the board's, then soft-reset the board."""
    console = Console(stderr=True)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), console=console,
                  transient=as_json, disable=as_json) as bar:

        def start(total: int, changed: list[Artifact]) -> Callable[[str, int], None]:
            if not changed:  # nothing to copy: no bar
                return lambda path, nbytes: None
            task = bar.add_task(f"{len(changed)} files", total=total)

            def advance(path: str, nbytes: int) -> None:
                bar.update(task, advance=nbytes, description=path)

            return advance

        result = deploy(port or "", reset=not no_reset, timeout=timeout, progress=start)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    n = len(result["changed"])
    what = (f"copied {n} of {result['files']} files ({result['bytes_written']} bytes)"
            if n else f"all {result['files']} files already up to date")
    removed = f", removed {len(result['removed'])} stale" if result["removed"] else ""
    reset = "; board soft-reset" if result["reset"] else ""
    click.echo(f"deployed to {port} ({result['arch'] or 'bytecode'}): {what}{removed}"
               f" in {result['seconds']:.1f}s{reset}")
