"""Provisioning: a node identity, its ``/config.json`` and its inventory record.

Order of work, so that nothing is half done:

1. Everything is validated before the board is touched: the node name, the
   role, the network (it must exist in the inventory), the node name being
   free (unless ``force``), the board file and the radios.
2. The config is written to ``/config.json.tmp``, its SHA-256 is checked *on
   the board*, and only then is it renamed over ``/config.json``. A reset at
   any point leaves either the old config or the new one, never a torn file
   (LittleFS and POSIX rename replace atomically; FAT refuses to rename over
   a file, so there the old one is removed first and the firmware's loader,
   firmware/fwconfig.py, falls back to ``config.json.tmp``).
3. The node is recorded in the inventory (under its lock) once the board
   holds the config.

The config layout (docs/FIRMWARE.md is the reference)::

    {"name": str, "role": str,
     "network": {"name": str, "key": 64 hex, "channel": 1..13},
     "node_secret": 64 hex,
     "radios": {"espnow": bool, "ble": bool},
     "led_pin": int | null, "led_type": "gpio" | "ws2812" | null,
     "board": str | null, "node": {},                      # NodeConfig overrides
     "bot": {"game": "craps", "table": str, "host": bool,  # only with --bot-table
             "seats": 2..8, "rounds": 1..65535}}
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bitmesh.boards import Board, load_board
from bitmesh.errors import BitmeshError, UsageError
from bitmesh.inventory import DEFAULT_BITRATE, Inventory, Network, check_name
from bitmesh.replconn import BoardRepl
from bitmesh_core.config import ROLES
from bitmesh_core.identity import node_id_from_secret

RADIOS = ("espnow", "ble")
CONFIG_PATH = "/config.json"
TMP_PATH = "/config.json.tmp"


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UsageError(f"bad role {role!r}: use one of {', '.join(ROLES)}")
    return role


def parse_radios(text: str | None, network: Network, board: Board | None) -> dict[str, bool]:
    """Radios the node turns on: ``--radios`` if given, else the network's
    settings, always limited to what the board supports."""
    if text is None:
        wanted = {"espnow": network.radio.espnow, "ble": network.radio.ble}
    else:
        names = [x.strip() for x in text.split(",") if x.strip()]
        bad = [x for x in names if x not in RADIOS]
        if bad or not names:
            raise UsageError(
                f"bad --radios {text!r}: give a comma-separated list of {', '.join(RADIOS)}"
            )
        wanted = {r: r in names for r in RADIOS}
    if board is not None:
        missing = [r for r in RADIOS if wanted[r] and r not in board.radios]
        if text is not None and missing:
            raise UsageError(f"board {board.name} has no {', '.join(missing)} radio")
        wanted = {r: wanted[r] and r in board.radios for r in RADIOS}
    if not any(wanted.values()):
        raise UsageError("at least one radio (espnow or ble) must be on")
    return wanted


def bot_section(table: str | None, host: bool = False, seats: int = 4,
                rounds: int = 20) -> dict[str, Any] | None:
    """The ``bot`` section (docs/FIRMWARE.md) for ``--bot-table``, or None."""
    if table is None:
        if host:
            raise UsageError("--bot-host needs --bot-table NAME")
        return None
    if not 0 < len(table) <= 31:
        raise UsageError(f"bad --bot-table {table!r}: 1..31 characters")
    if not 2 <= seats <= 8:
        raise UsageError(f"bad --bot-seats {seats}: 2..8")
    if not 1 <= rounds <= 65535:
        raise UsageError(f"bad --bot-rounds {rounds}: 1..65535")
    return {"game": "craps", "table": table, "host": host, "seats": seats, "rounds": rounds}


def build_config(
    name: str,
    role: str,
    network: Network,
    secret: bytes,
    radios: dict[str, bool],
    board: Board | None,
    bot: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``/config.json`` document for one node."""
    cfg: dict[str, Any] = {
        "name": name,
        "role": role,
        "network": {"name": network.name, "key": network.key, "channel": network.channel},
        "node_secret": secret.hex(),
        "radios": dict(radios),
        "led_pin": board.led_pin if board is not None else None,
        "led_type": board.led_type if board is not None else None,
        "board": board.name if board is not None else None,
        "node": {},
    }
    if network.radio.bitrate_bps != DEFAULT_BITRATE:
        cfg["node"]["bitrate_bps"] = network.radio.bitrate_bps  # the airtime budget's rate
    if bot is not None:
        cfg["bot"] = dict(bot)
    return cfg


def config_bytes(config: dict[str, Any]) -> bytes:
    return (json.dumps(config, separators=(",", ":"), sort_keys=True) + "\n").encode()


_HASH_CODE = """import hashlib,binascii
try:
 _f=open(%r,'rb')
except OSError:
 print('null')
else:
 _h=hashlib.sha256()
 while True:
  _b=_f.read(512)
  if not _b: break
  _h.update(_b)
 _f.close()
 print('"'+binascii.hexlify(_h.digest()).decode()+'"')
"""

# Relative names after chdir('/'): VfsPosix (virtual boards) mishandles
# absolute paths in rename.
# FAT refuses to rename over a file: remove the old one first there (the
# firmware's loader falls back to config.json.tmp if a reset hits in between).
_RENAME_CODE = """import os
os.chdir('/')
try:
 os.rename('config.json.tmp','config.json')
except OSError:
 os.remove('config.json')
 os.rename('config.json.tmp','config.json')
"""


def board_sha256(repl: BoardRepl, path: str) -> str | None:
    """The SHA-256 (hex) of ``path`` computed on the board, None if absent."""
    value = repl.exec_json(_HASH_CODE % path)
    return value if isinstance(value, str) else None


def write_config_atomically(
    repl: BoardRepl, data: bytes, after_tmp: Callable[[], None] | None = None
) -> None:
    """Write ``data`` as ``/config.json``: temp file, on-board hash check, rename.

    ``after_tmp`` runs between the verified temp write and the rename (tests
    use it to kill the board at the worst moment).
    """
    want = hashlib.sha256(data).hexdigest()
    repl.write_file(TMP_PATH, data)
    if board_sha256(repl, TMP_PATH) != want:
        raise BitmeshError(
            f"board on {repl.port}: {TMP_PATH} did not read back as written; "
            "the old config is untouched"
        )
    if after_tmp is not None:
        after_tmp()
    repl.exec(_RENAME_CODE)
    if board_sha256(repl, CONFIG_PATH) != want:
        raise BitmeshError(f"board on {repl.port}: {CONFIG_PATH} is not what was written")


def read_board_config(repl: BoardRepl) -> dict[str, Any] | None:
    """The board's current config, or None if it has none or it is unreadable."""
    raw = repl.read_file(CONFIG_PATH)
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def provision(
    port: str,
    name: str,
    network_name: str,
    role: str = "relay",
    board_name: str | None = None,
    inventory_path: Path | None = None,
    radios: str | None = None,
    force: bool = False,
    reset: bool = True,
    timeout: float = 8.0,
    after_tmp: Callable[[], None] | None = None,
    bot: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Provision the board on ``port``; return what was done (for ``--json``).
    ``bot``: a :func:`bot_section` to make the board a craps bot player."""
    check_name(name, "node")
    check_role(role)
    inv = Inventory.load(inventory_path)
    network = inv.network(network_name)
    if name in network.nodes and not force:
        raise UsageError(
            f"node {name!r} already exists in network {network_name!r}; "
            "use --force to provision it again with a new identity"
        )
    board = load_board(board_name) if board_name else None
    wanted = parse_radios(radios, network, board)

    secret = secrets.token_bytes(32)
    node_id = node_id_from_secret(secret)
    config = build_config(name, role, network, secret, wanted, board, bot)
    data = config_bytes(config)

    with BoardRepl(port, timeout=timeout) as repl:
        previous = read_board_config(repl)
        write_config_atomically(repl, data, after_tmp)
        if reset:
            repl.soft_reset()

    with Inventory.locked(inv.path) as locked:
        locked.add_node(
            network_name, name, node_id, secret, role, port, board_name, replace=force
        )
    return {
        "ok": True,
        "port": port,
        "name": name,
        "node_id": node_id.hex(),
        "network": network_name,
        "role": role,
        "board": board_name,
        "radios": wanted,
        "inventory": str(inv.path),
        "replaced_config": previous.get("name") if previous else None,
        "reset": reset,
        "bot": bot,
    }
