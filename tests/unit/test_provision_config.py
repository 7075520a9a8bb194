"""The config `bitmesh provision` writes is one the firmware's loader accepts."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from bitmesh.boards import load_board
from bitmesh.errors import UsageError
from bitmesh.inventory import Inventory, Radio
from bitmesh.provisioning import (
    bot_section,
    build_config,
    check_role,
    config_bytes,
    parse_radios,
)

ROOT = Path(__file__).resolve().parents[2]


def fwconfig() -> Any:
    spec = importlib.util.spec_from_file_location("fwconfig", ROOT / "firmware" / "fwconfig.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_config_passes_the_firmware_validator(tmp_path: Path) -> None:
    net = Inventory(tmp_path / "i.json").create_network("home", channel=11)
    board = load_board("esp32c3")
    radios = parse_radios(None, net, board)
    cfg = build_config("n-1", "gateway", net, bytes(range(32)), radios, board)
    assert fwconfig().validate(cfg) is None
    assert config_bytes(cfg).endswith(b"\n") and cfg["board"] == "esp32c3"


def test_network_bitrate_reaches_the_node_config(tmp_path: Path) -> None:
    inv = Inventory(tmp_path / "i.json")
    slow = inv.create_network("slow", radio=Radio(True, False, 250_000))
    cfg = build_config("n-3", "relay", slow, bytes(32), {"espnow": True, "ble": False}, None)
    assert cfg["node"] == {"bitrate_bps": 250_000}
    assert fwconfig().validate(cfg) is None
    plain = inv.create_network("plain")
    assert build_config("n-4", "relay", plain, bytes(32), {"espnow": True, "ble": False},
                        None)["node"] == {}


def test_bot_section_passes_the_firmware_validator(tmp_path: Path) -> None:
    net = Inventory(tmp_path / "i.json").create_network("home")
    bot = bot_section("table-1", host=True, seats=3, rounds=5)
    cfg = build_config("n-2", "relay", net, bytes(32), {"espnow": True, "ble": False}, None,
                       bot)
    fw = fwconfig()
    assert fw.validate(cfg) is None and fw.bot_error(cfg["bot"]) is None
    assert cfg["bot"] == {"game": "craps", "table": "table-1", "host": True, "seats": 3,
                          "rounds": 5}
    assert bot_section(None) is None and "bot" not in build_config(
        "n-3", "relay", net, bytes(32), {"espnow": True, "ble": False}, None)
    with pytest.raises(UsageError, match="--bot-host needs --bot-table"):
        bot_section(None, host=True)
    with pytest.raises(UsageError, match="--bot-table"):
        bot_section("x" * 40)


def test_radios_and_roles() -> None:
    net = Inventory(Path("/nonexistent/i.json")).create_network("home")
    net.radio.ble = False
    assert parse_radios(None, net, None) == {"espnow": True, "ble": False}
    assert parse_radios("ble", net, None) == {"espnow": False, "ble": True}
    with pytest.raises(UsageError, match="bad --radios"):
        parse_radios("espnow,lora", net, None)
    net.radio.espnow = False
    with pytest.raises(UsageError, match="at least one radio"):
        parse_radios(None, net, None)
    with pytest.raises(UsageError, match="bad role"):
        check_role("king")
