"""`bitmesh flash`, the board files and the image download, without hardware.

esptool is faked by injecting a runner that records argv and answers with
canned esptool output; a few tests run the real esptool against serial
ports that cannot work (missing, locked by another holder) to show its real
messages become one clean line.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import shlex
import socket
import sys
import threading
import urllib.error
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from bitmesh import firmware_image, flashing
from bitmesh.boards import FirmwareImage, list_boards, load_board
from bitmesh.commands import flash as flash_cmd
from bitmesh.errors import BitmeshError, UsageError
from bitmesh.flashing import RunResult

IMAGE = b"\xe9" + bytes(range(256)) * 64  # starts with the ESP image magic byte


def chip_output(chip: str, port: str = "/dev/ttyFAKE") -> str:
    """What esptool 5.6 prints for `chip-id` once connected."""
    return (
        "esptool v5.6.0\n"
        f"Connected to {chip} on {port}:\n"
        f"Chip type:          {chip} (QFN32) (revision v0.4)\n"
        "Features:           Wi-Fi, BT 5 (LE), Single Core, 160MHz\n"
        "MAC:                34:85:18:00:00:01\n\n"
        "Chip ID: 0x00000005\n"
        "Hard resetting via RTS pin...\n"
    )


PERMISSION_OUTPUT = (
    "esptool v5.6.0\nSerial port /dev/ttyUSB0:\n\n"
    "ERROR: A fatal error occurred: Could not open /dev/ttyUSB0, the port is busy or "
    "doesn't exist.\n([Errno 13] could not open port /dev/ttyUSB0: [Errno 13] Permission "
    "denied: '/dev/ttyUSB0')\n\nHint: Try to add user into dialout or uucp group.\n"
)


class FakeEsptool:
    """A Runner: records every argv, answers chip-id as ``chip``."""

    def __init__(self, chip: str = "ESP32", fail: dict[str, RunResult] | None = None) -> None:
        self.chip = chip
        self.fail = fail or {}
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> RunResult:
        argv = list(argv)
        self.calls.append(argv)
        assert argv[:3] == [sys.executable, "-m", "esptool"]
        command = next(a for a in argv if a in SUBCOMMANDS)
        if command in self.fail:
            return self.fail[command]
        if command == "chip-id":
            return RunResult(0, chip_output(self.chip, argv[argv.index("--port") + 1]))
        return RunResult(0, f"esptool v5.6.0\n{command} done\n")

    @property
    def commands(self) -> list[str]:
        return [next(a for a in argv if a in SUBCOMMANDS) for argv in self.calls]


SUBCOMMANDS = {"chip-id", "erase-flash", "write-flash", "verify-flash"}


def invoke(args: list[str], runner: Any = None, env: dict[str, str] | None = None) -> Result:
    group = click.Group("bitmesh")
    flash_cmd.register(group)
    obj = {flash_cmd.RUNNER_KEY: runner} if runner is not None else {}
    return CliRunner().invoke(group, ["flash", *args], obj=obj, env=env)


def one_line_error(result: Result, kind: type[BitmeshError] = BitmeshError) -> str:
    assert isinstance(result.exception, kind), result.output
    message = str(result.exception)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.fixture
def port(tmp_path: Path) -> str:
    """An existing, writable path standing in for a serial device."""
    fake = tmp_path / "ttyFAKE"
    fake.write_bytes(b"")
    return str(fake)


@pytest.fixture
def firmware(tmp_path: Path) -> Path:
    path = tmp_path / "fw.bin"
    path.write_bytes(IMAGE)
    return path


# --- board files -----------------------------------------------------------


def test_repository_boards_load() -> None:
    assert list_boards() == ["esp32", "esp32c3", "esp32s3"]
    esp32 = load_board("esp32")
    assert (esp32.chip, esp32.esptool_chip, esp32.flash_offset) == ("ESP32", "esp32", 0x1000)
    assert esp32.image.url.startswith("https://micropython.org/resources/firmware/")
    assert load_board("esp32s3").chip == "ESP32-S3"
    assert load_board("esp32c3").radios == ("espnow", "ble")


def test_unknown_board_lists_known_ones() -> None:
    with pytest.raises(UsageError, match="unknown board 'esp8266'; known boards: esp32, esp32c3"):
        load_board("esp8266")


def test_invalid_board_file_names_file_and_field(tmp_path: Path) -> None:
    body = json.loads((Path(load_board("esp32").path)).read_text())
    body["flash_offset"] = "4096k"
    (tmp_path / "odd.json").write_text(json.dumps(body))
    with pytest.raises(UsageError, match=r"odd.json is invalid: flash_offset '4096k'"):
        load_board("odd", tmp_path)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(UsageError, match="broken.json is not valid JSON"):
        load_board("broken", tmp_path)


# --- the command sequence --------------------------------------------------


@pytest.mark.parametrize(
    ("board", "chip", "offset"),
    [("esp32", "ESP32", "0x1000"), ("esp32s3", "ESP32-S3", "0x0"), ("esp32c3", "ESP32-C3", "0x0")],
)
def test_flash_runs_detect_erase_write_verify(
    board: str, chip: str, offset: str, port: str, firmware: Path
) -> None:
    fake = FakeEsptool(chip)
    result = invoke(["--port", port, "--board", board, "--firmware", str(firmware)], fake)
    assert result.exit_code == 0, result.output
    assert fake.commands == ["chip-id", "erase-flash", "write-flash", "verify-flash"]
    esptool_chip = load_board(board).esptool_chip
    tail = ["--chip", esptool_chip, "--port", port, "--baud", "460800"]
    assert fake.calls[0][3:] == ["--port", port, "--baud", "460800", "chip-id"]
    assert fake.calls[1][3:] == [*tail, "erase-flash"]
    assert fake.calls[2][3:] == [*tail, "write-flash", offset, str(firmware)]
    assert fake.calls[3][3:] == [*tail, "verify-flash", offset, str(firmware)]
    assert f"on {port} at {offset}; verified" in result.stderr


def test_flash_json_and_baud(port: str, firmware: Path) -> None:
    fake = FakeEsptool("ESP32-S3")
    args = ["--port", port, "--board", "esp32s3", "--firmware", str(firmware)]
    result = invoke([*args, "--baud", "921600", "--json"], fake)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and doc["offset"] == "0x0" and doc["detected"].startswith("ESP32-S3")
    assert all("921600" in argv for argv in fake.calls)


def test_dry_run_prints_exact_commands_and_runs_nothing(port: str, firmware: Path) -> None:
    fake = FakeEsptool()
    result = invoke(
        ["--port", port, "--board", "esp32", "--firmware", str(firmware), "--dry-run"], fake
    )
    assert result.exit_code == 0, result.output
    assert fake.calls == []
    plan = flashing.plan_flash(load_board("esp32"), port, firmware)
    assert result.stdout.splitlines() == [shlex.join(step.argv) for step in plan]
    assert result.stdout.splitlines()[2].endswith(
        f"write-flash 0x1000 {shlex.quote(str(firmware))}"
    )


def test_dry_run_without_firmware_downloads_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    result = invoke(
        ["--port", "/dev/ttyNOPE", "--board", "esp32c3", "--dry-run", "--json"],
        FakeEsptool(),
        env={"BITMESH_CACHE": str(cache)},
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["download"] == load_board("esp32c3").image.url
    assert doc["firmware"] == str(cache / "ESP32_GENERIC_C3-20250911-v1.26.1.bin")
    assert doc["commands"][2][-2:] == ["0x0", doc["firmware"]]
    assert not cache.exists()


# --- error paths -----------------------------------------------------------


def test_missing_port_is_one_line(firmware: Path) -> None:
    fake = FakeEsptool()
    result = invoke(
        ["--port", "/dev/ttyNOPE9", "--board", "esp32", "--firmware", str(firmware)], fake
    )
    message = one_line_error(result, UsageError)
    assert message.startswith("serial port /dev/ttyNOPE9 does not exist")
    assert fake.calls == []


def test_wrong_chip_stops_before_erasing(port: str, firmware: Path) -> None:
    fake = FakeEsptool("ESP32-C3")
    result = invoke(["--port", port, "--board", "esp32", "--firmware", str(firmware)], fake)
    message = one_line_error(result, UsageError)
    assert message == (
        f"wrong chip on {port}: found ESP32-C3, but board esp32 is ESP32; use --board esp32c3"
    )
    assert fake.commands == ["chip-id"]


def test_permission_denied_from_esptool_gives_dialout_hint(port: str, firmware: Path) -> None:
    fake = FakeEsptool(fail={"chip-id": RunResult(2, PERMISSION_OUTPUT)})
    result = invoke(["--port", port, "--board", "esp32", "--firmware", str(firmware)], fake)
    message = one_line_error(result)
    assert message.startswith(f"permission denied on {port}: add your user to the dialout group")
    assert "`sudo usermod -aG dialout $USER`, then log out and in" in message


def test_permission_precheck(port: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(BitmeshError, match="permission denied on .*dialout"):
        flashing.check_port(port)


def test_failure_in_a_later_step_stops_the_sequence(port: str, firmware: Path) -> None:
    out = "esptool v5.6.0\nA fatal error occurred: MD5 of file does not match data in flash!\n"
    fake = FakeEsptool(fail={"write-flash": RunResult(2, out)})
    result = invoke(["--port", port, "--board", "esp32", "--firmware", str(firmware)], fake)
    message = one_line_error(result)
    assert message == f"esptool failed on {port}: MD5 of file does not match data in flash!"
    assert fake.commands == ["chip-id", "erase-flash", "write-flash"]


def test_no_bootloader_answer() -> None:
    out = (
        "Connecting......\n"
        "A fatal error occurred: Failed to connect to ESP32: No serial data received.\n"
    )
    err = flashing.explain_failure("/dev/ttyUSB0", load_board("esp32"), RunResult(2, out))
    assert str(err).startswith("no bootloader answered on /dev/ttyUSB0")


def test_not_an_esp_image(tmp_path: Path, port: str) -> None:
    bad = tmp_path / "page.html"
    bad.write_text("<html>")
    result = invoke(["--port", port, "--board", "esp32", "--firmware", str(bad)], FakeEsptool())
    assert "is not an ESP firmware image" in one_line_error(result, UsageError)


def test_real_esptool_missing_port_becomes_one_line(firmware: Path) -> None:
    board = load_board("esp32")
    steps = flashing.plan_flash(board, "/dev/bitmesh-no-such-port", firmware)
    with pytest.raises(UsageError) as info:
        flashing.execute(steps, board, "/dev/bitmesh-no-such-port", flashing.subprocess_runner())
    assert str(info.value).startswith("serial port /dev/bitmesh-no-such-port does not exist")
    assert "\n" not in str(info.value)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pty + flock")
def test_real_esptool_busy_port_becomes_one_line(firmware: Path) -> None:
    import fcntl

    master, slave = os.openpty()
    try:
        name = os.ttyname(slave)
        fcntl.flock(slave, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a serial monitor would
        board = load_board("esp32")
        steps = flashing.plan_flash(board, name, firmware)
        with pytest.raises(BitmeshError) as info:
            flashing.execute(steps, board, name, flashing.subprocess_runner())
        assert str(info.value).startswith(f"serial port {name} is busy")
        assert "\n" not in str(info.value)
    finally:
        os.close(slave)
        os.close(master)


# --- download --------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, int]]]:
    """A local HTTP server serving IMAGE at /fw.bin; yields (base url, hit counter)."""
    hits = {"count": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            hits["count"] += 1
            if self.path != "/fw.bin":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(IMAGE)))
            self.end_headers()
            self.wfile.write(IMAGE)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()
    httpd.server_close()


def image_for(url: str, sha256: str | None) -> FirmwareImage:
    return FirmwareImage("TEST", "1.0", url, sha256)


def test_download_checks_sha_and_caches(tmp_path: Path, server: tuple[str, dict[str, int]]) -> None:
    base, hits = server
    good = hashlib.sha256(IMAGE).hexdigest()
    path = firmware_image.fetch_image(image_for(f"{base}/fw.bin", good), tmp_path, progress=False)
    assert path == tmp_path / "fw.bin" and path.read_bytes() == IMAGE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fw.bin"]  # no partial left
    firmware_image.fetch_image(image_for(f"{base}/fw.bin", good), tmp_path, progress=False)
    assert hits["count"] == 1  # the cached copy was reused


def test_download_sha_mismatch_deletes_file(
    tmp_path: Path, server: tuple[str, dict[str, int]]
) -> None:
    base, _ = server
    with pytest.raises(BitmeshError, match="SHA-256 mismatch .* the download was deleted"):
        firmware_image.fetch_image(image_for(f"{base}/fw.bin", "0" * 64), tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_download_http_error(tmp_path: Path, server: tuple[str, dict[str, int]]) -> None:
    base, _ = server
    with pytest.raises(BitmeshError, match="HTTP 404"):
        firmware_image.fetch_image(image_for(f"{base}/gone.bin", None), tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_no_network_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with pytest.raises(BitmeshError) as info:
        firmware_image.fetch_image(
            image_for(f"http://127.0.0.1:{closed}/fw.bin", None), tmp_path, progress=False
        )
    assert "no network? pass --firmware FILE" in str(info.value)

    def offline(url: str, timeout: float) -> Any:
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    with pytest.raises(BitmeshError, match="Temporary failure in name resolution"):
        firmware_image.fetch_image(
            image_for("https://example.invalid/fw.bin", None),
            tmp_path,
            opener=offline,
            progress=False,
        )
    assert list(tmp_path.iterdir()) == []


def test_flash_without_firmware_downloads_pinned_image(
    tmp_path: Path, port: str, server: tuple[str, dict[str, int]]
) -> None:
    base, _ = server
    boards = tmp_path / "boards"
    boards.mkdir()
    body = json.loads(load_board("esp32").path.read_text())
    body["image"]["url"] = f"{base}/fw.bin"
    body["image"]["sha256"] = hashlib.sha256(IMAGE).hexdigest()
    (boards / "local.json").write_text(json.dumps(body))
    cache = tmp_path / "cache"
    fake = FakeEsptool("ESP32")
    env = {"BITMESH_BOARDS": str(boards), "BITMESH_CACHE": str(cache)}
    result = invoke(["--port", port, "--board", "local"], fake, env=env)
    assert result.exit_code == 0, result.output
    assert (cache / "fw.bin").read_bytes() == IMAGE
    assert fake.calls[2][-2:] == ["0x1000", str(cache / "fw.bin")]
