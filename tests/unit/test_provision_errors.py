"""Board commands end bad input with one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BITMESH = Path(sys.executable).with_name("bitmesh")


def one_line(*args: str) -> tuple[int, str]:
    proc = subprocess.run([str(BITMESH), *args], capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != "BITMESH_PORT"})
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    return proc.returncode, lines[0]


@pytest.mark.parametrize("command", [
    ["deploy"], ["status"], ["provision", "--name", "n1", "--network", "home"],
    ["logs", "--out", "OUT"],
])
def test_missing_port(command: list[str], tmp_path: Path) -> None:
    args = [a.replace("OUT", str(tmp_path / "o")) for a in command]
    if command[0] == "provision":
        from bitmesh.inventory import Inventory

        inv = Inventory(tmp_path / "inv.json")
        inv.create_network("home")
        inv.save()
        args += ["--inventory", str(inv.path)]
    code, line = one_line(*args, "--port", str(tmp_path / "ttyUSB9"))
    assert code == 2 and line == f"bitmesh: no such port {tmp_path / 'ttyUSB9'}: " \
                                  "is the board plugged in?"
    code, line = one_line(*args)
    assert code == 2 and "no port given" in line


def test_deploy_to_a_board_that_does_not_answer() -> None:
    master, slave = os.openpty()
    try:
        code, line = one_line("deploy", "--port", os.ttyname(slave), "--timeout", "1")
        assert code == 1 and "does not answer" in line
    finally:
        os.close(master)
        os.close(slave)
