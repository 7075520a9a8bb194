"""Virtual boards: the real firmware on the unix port, over a pty and a UDP medium."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bitmesh import build
from bitmesh.hostlink import HostLink, encode_line
from bitmesh.vboard import manager
from bitmesh.vboard.medium import Medium

pytestmark = pytest.mark.vboard
MPREMOTE = str(Path(sys.executable).with_name("mpremote"))


def _board(boards: list[Path], root: Path, fw: Path, name: str, medium: Medium,
           key: str, cfg: dict[str, object] | None = None) -> dict[str, object]:
    d = root / name
    build.install(fw, d)
    manager.write_config(d, cfg if cfg is not None else manager.make_config(
        name, key, node={"heartbeat_ms": 1000, "peer_timeout_ms": 4000}))
    boards.append(d)
    return manager.start(d, medium=medium.address, label=name)


def test_host_link_status_and_bad_input(tmp_path: Path, firmware: Path, medium: Medium,
                                        boards: list[Path]) -> None:
    st = _board(boards, tmp_path, firmware, "a", medium, secrets.token_hex(32))
    with HostLink(str(st["port"])) as h:
        assert h.request("status")["status"]["state"] == "running"
        h.write_raw(b"garbage\n@BM !!! 00000000\n" + encode_line({"op": "status"})[:-10]
                    + b"\n" + b"x" * 5000 + b"\n" + encode_line({"op": "nope", "id": 99}))
        reply = h.request("set", heartbeat_ms=2000)
        assert reply["heartbeat_ms"] == 2000
        bad = h.request("set", check=False, heartbeat_ms=5)
        assert bad["ok"] is False
        s = h.request("status")["status"]
        assert s["state"] == "running"
        assert set(s["hostlink"]["bad"]) >= {"not_framed", "crc", "too_long", "bad_op"}


def test_bad_config_is_safe_mode(tmp_path: Path, firmware: Path, medium: Medium,
                                 boards: list[Path]) -> None:
    d = tmp_path / "bad"
    build.install(firmware, d)
    (d / "config.json").write_text('{"name": "x", "network": {"key": "zz"}}')
    boards.append(d)
    st = manager.start(d, medium=medium.address)
    with HostLink(str(st["port"])) as h:
        s = h.request("status")["status"]
        assert s["state"] == "unprovisioned"
        assert "network.key" in s["reason"]
        assert h.request("send", check=False, dst=None, data="aGk=")["error"] == "unprovisioned"
        cfg = manager.make_config("fixed", secrets.token_hex(32))
        assert h.request("provision", config=cfg)["reboot"] is True
        h.wait_for(lambda k, v: k == "msg" and v.get("ev") == "boot"
                   and v.get("state") == "running", timeout=10)


def test_three_boards_find_peers_within_two_heartbeats(tmp_path: Path, firmware: Path,
                                                       medium: Medium,
                                                       boards: list[Path]) -> None:
    key = secrets.token_hex(32)
    ports = [str(_board(boards, tmp_path, firmware, n, medium, key)["port"])
             for n in ("a", "b", "c")]
    # Board c's link is open before the send, so its delivered event is not
    # emitted while nobody is listening.
    with HostLink(ports[0]) as h, HostLink(ports[2]) as h2:
        # heartbeat 1000 ms (+-10 % jitter): two heartbeats after the last boot
        h.wait_for(lambda k, v: k == "msg" and v.get("ev") == "peer_up", timeout=2.5)
        got: set[str] = set()

        end = time.monotonic() + 2.5
        while time.monotonic() < end and len(got) < 2:
            got = {p["id"] for p in h.request("status")["status"]["peers"]}
        assert len(got) == 2
        r = h.request("send", dst=None, data="aGVsbG8=")
        assert r["msg_id"] > 0
        h2.wait_for(lambda k, v: k == "msg" and v.get("ev") == "delivered", timeout=5)


def test_mpremote_exec_and_fs_ls(tmp_path: Path, firmware: Path, medium: Medium,
                                 boards: list[Path]) -> None:
    st = _board(boards, tmp_path, firmware, "m", medium, secrets.token_hex(32))
    port = str(st["port"])
    out = subprocess.run([MPREMOTE, "connect", port, "exec", "print(6*7)"],
                         capture_output=True, text=True, timeout=30)
    assert "42" in out.stdout, out.stderr
    out = subprocess.run([MPREMOTE, "connect", port, "fs", "ls", ":"],
                         capture_output=True, text=True, timeout=30)
    assert "config.json" in out.stdout and "main.py" in out.stdout
    # after a soft reset at the friendly REPL, main.py runs again
    with HostLink(port) as h:
        h.write_raw(b"\r\x04")
        h.wait_for(lambda k, v: k == "msg" and v.get("ev") == "boot", timeout=10)
        assert h.request("status")["status"]["state"] == "running"
    assert manager.read_state(tmp_path / "m")["boots"] >= 3  # type: ignore[index]
