"""``bitmesh gateway``: join this laptop to a mesh and, optionally, meshes over MQTT.

    bitmesh gateway (--port P | --ble NAME_OR_ADDR | --virtual) [--listen 127.0.0.1:PORT]
                    [--mqtt mqtt://HOST:PORT] [--mesh-id ID] [--token-file F]
                    [--network NET] [--inventory PATH] [--key-file F]

The network key comes from the inventory (``bitmesh network create``) or from
``--key-file`` (64 hex digits). The laptop's node identity is kept (0600) in the
user config dir, or taken from an inventory node with ``--node``. ``--virtual``
attaches to an in-process virtual mesh of ``--virtual-nodes`` simulated nodes
(no hardware), and ``--virtual-bots N`` makes N of those nodes craps bots that
join table ``--bot-table`` when it opens (``bitmesh game craps --gateway``).
Runs until Ctrl-C; link and broker outages are retried forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import zlib
from pathlib import Path
from typing import Any

import click

from bitmesh.commands.network import inventory_option
from bitmesh.errors import UsageError
from bitmesh.gateway.api import event_json
from bitmesh.gateway.bridge import MESH_ID_RE, parse_broker
from bitmesh.gateway.links import BleLink, Link, SerialLink
from bitmesh.gateway.service import Gateway
from bitmesh.gateway.store import (
    config_dir,
    default_token_path,
    load_or_create_identity,
    load_or_create_token,
)
from bitmesh.inventory import Inventory
from bitmesh_core.events import Event


def register(group: click.Group) -> None:
    group.add_command(gateway_cmd)


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen {text!r} must look like 127.0.0.1:8765")
    return host, int(port)


def resolve_key(key_file: Path | None, network: str | None,
                inventory_path: Path | None) -> tuple[bytes, str | None, Inventory | None]:
    """(network key, network name, inventory) from --key-file or the inventory."""
    if key_file is not None:
        try:
            text = key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"cannot read key file {key_file}: {exc.strerror}") from exc
        try:
            key = bytes.fromhex(text)
        except ValueError:
            raise UsageError(f"key file {key_file} must hold 64 hex digits") from None
        if len(key) != 32:
            raise UsageError(f"key file {key_file} must hold 64 hex digits (32 bytes)")
        return key, network, None
    inv = Inventory.load(inventory_path)
    if network is None:
        if len(inv.networks) != 1:
            names = ", ".join(sorted(inv.networks)) or "none"
            raise UsageError(f"give --network NAME (networks in {inv.path}: {names}) "
                             "or --key-file F")
        network = next(iter(inv.networks))
    return inv.network(network).key_bytes, network, inv


@click.command("gateway")
@click.option("--port", "serial_port", metavar="P", help="Serial port of the gateway board.")
@click.option("--baud", type=int, default=115200, show_default=True)
@click.option("--ble", "ble_target", metavar="NAME_OR_ADDR", help="Reach the board over BLE.")
@click.option("--virtual", is_flag=True, help="Attach to an in-process virtual mesh.")
@click.option("--virtual-nodes", type=click.IntRange(1, 32), default=4, show_default=True)
@click.option("--virtual-bots", type=click.IntRange(0, 7), default=0, show_default=True,
              help="With --virtual: this many virtual nodes play craps as bots.")
@click.option("--bot-table", default="bitmesh", show_default=True,
              help="Table the virtual bots join when its host opens it.")
@click.option("--listen", default="127.0.0.1:8765", show_default=True,
              help="Address of the local WebSocket API.")
@click.option("--mqtt", "broker", metavar="mqtt://HOST:PORT", help="Bridge through this broker.")
@click.option("--mesh-id", help="This mesh's name on the broker (default: the network name).")
@click.option("--hop-budget", type=click.IntRange(1, 32), default=3, show_default=True,
              help="Radio hops a bridged frame may travel in this mesh.")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path),
              help="API token file, created 0600 when missing.")
@click.option("--network", help="Network (from the inventory) whose key to use.")
@click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Read the 32-byte network key (hex) from this file instead.")
@click.option("--node", "node_name", help="Use this inventory node's identity.")
@click.option("--identity-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Where this host node's identity lives (default: user config dir, "
                   "one per network and mesh id).")
@click.option("--json", "as_json", is_flag=True, help="Print start-up and events as JSON lines.")
@inventory_option
def gateway_cmd(serial_port: str | None, baud: int, ble_target: str | None, virtual: bool,
                virtual_nodes: int, virtual_bots: int, bot_table: str, listen: str, broker: str | None, mesh_id: str | None,
                hop_budget: int, token_file: Path | None, network: str | None,
                key_file: Path | None, node_name: str | None, identity_file: Path | None, as_json: bool,
                inventory_path: Path | None) -> None:
    """Run a host node on a mesh (through a board or a virtual mesh), serve the
    laptop API, and bridge to other meshes over MQTT."""
    if sum(x is not None and x is not False for x in (serial_port, ble_target, virtual)) != 1:
        raise UsageError("give exactly one of --port P, --ble NAME_OR_ADDR or --virtual")
    if virtual_bots and not virtual:
        raise UsageError("--virtual-bots needs --virtual")
    if virtual_bots >= virtual_nodes:
        raise UsageError(f"--virtual-bots {virtual_bots} needs --virtual-nodes of at least "
                         f"{virtual_bots + 1} (node 0 is the gateway's board)")
    listen_addr = parse_listen(listen)
    if broker:
        try:
            parse_broker(broker)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    key, net_name, inv = resolve_key(key_file, network, inventory_path)
    mesh = mesh_id or net_name or "local"
    if not MESH_ID_RE.match(mesh):
        raise UsageError("--mesh-id must be 1-64 characters of A-Z a-z 0-9 _ . -")
    secret = None
    if node_name is not None:
        if inv is None or net_name is None:
            raise UsageError("--node needs --network (the inventory holds node secrets)")
        nodes = inv.network(net_name).nodes
        if node_name not in nodes:
            raise UsageError(f"network {net_name} has no node {node_name!r}")
        secret = nodes[node_name].secret_bytes
    ident_file = identity_file or config_dir() / f"gateway-{net_name or 'keyfile'}-{mesh}.json"
    identity, boot = load_or_create_identity(ident_file, secret)
    token, created = load_or_create_token(token_file)
    tok_path = token_file or default_token_path()
    link: Link
    vmesh: Any = None
    if serial_port:
        link = SerialLink(serial_port, baud)
    elif ble_target:
        link = BleLink(ble_target)
    else:
        from bitmesh.gateway.virtual import VirtualMesh

        seed = zlib.crc32(mesh.encode()) & 0xFFFF  # distinct virtual nodes per mesh id
        vmesh = VirtualMesh(virtual_nodes, key, name=mesh[:8], seed=seed)
        link = vmesh.attach(0)
        if virtual_bots:
            vmesh.add_bots(list(range(1, virtual_bots + 1)), bot_table)
    gw = Gateway(identity, key, link, mesh_id=mesh, broker=broker, token=token,
                 listen=listen_addr, boot_count=boot, hop_budget=hop_budget)
    info = {"node_id": identity.node_id.hex(), "boot_count": boot, "mesh_id": mesh,
            "link": link.describe(), "api": f"ws://{listen_addr[0]}:{listen_addr[1]}",
            "token_file": str(tok_path), "token_created": created, "mqtt": broker,
            "bots": f"{virtual_bots} at table {bot_table}" if virtual_bots else None}
    try:
        asyncio.run(_serve(gw, vmesh, info, as_json))
    except KeyboardInterrupt:
        click.echo("gateway stopped", err=True)


async def _serve(gw: Gateway, vmesh: Any, info: dict[str, Any], as_json: bool) -> None:
    def show(ev: Event) -> None:
        d = event_json(ev)
        if d["ev"] in ("message",) and not as_json:
            return
        if as_json:
            click.echo(json.dumps({"t": round(time.time(), 3), **d}))
        elif d["ev"] in ("link", "mqtt", "peer_up", "peer_lost", "partition", "healed"):
            rest = " ".join(f"{k}={v}" for k, v in d.items() if k != "ev" and v not in ("", None))
            click.echo(f"{time.strftime('%H:%M:%S')} {d['ev']}: {rest}")

    gw.host.add_listener(show)
    if vmesh is not None:
        await vmesh.start()
    try:
        await gw.start()
    except OSError as exc:
        raise UsageError(f"cannot listen on {info['api']}: {exc.strerror}") from exc
    if as_json:
        click.echo(json.dumps({"ev": "started", **info}))
    else:
        click.echo(f"gateway node {info['node_id']} (boot {info['boot_count']}) on mesh "
                   f"{info['mesh_id']} via {info['link']}")
        click.echo(f"API {info['api']} (token in {info['token_file']}"
                   f"{', new' if info['token_created'] else ''}); "
                   f"MQTT {info['mqtt'] or 'off'}; Ctrl-C to stop")
        if info["bots"]:
            click.echo(f"virtual bots: {info['bots']} (open it with `bitmesh game craps "
                       f"--gateway {info['api']} --table NAME --host`)")
    try:
        await asyncio.Event().wait()
    finally:
        with contextlib.suppress(Exception):
            await gw.stop()
        if vmesh is not None:
            await vmesh.stop()
