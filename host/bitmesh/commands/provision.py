"""``bitmesh provision``: give a board its identity and network (see provisioning.py)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from bitmesh.commands.network import inventory_option
from bitmesh.provisioning import bot_section, provision
from bitmesh_core.config import ROLES


def register(group: click.Group) -> None:
    """Add ``provision`` to ``group``."""
    group.add_command(provision_cmd)


@click.command("provision")
@click.option("--port", envvar="BITMESH_PORT", help="Serial port of the board (or a vboard's pty).")
@click.option("--name", required=True, help="Node name: 1-31 of a-z, 0-9, '_' and '-'.")
@click.option("--network", "network", required=True, help="A network of the inventory.")
@click.option("--role", default="relay", show_default=True, metavar="|".join(ROLES),
              help="What the node does in the mesh.")
@click.option("--board", default=None, help="Board file (boards/NAME.json): LED pin and radios.")
@click.option("--radios", default=None, metavar="espnow,ble",
              help="Radios to turn on (default: the network's, limited to the board's).")
@click.option("--force", is_flag=True, help="Re-provision a node name that already exists.")
@click.option("--no-reset", is_flag=True, help="Do not soft-reset the board afterwards.")
@click.option("--timeout", type=float, default=8.0, show_default=True,
              help="Seconds to wait for the board to answer.")
@click.option("--bot-table", metavar="NAME",
              help="Make the board a craps bot player at table NAME (config \"bot\").")
@click.option("--bot-host", is_flag=True, help="The bot opens (hosts) the table.")
@click.option("--bot-seats", type=click.IntRange(2, 8), default=4, show_default=True,
              help="Seats of the hosted table.")
@click.option("--bot-rounds", type=click.IntRange(1, 65535), default=20, show_default=True,
              help="Rounds of the hosted table.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@inventory_option
def provision_cmd(port: str | None, name: str, network: str, role: str, board: str | None,
                  radios: str | None, force: bool, no_reset: bool, timeout: float,
                  bot_table: str | None, bot_host: bool, bot_seats: int, bot_rounds: int,
                  as_json: bool, inventory_path: Path | None) -> None:
    """Write a fresh node identity and the network config to a board.

    The config goes to /config.json atomically (temp file, check, rename) and
    the node is recorded in the inventory with its secret. With --bot-table the
    board also plays craps as a bot at that table (--bot-host on one board to
    open it; the others join when they hear it).
    """
    bot = bot_section(bot_table, bot_host, bot_seats, bot_rounds)
    result = provision(port or "", name, network, role=role, board_name=board,
                       inventory_path=inventory_path, radios=radios, force=force,
                       reset=not no_reset, timeout=timeout, bot=bot)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    on = ",".join(r for r, v in result["radios"].items() if v)
    click.echo(f"provisioned {result['name']} (node id {result['node_id']}) on {port}: "
               f"network {network}, role {role}, radios {on}")
    if bot is not None:
        click.echo(f"bot: craps at table {bot['table']}"
                   + (f", hosting {bot['seats']} seats x {bot['rounds']} rounds"
                      if bot["host"] else ", joins when the table opens"))
    click.echo(f"recorded in {result['inventory']}"
               + ("; board soft-reset to apply it" if result["reset"] else ""))
