"""The inventory store and `bitmesh network create|show|export|import`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from bitmesh.commands import network as network_cmd
from bitmesh.errors import BitmeshError, UsageError
from bitmesh.inventory import (
    Inventory,
    SchemaError,
    network_to_json,
)
from bitmesh.network_export import export_network, import_network

KEY = "11" * 32


def invoke(args: list[str], inv: Path | None = None, **kw: Any) -> Result:
    group = click.Group("bitmesh")
    network_cmd.register(group)
    extra = ["--inventory", str(inv)] if inv is not None else []
    return CliRunner().invoke(group, ["network", *args, *extra], **kw)


def error(result: Result, kind: type[BitmeshError] = UsageError) -> str:
    assert isinstance(result.exception, kind), result.output
    message = str(result.exception)
    assert "\n" not in message
    return message


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def inv(tmp_path: Path) -> Path:
    return tmp_path / "config" / "inventory.json"


def populated(path: Path) -> Inventory:
    store = Inventory.load(path)
    store.create_network("home", channel=6, key=KEY)
    store.add_node(
        "home", "alice", bytes(range(8)), bytes(range(32)), "node", "/dev/ttyUSB0", "esp32"
    )
    store.add_node("home", "gw-1", "a1b2c3d4e5f60718", "22" * 32, "gateway", None, None)
    store.network("home").nodes["alice"].extra["mac"] = "34:85:18:00:00:01"
    store.network("home").extra["notes"] = "kept by newer toolkits"
    store.save()
    return store


# --- store -----------------------------------------------------------------


def test_missing_file_is_empty_and_save_is_0600(inv: Path) -> None:
    store = Inventory.load(inv)
    assert store.networks == {} and not inv.exists()
    old = os.umask(0)  # a permissive umask must not widen the file
    try:
        store.create_network("home")
        store.save()
    finally:
        os.umask(old)
    assert mode(inv) == 0o600
    assert [p.name for p in inv.parent.iterdir()] == ["inventory.json"]  # no temp file left
    raw = json.loads(inv.read_text())
    assert raw["bitmesh_inventory"] == 1
    net = raw["networks"]["home"]
    assert len(bytes.fromhex(net["key"])) == 32 and net["channel"] == 1
    assert net["radio"] == {"espnow": True, "ble": True, "bitrate_bps": 1_000_000}


def test_add_node_api(inv: Path) -> None:
    populated(inv)
    store = Inventory.load(inv)
    alice = store.network("home").nodes["alice"]
    assert alice.node_id == "0001020304050607" and alice.secret_bytes == bytes(range(32))
    assert (alice.role, alice.port, alice.board) == ("node", "/dev/ttyUSB0", "esp32")
    assert alice.extra == {"mac": "34:85:18:00:00:01"}
    with pytest.raises(UsageError, match="node 'alice' already exists"):
        store.add_node("home", "alice", "ff" * 8, "33" * 32, "node", None, None)
    with pytest.raises(UsageError, match="node id 0001020304050607 is already used by 'alice'"):
        store.add_node("home", "bob", bytes(range(8)), "33" * 32, "node", None, None)
    with pytest.raises(UsageError, match="16 hex digits"):
        store.add_node("home", "bob", "xyz", "33" * 32, "node", None, None)
    with pytest.raises(UsageError, match="no network 'work' in .* \\(known: home\\)"):
        store.add_node("work", "bob", "ff" * 8, "33" * 32, "node", None, None)
    store.add_node("home", "alice", "ff" * 8, "33" * 32, "relay", None, None, replace=True)
    assert store.network("home").nodes["alice"].role == "relay"


@pytest.mark.parametrize("name", ["", "Home", "-x", "a" * 32, "a b", "ü", "a/b", "../x", "home\n"])
def test_bad_names_are_refused(inv: Path, name: str) -> None:
    with pytest.raises(UsageError, match="bad network name"):
        Inventory.load(inv).create_network(name)
    result = invoke(["create", name], inv)
    assert result.exit_code != 0 and not inv.exists()


def test_good_names(inv: Path) -> None:
    store = Inventory.load(inv)
    for name in ("a", "0", "lan-party_2", "a" * 31):
        store.create_network(name)
    with pytest.raises(UsageError, match="bad node name"):
        store.add_node("a", "Bad Node", "ff" * 8, "33" * 32, "node", None, None)


def test_concurrent_writers_lose_nothing(inv: Path) -> None:
    Inventory.load(inv).create_network("home")
    with Inventory.locked(inv) as store:
        store.create_network("lan")

    def provision(i: int) -> None:
        with Inventory.locked(inv) as store:
            store.add_node("lan", f"n{i}", f"{i:016x}", f"{i:064x}", "node", None, None)

    threads = [threading.Thread(target=provision, args=(i + 1,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(Inventory.load(inv).network("lan").nodes) == [f"n{i + 1}" for i in range(8)]


# --- corrupt files ---------------------------------------------------------


def test_corrupt_json_is_refused_and_never_overwritten(inv: Path) -> None:
    inv.parent.mkdir(parents=True)
    inv.write_text('{"bitmesh_inventory": 1, "networks": {')
    before = inv.read_bytes()
    with pytest.raises(UsageError, match=f"inventory {inv} is corrupt: not valid JSON"):
        Inventory.load(inv)
    result = invoke(["create", "home"], inv)
    assert result.exception is not None
    assert error(result).startswith(f"inventory {inv} is corrupt: not valid JSON")
    assert inv.read_bytes() == before


@pytest.mark.parametrize(
    ("mutate", "fault"),
    [
        (lambda d: d.update(networks=[]), "networks must be an object"),
        (lambda d: d.pop("bitmesh_inventory"), "bitmesh_inventory is None, expected 1"),
        (lambda d: d["networks"]["home"].update(channel=14), "networks.home.channel must be"),
        (lambda d: d["networks"]["home"].update(key="abc"), "networks.home.key must be 64"),
        (lambda d: d["networks"]["home"].update(created="yesterday"), "created must be an ISO"),
        (
            lambda d: d["networks"]["home"]["nodes"]["alice"].update(secret=None),
            "networks.home.nodes.alice.secret must be 64",
        ),
        (
            lambda d: d["networks"]["home"]["nodes"]["gw-1"].update(node_id="0001020304050607"),
            "share node id 0001020304050607",
        ),
        (lambda d: d["networks"].update({"Bad": {}}), "network name 'Bad' is not valid"),
    ],
)
def test_wrong_schema_names_file_and_field(inv: Path, mutate: Any, fault: str) -> None:
    populated(inv)
    doc = json.loads(inv.read_text())
    mutate(doc)
    inv.write_text(json.dumps(doc))
    before = inv.read_bytes()
    result = invoke(["show"], inv)
    message = error(result)
    assert message.startswith(f"inventory {inv} is corrupt: ") and fault in message
    assert inv.read_bytes() == before


def test_corrupt_inventory_through_the_real_entry_point(inv: Path) -> None:
    inv.parent.mkdir(parents=True)
    inv.write_text("not json")
    proc = subprocess.run(
        [sys.executable, "-c", "from bitmesh.cli import main; main()", "network", "show"],
        capture_output=True,
        text=True,
        env={**os.environ, "BITMESH_INVENTORY": str(inv)},
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"bitmesh: inventory {inv} is corrupt: not valid JSON")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


# --- CLI -------------------------------------------------------------------


def test_create_and_show_mask_the_key(inv: Path) -> None:
    result = invoke(["create", "home", "--channel", "11", "--key", KEY.upper()], inv)
    assert result.exit_code == 0, result.output
    assert "created network home on channel 11" in result.stdout
    assert mode(inv) == 0o600
    shown = invoke(["show", "home"], inv)
    assert shown.exit_code == 0 and KEY not in shown.stdout and "hidden" in shown.stdout
    assert KEY in invoke(["show", "home", "--show-secrets"], inv).stdout
    doc = json.loads(invoke(["show", "--json"], inv).stdout)
    assert doc["networks"]["home"]["key"] is None
    assert doc["networks"]["home"]["channel"] == 11
    assert len(doc["networks"]["home"]["key_fingerprint"]) == 12
    listing = invoke(["show"], inv).stdout
    assert listing.startswith("home") and "channel 11" in listing


def test_create_errors(inv: Path) -> None:
    assert invoke(["create", "home"], inv).exit_code == 0
    assert "already exists" in error(invoke(["create", "home"], inv))
    assert "64 hex digits" in error(invoke(["create", "x", "--key", "abcd"], inv))
    assert "all-zero" in error(invoke(["create", "x", "--key", "0" * 64], inv))
    assert invoke(["create", "x", "--channel", "14"], inv).exit_code == 2  # click's own check
    assert "no network 'nope'" in error(invoke(["show", "nope"], inv))


def test_env_var_picks_the_inventory(inv: Path) -> None:
    result = invoke(["create", "viaenv"], env={"BITMESH_INVENTORY": str(inv)})
    assert result.exit_code == 0, result.output
    assert "viaenv" in Inventory.load(inv).networks


def test_export_import_round_trip_keeps_everything(inv: Path, tmp_path: Path) -> None:
    original = populated(inv).network("home")
    out = tmp_path / "home.json"
    assert invoke(["export", "home", "--out", str(out)], inv).exit_code == 0
    assert mode(out) == 0o600
    doc = json.loads(out.read_text())
    assert doc["bitmesh_network"] == 1 and doc["name"] == "home"
    assert doc["key"] == KEY and doc["nodes"]["gw-1"]["secret"] == "22" * 32

    other = tmp_path / "other" / "inventory.json"
    result = invoke(["import", str(out)], other)
    assert result.exit_code == 0, result.output
    copy = Inventory.load(other).network("home")
    assert network_to_json(copy) == network_to_json(original)
    assert copy.extra == {"notes": "kept by newer toolkits"}
    assert mode(other) == 0o600


def test_import_refuses_overwrite_without_force(inv: Path, tmp_path: Path) -> None:
    populated(inv)
    exported = invoke(["export", "home"], inv).stdout  # '-' is the default: stdout
    assert "already exists" in error(invoke(["import", "-"], inv, input=exported))
    result = invoke(["import", "-", "--name", "home2"], inv, input=exported)
    assert result.exit_code == 0, result.output
    doc = json.loads(exported)
    doc["channel"] = 3
    result = invoke(["import", "-", "--force"], inv, input=json.dumps(doc))
    assert result.exit_code == 0 and "replaced network home" in result.stdout
    store = Inventory.load(inv)
    assert store.network("home").channel == 3 and store.network("home2").channel == 6


def test_import_rejects_bad_documents(inv: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    assert "is not valid JSON" in error(invoke(["import", str(bad)], inv))
    bad.write_text(json.dumps({"name": "x"}))
    assert "not a bitmesh network export" in error(invoke(["import", str(bad)], inv))
    assert "does not exist" in error(invoke(["import", str(tmp_path / "none.json")], inv))
    populated(inv)
    doc = export_network(Inventory.load(inv).network("home"))
    assert "bad network name" in error(
        invoke(["import", "-", "--name", "Bad"], inv, input=json.dumps(doc))
    )
    doc["radio"] = {"espnow": False, "ble": False, "bitrate_bps": 1}
    with pytest.raises(SchemaError, match="home.radio must enable espnow or ble"):
        import_network(doc)
