"""The `bitmesh` command table.

One click group; each domain module contributes its commands through a
``register(group)`` function listed in ``COMMAND_MODULES``. User mistakes are
raised as :class:`UsageError` (or click's own errors) and end as one line on
stderr with a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from bitmesh import __version__
from bitmesh.errors import BitmeshError

# Each module defines `register(group: click.Group) -> None`.
COMMAND_MODULES = [
    "bitmesh.commands.flash",
    "bitmesh.commands.network",
    "bitmesh.commands.packet",
    "bitmesh.commands.bench",
    "bitmesh.commands.demo",
    "bitmesh.commands.provision",
    "bitmesh.commands.deploy",
    "bitmesh.commands.status",
    "bitmesh.commands.logs",
    "bitmesh.commands.sim",
    "bitmesh.commands.gateway",
    "bitmesh.commands.client",
    "bitmesh.commands.vboard",
    "bitmesh.commands.relay",
    "bitmesh.commands.game",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="bitmesh")
def cli() -> None:
    """bitmesh: a self-healing mesh for games on ESP32 boards and laptops.

    \b
    Start with:   bitmesh demo          (no hardware needed)
    Boards:       bitmesh flash | deploy | provision | status | logs
    Research:     bitmesh sim --scenario FILE --router flood --router bitmesh
    """


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(cli)


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: run the command table, turning errors into one line."""
    try:
        return cli.main(args=argv, prog_name="bitmesh", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("bitmesh: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"bitmesh: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code if exc.exit_code else 2)
    except BitmeshError as exc:
        click.echo(f"bitmesh: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("bitmesh: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)


if __name__ == "__main__":
    main()
