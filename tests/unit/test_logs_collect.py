"""The log merger and the gap markers of `bitmesh logs`, with a fake serial port."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import serial

from bitmesh.hostlink import encode_line
from bitmesh.logcollect import MERGED, LogSink, PortReader


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_merged_file_is_in_receive_order_across_nodes(tmp_path: Path) -> None:
    sink = LogSink(tmp_path)
    sink.push("a", "/dev/A", 10.5, {"msg": "a2"})
    sink.push("b", "/dev/B", 10.1, {"msg": "b1"})
    sink.push("a", "/dev/A", 10.0, {"msg": "a1"})
    sink.close()
    merged = lines(tmp_path / MERGED)
    assert [r["msg"] for r in merged] == ["a1", "b1", "a2"]
    assert [r["msg"] for r in lines(tmp_path / "a.jsonl")] == ["a1", "a2"]
    assert merged[1] == {"msg": "b1", "node": "b", "port": "/dev/B", "t_host": 10.1}


def test_recent_records_wait_for_the_reorder_window(tmp_path: Path) -> None:
    import time

    sink = LogSink(tmp_path, reorder_s=60)
    sink.push("a", "p", time.time() - 120, {"msg": "old"})
    sink.push("a", "p", time.time(), {"msg": "new"})
    sink.flush()
    assert [r["msg"] for r in lines(tmp_path / MERGED)] == ["old"]
    sink.close()  # Ctrl-C: everything goes out
    assert [r["msg"] for r in lines(tmp_path / MERGED)] == ["old", "new"]


class FakeSerial:
    """Hands out chunks, then fails like an unplugged USB port."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.in_waiting = 0
        self.written = b""

    def read(self, n: int) -> bytes:
        if not self.chunks:
            raise serial.SerialException("device reports readiness to read but returned no data")
        return self.chunks.pop(0)

    def write(self, data: bytes) -> int:
        self.written += data
        return len(data)


def log(n: int) -> bytes:
    return json.dumps({"t": n, "lvl": "info", "msg": "tick", "n": n}).encode() + b"\n"


def test_unplug_keeps_every_line_and_marks_the_gap(tmp_path: Path) -> None:
    sink = LogSink(tmp_path)
    reader = PortReader("/dev/ttyUSB0", sink, threading.Event(), probe=False)
    first = FakeSerial([log(0) + log(1)[:5], log(1)[5:] + b"REPL text\n" + log(2)[:9]])
    gap = reader._session(first, None)  # type: ignore[arg-type]
    assert gap is not None and gap["partial"] == log(2)[:9].decode()
    second = FakeSerial([log(3), log(4)])
    assert reader._session(second, gap) is not None  # type: ignore[arg-type]
    sink.close()
    recs = lines(tmp_path / "ttyUSB0.jsonl")
    assert [r.get("n") for r in recs] == [0, 1, None, 3, 4]
    marker = recs[2]["gap"]
    assert marker["partial"] == log(2)[:9].decode() and marker["reason"]
    assert marker["start"] <= marker["end"] <= recs[3]["t_host"]
    assert reader.gaps == 2 and reader.lines == 4


def test_probe_names_the_node_and_events_are_kept(tmp_path: Path) -> None:
    sink = LogSink(tmp_path)
    reader = PortReader("/dev/ttyUSB1", sink, threading.Event(), probe=True)
    probe_id = 0x3FFF0000
    reply = encode_line({"re": probe_id, "ok": True,
                         "status": {"name": "table-1", "node_id": "00112233aabbccdd"}})
    event = encode_line({"ev": "peer_up", "peer": "aa" * 8, "iface": 0, "rssi": -50})
    fake = FakeSerial([log(0), reply + event, log(1)])
    reader._session(fake, None)  # type: ignore[arg-type]
    sink.close()
    assert fake.written.startswith(b"@BM ")
    recs = lines(tmp_path / "table-1.jsonl")
    connects = [r["connect"] for r in recs if "connect" in r]
    assert connects == [{"name": "table-1", "node_id": "00112233aabbccdd",
                         "port": "/dev/ttyUSB1"}]
    # Lines read before the name was known still land in the node's file.
    assert [r.get("n", r.get("ev")) for r in recs if "connect" not in r] == [0, "peer_up", 1]
    assert not (tmp_path / "ttyUSB1.jsonl").exists()
