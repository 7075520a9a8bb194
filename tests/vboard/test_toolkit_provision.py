"""`bitmesh provision` against a MicroPython VM on a pty, through the real mpremote."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

sys.path.insert(0, str(Path(__file__).parent))
from toolkit_boards import PtyBoard, one_line_error, run_cli  # noqa: E402

from bitmesh.errors import BitmeshError  # noqa: E402
from bitmesh.inventory import Inventory  # noqa: E402
from bitmesh.provisioning import provision  # noqa: E402
from bitmesh_core.identity import node_id_from_secret  # noqa: E402

pytestmark = pytest.mark.vboard


@pytest.fixture
def board(tmp_path: Path) -> Iterator[PtyBoard]:
    b = PtyBoard(tmp_path / "board")
    b.start()
    yield b
    b.kill()


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "inventory.json"
    inv = Inventory(path)
    inv.create_network("home", channel=6)
    inv.save()
    return path


def test_provision_writes_config_and_records_node(board: PtyBoard, inventory: Path) -> None:
    proc = run_cli("provision", "--port", board.port, "--name", "table-1", "--network", "home",
                   "--role", "leaf", "--board", "esp32", "--inventory", str(inventory),
                   "--no-reset", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    config = json.loads((board.fs / "config.json").read_text())
    assert not (board.fs / "config.json.tmp").exists()
    net = Inventory.load(inventory).network("home")
    assert config["name"] == "table-1" and config["role"] == "leaf"
    assert config["network"] == {"name": "home", "key": net.key, "channel": 6}
    assert config["led_pin"] == 2
    assert config["radios"] == {"espnow": True, "ble": True}
    secret = bytes.fromhex(config["node_secret"])
    node = net.nodes["table-1"]
    assert node.secret == config["node_secret"]
    assert node.node_id == node_id_from_secret(secret).hex() == result["node_id"]
    assert node.role == "leaf" and node.board == "esp32"
    assert oct(inventory.stat().st_mode & 0o777) == "0o600"


def test_radios_are_limited_and_validated(board: PtyBoard, inventory: Path) -> None:
    proc = run_cli("provision", "--port", board.port, "--name", "n1", "--network", "home",
                   "--radios", "espnow", "--inventory", str(inventory), "--no-reset")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((board.fs / "config.json").read_text())["radios"] == {
        "espnow": True, "ble": False}
    bad = run_cli("provision", "--port", board.port, "--name", "n2", "--network", "home",
                  "--radios", "wifi", "--inventory", str(inventory))
    assert "bad --radios" in one_line_error(bad)


def test_reset_between_temp_write_and_rename_keeps_old_config(
        board: PtyBoard, inventory: Path) -> None:
    provision(board.port, "first", "home", inventory_path=inventory, reset=False)
    old = (board.fs / "config.json").read_bytes()

    with pytest.raises(BitmeshError):
        # The board dies after the temp file is complete, before the rename.
        provision(board.port, "second", "home", inventory_path=inventory, reset=False,
                  after_tmp=board.kill, timeout=2.0)
    assert (board.fs / "config.json").read_bytes() == old
    torn = json.loads((board.fs / "config.json.tmp").read_text())
    assert torn["name"] == "second"  # complete, but never made current
    assert "second" not in Inventory.load(inventory).network("home").nodes

    board.start()  # the board comes back and can be provisioned again
    provision(board.port, "second", "home", inventory_path=inventory, reset=False)
    assert json.loads((board.fs / "config.json").read_text())["name"] == "second"
    assert not (board.fs / "config.json.tmp").exists()
    assert set(Inventory.load(inventory).network("home").nodes) == {"first", "second"}


def test_existing_node_name_needs_force(board: PtyBoard, inventory: Path) -> None:
    args = ["provision", "--port", board.port, "--name", "n1", "--network", "home",
            "--inventory", str(inventory), "--no-reset"]
    assert run_cli(*args).returncode == 0
    assert "already exists" in one_line_error(run_cli(*args))
    first = Inventory.load(inventory).network("home").nodes["n1"].node_id
    assert run_cli(*args, "--force").returncode == 0
    assert Inventory.load(inventory).network("home").nodes["n1"].node_id != first


@pytest.mark.parametrize(("extra", "expect"), [
    (["--name", "Bad Name!", "--network", "home"], "bad node name"),
    (["--name", "n1", "--network", "home", "--role", "king"], "bad role"),
    (["--name", "n1", "--network", "nope"], "no network 'nope'"),
    (["--name", "n1", "--network", "home", "--board", "esp8266"], "unknown board"),
])
def test_bad_input_is_one_line(board: PtyBoard, inventory: Path, extra: list[str],
                               expect: str) -> None:
    proc = run_cli("provision", "--port", board.port, "--inventory", str(inventory), *extra)
    assert proc.returncode == 2
    assert expect in one_line_error(proc)
    assert not (board.fs / "config.json").exists()


def test_corrupt_inventory_is_refused(board: PtyBoard, tmp_path: Path) -> None:
    bad = tmp_path / "inv.json"
    bad.write_text('{"bitmesh_inventory": 1, "networks": ')
    proc = run_cli("provision", "--port", board.port, "--name", "n1", "--network", "home",
                   "--inventory", str(bad))
    assert "corrupt" in one_line_error(proc)
    assert bad.read_text() == '{"bitmesh_inventory": 1, "networks": '


def test_port_errors(board: PtyBoard, inventory: Path, tmp_path: Path) -> None:
    base = ["provision", "--name", "n1", "--network", "home", "--inventory", str(inventory)]
    assert "no such port" in one_line_error(run_cli(*base, "--port", str(tmp_path / "ttyX")))
    assert "no port given" in one_line_error(run_cli(*base))

    holder = serial.Serial()
    holder.port = board.port
    holder.exclusive = True
    holder.open()
    try:
        assert "busy" in one_line_error(run_cli(*base, "--port", board.port))
    finally:
        holder.close()


def test_board_that_does_not_answer(inventory: Path) -> None:
    master, slave = os.openpty()  # a port with nothing behind it
    try:
        proc = run_cli("provision", "--port", os.ttyname(slave), "--name", "n1", "--network",
                       "home", "--inventory", str(inventory), "--timeout", "1")
        assert "does not answer" in one_line_error(proc)
    finally:
        os.close(master)
        os.close(slave)
