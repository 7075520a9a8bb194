"""``bitmesh network create|show|export|import``: the networks of the inventory.

Every subcommand takes ``--inventory PATH`` (or ``BITMESH_INVENTORY``);
other command modules reuse :data:`inventory_option` for the same choice.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from bitmesh.errors import UsageError
from bitmesh.inventory import (
    Inventory,
    Network,
    SchemaError,
    check_name,
    fingerprint,
    network_to_json,
)
from bitmesh.network_export import export_network, import_network
from bitmesh.privatefile import write_private

F = TypeVar("F", bound=Callable[..., Any])


def inventory_option(func: F) -> F:
    """The shared ``--inventory PATH`` option (env BITMESH_INVENTORY)."""
    return click.option(
        "--inventory",
        "inventory_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="BITMESH_INVENTORY",
        help="Inventory file (default: the user config dir's bitmesh/inventory.json).",
    )(func)


def register(group: click.Group) -> None:
    """Add the ``network`` command group to ``group``."""
    group.add_command(network_group)


@click.group("network")
def network_group() -> None:
    """Create, inspect, export and import mesh networks (keys and nodes)."""


@network_group.command("create")
@click.argument("name")
@click.option(
    "--channel",
    type=click.IntRange(1, 13),
    default=1,
    show_default=True,
    help="WiFi channel every node of the mesh sits on.",
)
@click.option(
    "--key",
    "key_hex",
    metavar="HEX",
    help="Use this 32-byte key (64 hex digits) instead of a random one.",
)
@inventory_option
def create_cmd(name: str, channel: int, key_hex: str | None, inventory_path: Path | None) -> None:
    """Create network NAME with a fresh random 32-byte key."""
    check_name(name)
    with Inventory.locked(inventory_path) as inv:
        net = inv.create_network(name, channel=channel, key=key_hex)
    click.echo(
        f"created network {net.name} on channel {net.channel} in {inv.path} "
        f"(key fingerprint {net.key_fingerprint})"
    )


@network_group.command("show")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@click.option("--show-secrets", is_flag=True, help="Print the network key and node secrets.")
@inventory_option
def show_cmd(
    name: str | None, as_json: bool, show_secrets: bool, inventory_path: Path | None
) -> None:
    """List the networks, or show network NAME and its nodes (secrets masked)."""
    inv = Inventory.load(inventory_path)
    selected = (
        [inv.network(name)] if name is not None else [inv.networks[n] for n in sorted(inv.networks)]
    )
    if as_json:
        doc: dict[str, Any] = {
            "inventory": str(inv.path),
            "networks": {net.name: _public(net, show_secrets) for net in selected},
        }
        click.echo(json.dumps(doc, indent=2))
        return
    if not selected:
        click.echo(f"no networks in {inv.path}; create one with `bitmesh network create NAME`")
        return
    if name is None:
        for net in selected:
            radios = "+".join(r for r in ("espnow", "ble") if getattr(net.radio, r))
            click.echo(
                f"{net.name:<32} channel {net.channel:<2}  {radios:<10}  "
                f"{len(net.nodes)} node(s)  created {net.created}"
            )
        return
    _show_one(selected[0], show_secrets)


def _public(net: Network, show_secrets: bool) -> dict[str, Any]:
    body = network_to_json(net)
    body["key_fingerprint"] = net.key_fingerprint
    if not show_secrets:
        body["key"] = None
        for node in body["nodes"].values():
            node["secret_fingerprint"] = fingerprint(node["secret"])
            node["secret"] = None
    return body


def _show_one(net: Network, show_secrets: bool) -> None:
    key = net.key if show_secrets else f"hidden (fingerprint {net.key_fingerprint})"
    radios = [r for r in ("espnow", "ble") if getattr(net.radio, r)]
    click.echo(f"network   {net.name}")
    click.echo(f"key       {key}")
    click.echo(f"channel   {net.channel}")
    click.echo(f"radios    {', '.join(radios)} at {net.radio.bitrate_bps} bit/s")
    click.echo(f"created   {net.created}")
    if not net.nodes:
        click.echo("nodes     none yet")
        return
    click.echo(f"nodes     {len(net.nodes)}")
    for node_name, node in sorted(net.nodes.items()):
        secret = node.secret if show_secrets else "hidden"
        click.echo(
            f"  {node_name:<20} id {node.node_id}  {node.role:<8} "
            f"board {node.board or '-':<8} port {node.port or '-'}  "
            f"provisioned {node.provisioned}  secret {secret}"
        )


@network_group.command("export")
@click.argument("name")
@click.option(
    "--out",
    "out",
    default="-",
    show_default=True,
    metavar="FILE|-",
    help="Write here (mode 0600); '-' is stdout.",
)
@inventory_option
def export_cmd(name: str, out: str, inventory_path: Path | None) -> None:
    """Write network NAME, key, nodes and secrets included, as one JSON document."""
    net = Inventory.load(inventory_path).network(name)
    text = json.dumps(export_network(net), indent=2) + "\n"
    if out == "-":
        click.echo(text, nl=False)
        return
    write_private(Path(out), text)
    click.echo(f"exported network {name} ({len(net.nodes)} node(s)) to {out}", err=True)


@network_group.command("import")
@click.argument("file", metavar="FILE|-")
@click.option("--name", "new_name", help="Import under this name instead of the exported one.")
@click.option("--force", is_flag=True, help="Replace a network of the same name.")
@inventory_option
def import_cmd(file: str, new_name: str | None, force: bool, inventory_path: Path | None) -> None:
    """Add the network exported in FILE ('-' for stdin) to the inventory."""
    if new_name is not None:
        check_name(new_name)
    source = "stdin" if file == "-" else file
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{file} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {file}: {exc}") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{source} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from exc
    try:
        net = import_network(doc, new_name)
    except SchemaError as exc:
        raise UsageError(f"{source} is not a valid network export: {exc}") from exc
    with Inventory.locked(inventory_path) as inv:
        replaced = net.name in inv.networks
        inv.put_network(net, replace=force)
    verb = "replaced" if replaced else "imported"
    click.echo(
        f"{verb} network {net.name} ({len(net.nodes)} node(s), key fingerprint "
        f"{net.key_fingerprint}) into {inv.path}"
    )
