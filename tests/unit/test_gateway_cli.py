"""`bitmesh gateway | send | listen | chat`: argument errors end in one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from bitmesh.cli import main
from bitmesh.commands.client import CHAT_APP, chat_payload, format_message


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as e:
        main(argv)
    code = e.value.code
    return int(code) if isinstance(code, int) else 1, capsys.readouterr().err


def test_gateway_needs_exactly_one_link(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("00" * 32)
    code, err = run(["gateway", "--key-file", str(key)], capsys)
    assert code == 2 and "exactly one of --port" in err and "Traceback" not in err
    code, err = run(["gateway", "--virtual", "--port", "/dev/x", "--key-file", str(key)], capsys)
    assert code == 2
    code, err = run(["gateway", "--virtual", "--key-file", str(key), "--listen", "nope"], capsys)
    assert code == 2 and "--listen" in err
    code, err = run(["gateway", "--virtual", "--key-file", str(key), "--mqtt", "http://x"],
                    capsys)
    assert code == 2 and "mqtt://" in err
    key.write_text("zz")
    code, err = run(["gateway", "--virtual", "--key-file", str(key)], capsys)
    assert code == 2 and "64 hex digits" in err


def test_gateway_without_key_names_the_inventory(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    code, err = run(["gateway", "--virtual", "--inventory", str(tmp_path / "inv.json")], capsys)
    assert code == 2 and "--network" in err


def test_send_without_token_file_is_one_line(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    code, err = run(["send", "hi", "--token-file", str(tmp_path / "none")], capsys)
    assert code == 2 and "no token file" in err and err.count("\n") == 1


def test_chat_lines_render_by_nick() -> None:
    ev = {"ev": "message", "src": "a1b2c3d4e5f60718", "broadcast": True, "app": CHAT_APP,
          "hops": 2, "text": chat_payload("alice", "hi")}
    assert format_message(ev) == "<alice@a1b2c3d4> hi"
    ev = {"ev": "message", "src": "a1b2c3d4e5f60718", "broadcast": False, "app": 0,
          "hops": 1, "text": "plain"}
    assert format_message(ev) == "[a1b2c3d4 -> you, app 0, 1 hops] plain"
