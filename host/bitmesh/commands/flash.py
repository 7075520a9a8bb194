"""``bitmesh flash``: put the pinned MicroPython image on a board.

Tests inject a fake esptool through click's context object:
``CliRunner().invoke(group, args, obj={"esptool_runner": fake})``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from bitmesh import firmware_image, flashing
from bitmesh.boards import load_board

RUNNER_KEY = "esptool_runner"


def register(group: click.Group) -> None:
    """Add the ``flash`` command to ``group``."""
    group.add_command(flash_cmd)


@click.command("flash")
@click.option(
    "--port", required=True, envvar="BITMESH_PORT", help="Serial port, e.g. /dev/ttyUSB0."
)
@click.option("--board", "board_name", required=True, help="Board file name, e.g. esp32, esp32s3.")
@click.option(
    "--firmware",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Flash this image instead of downloading the board's pinned release.",
)
@click.option("--dry-run", is_flag=True, help="Print the esptool commands; touch nothing.")
@click.option(
    "--baud",
    type=click.IntRange(9600, 5_000_000),
    default=flashing.DEFAULT_BAUD,
    show_default=True,
    help="Baud rate for the transfer.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--verbose", "-v", is_flag=True, help="Show esptool's own output.")
@click.pass_context
def flash_cmd(
    ctx: click.Context,
    port: str,
    board_name: str,
    firmware: Path | None,
    dry_run: bool,
    baud: int,
    as_json: bool,
    verbose: bool,
) -> None:
    """Erase a board and write MicroPython to it, checking the chip first.

    \b
    Steps: esptool chip-id (the chip must match the board file), erase-flash,
    write-flash at the board's offset, verify-flash. Without --firmware the
    board file's pinned image is downloaded once into the user cache
    (BITMESH_CACHE overrides the folder) and its SHA-256 checked when pinned.
    """
    board = load_board(board_name)
    download: str | None = None
    if firmware is not None:
        firmware_image.check_image(firmware)
        image_path = firmware
    else:
        cache_dir = firmware_image.default_cache_dir()
        image_path = firmware_image.cached_image_path(board.image, cache_dir)
        if not image_path.is_file():
            download = board.image.url
    steps = flashing.plan_flash(board, port, image_path, baud)
    summary: dict[str, Any] = {
        "port": port,
        "board": board.name,
        "chip": board.chip,
        "image": f"{board.image.name} {board.image.version}" if firmware is None else None,
        "firmware": str(image_path),
        "offset": board.flash_offset_hex,
        "download": download,
        "commands": [list(step.argv) for step in steps],
        "dry_run": dry_run,
    }

    if dry_run:
        if as_json:
            click.echo(json.dumps(summary, indent=2))
            return
        if download is not None:
            click.echo(f"# would download {download}\n#   to {image_path}")
        for step in steps:
            click.echo(step.command)
        return

    def say(message: str) -> None:
        if not as_json:
            click.echo(message, err=True)

    # The port is checked first: a typo should not cost a download.
    flashing.check_port(port)
    if firmware is None:
        image_path = firmware_image.fetch_image(
            board.image, image_path.parent, progress=not as_json
        )

    obj = ctx.find_object(dict)
    runner = obj.get(RUNNER_KEY) if obj else None
    if runner is None:
        echo = (lambda line: click.echo(f"  {line}", err=True)) if verbose and not as_json else None
        runner = flashing.subprocess_runner(echo)

    def on_step(index: int, step: flashing.Step) -> None:
        say(f"[{index + 1}/{len(steps)}] {step.title}")

    description = flashing.execute(steps, board, port, runner, on_step)
    summary["detected"] = description
    summary["ok"] = True
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        what = summary["image"] or image_path.name
        say(f"flashed {what} to {description} on {port} at {board.flash_offset_hex}; verified")
