"""`bitmesh logs` against MicroPython VMs on ptys: two boards, one unplugged and
replugged (its pty vanishes and comes back at another path) mid-collection."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import serial

sys.path.insert(0, str(Path(__file__).parent))
from toolkit_boards import PtyBoard, logger_script, one_line_error, run_cli, start_logs  # noqa: E402

pytestmark = pytest.mark.vboard


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def wait_for(pred: Callable[[], bool], what: str, limit: float = 30.0) -> None:
    end = time.monotonic() + limit
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def ticks(recs: list[dict[str, Any]], boot: int) -> list[int]:
    return [r["n"] for r in recs if r.get("msg") == "tick" and r.get("boot") == boot]


def test_collect_through_unplug_and_replug(tmp_path: Path) -> None:
    b1 = PtyBoard(tmp_path / "b1")
    b2 = PtyBoard(tmp_path / "b2")
    b1.start(logger_script(1, ["b2"]), interactive=False)
    b2.start(logger_script(1, ["b1"]), interactive=False)
    first_pty = b1.pty_path
    out = tmp_path / "logs"
    proc = start_logs("--port", b1.port, "--port", b2.port, "--out", str(out))
    try:
        wait_for(lambda: len(ticks(read_jsonl(out / "b1.jsonl"), 1)) >= 20, "b1 boot 1")
        b1.kill()  # unplug: the VM dies, its pty and the symlink vanish
        time.sleep(0.5)
        b1.start(logger_script(2, ["b2"]), interactive=False)  # replug, maybe a new pty
        wait_for(lambda: len(ticks(read_jsonl(out / "b1.jsonl"), 2)) >= 20, "b1 boot 2")
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        b1.kill()
        b2.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "reconnect" in err

    r1 = read_jsonl(out / "b1.jsonl")
    r2 = read_jsonl(out / "b2.jsonl")
    merged = read_jsonl(out / "merged.jsonl")
    # No line lost or duplicated within what each boot managed to send.
    for recs, boots in ((r1, (1, 2)), (r2, (1,))):
        for boot in boots:
            ns = ticks(recs, boot)
            assert ns == list(range(ns[0], ns[0] + len(ns))), (boot, ns)
    assert ticks(r1, 1)[0] == 0 and ticks(r1, 2)[0] == 0  # nothing lost at the start
    # One gap marker, between the two boots, only on the replugged board.
    gaps = [i for i, r in enumerate(r1) if "gap" in r]
    assert len(gaps) == 1 and not any("gap" in r for r in r2)
    gap = r1[gaps[0]]["gap"]
    assert gap["end"] >= gap["start"] and gap["seconds"] >= 0.4 and gap["reason"]
    assert all(r.get("boot") != 2 for r in r1[: gaps[0]])
    assert all(r.get("boot") != 1 for r in r1[gaps[0]:])
    # The merged file: everything, tagged, in host receive order.
    assert len(merged) == len(r1) + len(r2)
    assert all(r["node"] in ("b1", "b2") and r["port"] in (b1.port, b2.port) for r in merged)
    stamps = [r["t_host"] for r in merged]
    assert stamps == sorted(stamps)
    print(f"pty {first_pty} -> {b1.pty_path}; gap {gap['seconds']}s; {len(merged)} records")

    summary = run_cli("logs", "summary", str(out), "--json", "--plot", str(tmp_path / "t.png"))
    assert summary.returncode == 0, summary.stderr
    doc = json.loads(summary.stdout)
    assert doc["nodes"]["b1"]["peers"] == ["b2"] and doc["nodes"]["b1"]["gaps"] == 1
    assert doc["edges"] == [["b1", "b2"]]
    assert doc["nodes"]["b2"]["heap_low"] <= 50000
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_logs_errors_are_one_line(tmp_path: Path) -> None:
    assert "no port given" in one_line_error(run_cli("logs", "--out", str(tmp_path)))
    missing = run_cli("logs", "--port", str(tmp_path / "nope"), "--out", str(tmp_path / "o"))
    assert "no such port" in one_line_error(missing)
    assert "no log folder" in one_line_error(run_cli("logs", "summary", str(tmp_path / "x")))
    board = PtyBoard(tmp_path / "b")
    board.start()
    holder = serial.Serial()
    holder.port = board.port
    holder.exclusive = True
    holder.open()
    try:
        busy = run_cli("logs", "--port", board.port, "--out", str(tmp_path / "o"))
        assert "busy" in one_line_error(busy)
    finally:
        holder.close()
        board.kill()
