"""Firmware driver logic under CPython with fake espnow/network/bluetooth/micropython
modules that follow the micropython-esp32-stubs APIs."""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


class FakeESPNow:
    def __init__(self) -> None:
        self.peers: list[bytes] = []
        self.cfg: dict[str, int] = {}
        self.sent: list[tuple[bytes, bytes]] = []
        self.rx: list[tuple[bytes, bytes]] = []
        self.peers_table: dict[bytes, list[int]] = {}
        self.on = False

    def active(self, flag: bool | None = None) -> bool:
        if flag is not None:
            self.on = flag
        return self.on

    def config(self, **kw: int) -> None:
        self.cfg.update(kw)

    def add_peer(self, mac: bytes, *a: Any, **kw: Any) -> None:
        if mac in self.peers:
            raise OSError("ESP_ERR_ESPNOW_EXIST")
        if len(self.peers) >= 20:
            raise OSError("ESP_ERR_ESPNOW_FULL")
        self.peers.append(mac)

    def del_peer(self, mac: bytes) -> None:
        self.peers.remove(mac)

    def send(self, mac: bytes, msg: bytes, sync: bool = True) -> bool:
        if mac not in self.peers:
            raise OSError("ESP_ERR_ESPNOW_NOT_FOUND")
        self.sent.append((mac, bytes(msg)))
        return True

    def irecv(self, timeout_ms: int | None = None) -> tuple[Any, Any]:
        if not self.rx:
            return None, None
        mac, msg = self.rx.pop(0)
        self.peers_table[mac] = [-55, 0]
        return bytearray(mac), bytearray(msg)


class FakeWLAN:
    IF_STA = 0

    def __init__(self, iface: int) -> None:
        self.cfg: dict[str, Any] = {"mac": b"\x24\x0a\xc4\x00\x00\x01"}

    def active(self, on: bool | None = None) -> bool:
        return True

    def disconnect(self) -> None:
        pass

    def config(self, *a: Any, **kw: Any) -> Any:
        if a:
            return self.cfg[a[0]]
        self.cfg.update(kw)
        return None


class FakeBLE:
    def __init__(self) -> None:
        self.handler: Any = None
        self.buffers: dict[int, tuple[int, bool]] = {}
        self.values: dict[int, bytes] = {}
        self.notified: list[tuple[int, int, bytes]] = []
        self.adv: list[Any] = []
        self.disconnected: list[int] = []

    def active(self, *a: Any) -> bool:
        return True

    def config(self, **kw: Any) -> None:
        pass

    def gatts_register_services(self, defs: Any) -> Any:
        return ((10, 12),)

    def gatts_set_buffer(self, h: int, n: int, append: bool = False) -> None:
        self.buffers[h] = (n, append)

    def gatts_read(self, h: int) -> bytes:
        v = self.values.pop(h, b"")
        return v

    def gatts_notify(self, conn: int, h: int, data: bytes) -> None:
        self.notified.append((conn, h, bytes(data)))

    def irq(self, handler: Any) -> None:
        self.handler = handler

    def gap_advertise(self, interval: Any, adv: Any = None, resp_data: Any = None) -> None:
        self.adv.append(interval)

    def gap_disconnect(self, conn: int) -> None:
        self.disconnected.append(conn)

    def gap_scan(self, *a: Any) -> None:
        pass


@pytest.fixture
def fw(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    mp = types.ModuleType("micropython")
    mp.const = lambda x: x  # type: ignore[attr-defined]
    esp = types.ModuleType("espnow")
    esp.MAX_DATA_LEN = 250  # type: ignore[attr-defined]
    esp.ESPNow = FakeESPNow  # type: ignore[attr-defined]
    net = types.ModuleType("network")
    net.WLAN = FakeWLAN  # type: ignore[attr-defined]
    bt = types.ModuleType("bluetooth")
    bt.BLE = FakeBLE  # type: ignore[attr-defined]
    bt.UUID = lambda s: bytes.fromhex(s.replace("-", ""))[::-1]  # type: ignore[attr-defined]
    bt.FLAG_NOTIFY, bt.FLAG_READ, bt.FLAG_WRITE = 16, 2, 8  # type: ignore[attr-defined]
    bt.FLAG_WRITE_NO_RESPONSE = 4  # type: ignore[attr-defined]
    import time

    monkeypatch.setattr(time, "ticks_ms", lambda: int(time.monotonic() * 1000), raising=False)
    monkeypatch.setattr(time, "ticks_diff", lambda a, b: a - b, raising=False)
    monkeypatch.setattr(time, "ticks_add", lambda a, b: a + b, raising=False)
    for m in (mp, esp, net, bt):
        monkeypatch.setitem(sys.modules, m.__name__, m)
    monkeypatch.syspath_prepend(str(ROOT / "firmware"))
    names = ("espnow_radio", "ble_radio", "hostlink", "fwconfig", "services")
    for name in names:
        sys.modules.pop(name, None)
    mods = {n: importlib.import_module(n) for n in names}
    return types.SimpleNamespace(**mods)


def test_espnow_broadcast_peer_rxbuf_and_lru(fw: types.SimpleNamespace) -> None:
    r = fw.espnow_radio.ESPNowRadio(channel=6)
    r.start()
    e = r.e
    assert e.peers == [b"\xff" * 6]
    assert e.cfg["rxbuf"] >= 20 * 250
    for i in range(20):
        assert r.send(bytes((2, 0, 0, 0, 0, i)), b"x")
    assert len(e.peers) == 1 + fw.espnow_radio.UNICAST_PEERS <= 20
    assert bytes((2, 0, 0, 0, 0, 0)) not in e.peers  # least recently used went first
    assert r.counters["evicted"] == 4
    assert not r.send(None, b"x" * 251) and r.counters["too_long"] == 1
    assert r.send(None, b"hb") and e.sent[-1] == (b"\xff" * 6, b"hb")
    e.rx.append((b"\x02" * 6, b"frame"))
    assert r.recv() == (b"\x02" * 6, b"frame", -55)
    assert r.recv() is None


def test_ble_irq_only_queues_then_poll_reassembles(fw: types.SimpleNamespace) -> None:
    b = fw.ble_radio
    r = b.BLERadio("node-a", central=False)
    r.start()
    ble = r.ble
    assert ble.buffers[r.rx_h] == (b.RX_BUFFER, True)
    for conn in range(5):
        ble.handler(b._IRQ_CENTRAL_CONNECT, (conn, 0, bytes((conn,)) * 6))
    assert r.links == {}  # the IRQ only queued
    frames, host = r.poll(0)
    assert len(r.links) == b.MAX_CONN and ble.disconnected == [4]
    frame = bytes(range(200))
    data = b"".join(b.chunks(frame, 60, False)) + b"".join(b.chunks(b"@BM x 0\n", 60, True))
    ble.values[r.rx_h] = data  # two writes' worth appended in the RX buffer
    ble.handler(b._IRQ_GATTS_WRITE, (1, r.rx_h))
    frames, host = r.poll(0)
    assert frames == [(b"\x01" * 6, frame, 0)] and host == [b"@BM x 0\n"]
    assert r.send(None, b"hello")
    assert {c for c, _, _ in ble.notified} == {0, 1, 2, 3}
    ble.values[r.rx_h] = b"\x80\x09abc"  # length byte lies
    ble.handler(b._IRQ_GATTS_WRITE, (1, r.rx_h))
    assert r.poll(0) == ([], []) and r.counters["bad_chunk"] == 1


def test_hostlink_rejects_with_reasons(fw: types.SimpleNamespace) -> None:
    from bitmesh.hostlink import encode_line

    out: list[str] = []
    w = types.SimpleNamespace(write=out.append)
    hl = fw.hostlink.HostLink(w)
    good = encode_line({"op": "ping", "id": 1})
    bad_crc = good[:-3] + b"00\n"
    msgs = hl.feed(b"hello\n" + bad_crc + b"@BM ####### 00000000\n" + good[:10] + b"\n"
                   + b"y" * 9000 + b"\n" + good)
    assert msgs == [{"op": "ping", "id": 1}]
    assert hl.bad == {"not_framed": 2, "crc": 2, "too_long": 1}
    hl.send({"re": 1, "ok": True})
    from bitmesh.hostlink import decode_line

    assert decode_line(out[-1]) == {"re": 1, "ok": True}


def test_config_validation(fw: types.SimpleNamespace) -> None:
    ok = {"name": "a", "network": {"name": "n", "key": "ab" * 32, "channel": 6},
          "node_secret": "cd" * 32, "radios": {"espnow": True, "ble": False},
          "led_pin": 2, "node": {"heartbeat_ms": 1000}}
    assert fw.fwconfig.validate(ok) is None
    assert "network.key" in fw.fwconfig.validate({**ok, "network": {"key": "zz"}})
    assert "node.heartbeat_ms" in fw.fwconfig.validate({**ok, "node": {"heartbeat_ms": 1}})
    assert "unknown key" in fw.fwconfig.validate({**ok, "typo": 1})
    assert fw.fwconfig.validate([]) == "config is not a JSON object"


def test_bot_config_errors(fw: types.SimpleNamespace, tmp_path: Path) -> None:
    err = fw.fwconfig.bot_error
    good = {"game": "craps", "table": "t1", "host": True, "seats": 3, "rounds": 5,
            "bankroll": 500, "host_id": "ab" * 8}
    assert err(good) is None and err({}) is None and err(None) is None
    for bad, words in (([], "bot: expected an object"), ({"tabel": "x"}, "unknown key tabel"),
                       ({"game": "poker"}, "bot.game"), ({"table": ""}, "bot.table"),
                       ({"host": "yes"}, "bot.host"), ({"seats": 1}, "bot.seats"),
                       ({"seats": True}, "bot.seats"), ({"rounds": 0}, "bot.rounds"),
                       ({"host_id": "xyz"}, "bot.host_id")):
        assert words in str(err(bad)), bad
    ok = {"name": "a", "network": {"name": "n", "key": "ab" * 32}, "node_secret": "cd" * 32}
    # A bad bot section never puts a board in safe mode; provisioning refuses it.
    assert fw.fwconfig.validate({**ok, "bot": {"seats": 99}}) is None
    target = str(tmp_path / "config.json")
    assert "bot.seats" in str(fw.fwconfig.save({**ok, "bot": {"seats": 99}}, target))
    assert fw.fwconfig.save({**ok, "bot": good}, target) is None


class _Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def log(self, lvl: str, msg: str, **kw: Any) -> None:
        self.lines.append((lvl, msg, kw))


def test_bot_service_starts_or_logs_one_line(fw: types.SimpleNamespace,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from bitmesh_core.config import NodeConfig
    from bitmesh_core.identity import Identity
    from bitmesh_core.node import MeshNode
    from bitmesh_core.rng import SeededRng

    monkeypatch.setattr(gc, "mem_free", lambda: 1234, raising=False)
    thresholds: list[int] = []
    monkeypatch.setattr(gc, "threshold", thresholds.append, raising=False)
    node = MeshNode(NodeConfig(), Identity.from_secret(bytes(32)), bytes(32), SeededRng(1), 0)
    log = _Log()
    none = fw.services.Services()
    none.start(node, {"bot": {}}, log, 0)
    assert none.bot is None and none.next_timer() is None and log.lines == []
    bad = fw.services.Services()
    bad.start(node, {"bot": {"seats": "four"}}, log, 0)
    assert bad.bot is None and bad.status() == {"bot": "disabled"}
    assert [(lvl, msg) for lvl, msg, _ in log.lines] == [("error", "bot_disabled")]
    assert "bot.seats" in log.lines[0][2]["reason"]
    bad.on_timer(10)  # without a bot: nothing to do, nothing raised
    log.lines.clear()
    good = fw.services.Services()
    good.start(node, {"bot": {"table": "t", "host": True, "seats": 2, "rounds": 1}}, log, 0)
    assert log.lines[0][1] == "bot_started" and good.bot is not None
    assert thresholds == [fw.services.BOT_GC_THRESHOLD]  # collect often while playing
    good.on_timer(5)
    assert good.next_timer() is not None
    assert good.status()["state"] == "lobby"
    assert any(p for _i, _a, p in node.frames_to_send())  # the OPEN went out
