"""Collect JSON log lines from many boards at once, surviving unplug and replug.

One reader thread per port, one :class:`LogSink` for all of them. Contracts:

* A port is opened with DTR and RTS set low *before* the open, so an ESP32
  is not reset, and exclusively, so two collectors cannot split its lines.
* Every record is stamped with the host receive time (``t_host``, Unix
  seconds) the moment its line is read, and tagged with ``node`` and
  ``port``. Records go to ``<node>.jsonl`` and to ``merged.jsonl``; the sink
  holds them for :data:`REORDER_S` seconds so that ``merged.jsonl`` is in
  ``t_host`` order even across threads.
* Records are JSON log lines and framed events (``{"ev": ...}``) from the
  board; REPL text is not recorded. Bytes are read once and never re-read,
  so no line is duplicated; every complete line read is written, and the
  bytes of an incomplete line cut by an unplug go into the gap marker.
* When the port fails (unplugged, the pty vanished) the reader retries until
  it opens again and then writes ``{"gap": {"start", "end", "seconds",
  "reason", "partial"}}`` into that node's file and the merged file.
* On connect it asks the board for its status over the host link to learn
  the node's name (else the port's name is used) and writes a
  ``{"connect": {"name", "node_id", "port"}}`` record.
* :meth:`Collector.stop` (Ctrl-C) stops the readers and flushes everything.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import re
import threading
import time
from pathlib import Path
from typing import IO, Any

import serial

from bitmesh.hostlink import classify_line, encode_line

MERGED = "merged.jsonl"
REORDER_S = 3.0  # > NAME_WAIT_S: lines held while the name is learned still sort
NAME_WAIT_S = 2.0
RETRY_S = 0.25
MAX_LINE = 4096


def port_label(port: str) -> str:
    """A file-safe node label from a port path (``/dev/ttyUSB0`` -> ``ttyUSB0``)."""
    return safe_name(Path(port).stem or Path(port).name or "board")


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64] or "board"


class _KeepInput(serial.Serial):
    """pyserial discards the input buffer on open; keep what a pty already
    holds (lines a virtual board printed while the host was away)."""

    opening = False

    def _reset_input_buffer(self) -> None:
        if not self.opening:
            super()._reset_input_buffer()  # type: ignore[misc]


def open_serial(port: str, timeout: float = 0.2) -> serial.Serial:
    """Open without touching DTR/RTS (no reset), exclusively, keeping input."""
    s = _KeepInput()
    s.port = port
    s.baudrate = 115200
    s.timeout = timeout
    s.dtr = False
    s.rts = False
    s.exclusive = True
    s.opening = True
    try:
        s.open()
    finally:
        s.opening = False
    return s


class LogSink:
    """Per-node JSONL files plus ``merged.jsonl``, written in receive order."""

    def __init__(self, out: Path, reorder_s: float = REORDER_S) -> None:
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self.reorder_s = reorder_s
        self.lock = threading.Lock()
        self.heap: list[tuple[float, int, str, dict[str, Any]]] = []
        self.seq = itertools.count()
        self.files: dict[str, IO[str]] = {}
        self.merged = open(out / MERGED, "a", encoding="utf-8")  # noqa: SIM115
        self.counts: dict[str, int] = {}

    def push(self, node: str, port: str, t_host: float, obj: dict[str, Any]) -> None:
        rec = {**obj, "node": node, "port": port, "t_host": round(t_host, 6)}
        with self.lock:
            heapq.heappush(self.heap, (t_host, next(self.seq), node, rec))

    def flush(self, everything: bool = False) -> None:
        """Write the records older than the reorder window (all if ``everything``)."""
        limit = float("inf") if everything else time.time() - self.reorder_s
        with self.lock:
            touched: set[str] = set()
            while self.heap and self.heap[0][0] <= limit:
                _, _, node, rec = heapq.heappop(self.heap)
                line = json.dumps(rec, separators=(",", ":")) + "\n"
                fh = self.files.get(node)
                if fh is None:
                    fh = self.files[node] = open(  # noqa: SIM115
                        self.out / f"{safe_name(node)}.jsonl", "a", encoding="utf-8")
                fh.write(line)
                self.merged.write(line)
                self.counts[node] = self.counts.get(node, 0) + 1
                touched.add(node)
            for node in touched:
                self.files[node].flush()
            if touched:
                self.merged.flush()

    def close(self) -> None:
        self.flush(everything=True)
        with self.lock:
            for fh in self.files.values():
                fh.close()
            self.merged.close()


class PortReader(threading.Thread):
    """Reads one port until stopped, reconnecting after every failure."""

    def __init__(self, port: str, sink: LogSink, stop: threading.Event,
                 probe: bool = True) -> None:
        super().__init__(name=f"logs:{port}", daemon=True)
        self.port = port
        self.sink = sink
        self.stop_event = stop
        self.probe = probe
        self.node = port_label(port)
        self.node_id: str | None = None
        self.lines = 0
        self.gaps = 0

    def run(self) -> None:
        gap: dict[str, Any] | None = None
        while not self.stop_event.is_set():
            try:
                ser = open_serial(self.port)
            except (serial.SerialException, OSError) as exc:
                if gap is None:
                    gap = {"start": time.time(), "reason": _reason(exc), "partial": ""}
                self.stop_event.wait(RETRY_S)
                continue
            try:
                gap = self._session(ser, gap)
            finally:
                with contextlib.suppress(Exception):
                    ser.close()

    def _session(self, ser: serial.Serial, gap: dict[str, Any] | None) -> dict[str, Any] | None:
        """Read one connection until it fails (return the open gap) or stop (None)."""
        pending: list[tuple[float, dict[str, Any]]] = []
        probe_id = 0x3FFF0000 + (self.gaps & 0xFFFF)
        naming = self.probe
        asked = time.time()
        if naming:
            with contextlib.suppress(serial.SerialException, OSError):
                ser.write(encode_line({"op": "status", "id": probe_id}))
        buf = bytearray()
        reconnected = gap
        while not self.stop_event.is_set():
            try:
                data = ser.read(max(1, ser.in_waiting))
            except (serial.SerialException, OSError) as exc:
                self._release(pending)
                self.gaps += 1
                partial = buf.decode("utf-8", "replace")
                if reconnected is not None:  # failed again before the marker went out
                    return {**reconnected, "partial": reconnected["partial"] + partial}
                return {"start": time.time(), "reason": _reason(exc), "partial": partial}
            now = time.time()
            if data:
                buf += data
                while True:
                    i = buf.find(b"\n")
                    if i < 0:
                        if len(buf) > MAX_LINE:
                            buf.clear()
                        break
                    raw = bytes(buf[:i])
                    del buf[: i + 1]
                    rec = self._record(raw, probe_id)
                    if rec is not None:
                        pending.append((now, rec))
            if naming and (self.node_id is not None or now - asked > NAME_WAIT_S):
                naming = False
            if not naming:
                if reconnected is not None:
                    self._gap_marker(reconnected, pending[0][0] if pending else now)
                    reconnected = None
                if pending:
                    self._release(pending)
        self._release(pending)
        return None

    def _record(self, raw: bytes, probe_id: int) -> dict[str, Any] | None:
        kind, value = classify_line(raw)
        if kind == "log":
            return dict(value)
        if kind != "msg":
            return None
        if value.get("re") == probe_id:
            status = value.get("status")
            if isinstance(status, dict):
                self._learn(status.get("name"), status.get("node_id"))
            return None
        if "ev" in value:
            if value.get("ev") == "boot":
                self._learn(value.get("name"), value.get("node_id"))
            return dict(value)
        return None

    def _learn(self, name: Any, node_id: Any) -> None:
        if isinstance(node_id, str):
            self.node_id = node_id
        label = name if isinstance(name, str) and name else node_id
        if isinstance(label, str) and label:
            if safe_name(label) != self.node:
                self.node = safe_name(label)
            self.sink.push(self.node, self.port, time.time() - 1e-6, {
                "connect": {"name": name, "node_id": self.node_id, "port": self.port}})

    def _gap_marker(self, gap: dict[str, Any], end: float) -> None:
        end = max(end - 1e-6, gap["start"])
        marker = {**gap, "end": round(end, 6), "seconds": round(end - gap["start"], 3)}
        marker["start"] = round(gap["start"], 6)
        if not marker.get("partial"):
            marker.pop("partial", None)
        self.sink.push(self.node, self.port, end, {"gap": marker})

    def _release(self, pending: list[tuple[float, dict[str, Any]]]) -> None:
        for t, rec in pending:
            self.sink.push(self.node, self.port, t, rec)
            self.lines += 1
        pending.clear()


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


class Collector:
    """Readers for ``ports`` writing into ``out``; :meth:`run` until stopped."""

    def __init__(self, ports: list[str], out: Path, probe: bool = True,
                 reorder_s: float = REORDER_S) -> None:
        self.sink = LogSink(out, reorder_s)
        self.stop_event = threading.Event()
        self.readers = [PortReader(p, self.sink, self.stop_event, probe) for p in ports]

    def start(self) -> None:
        for r in self.readers:
            r.start()

    def run(self, duration: float | None = None) -> None:
        """Collect until ``duration`` seconds pass or KeyboardInterrupt; always flush."""
        self.start()
        end = None if duration is None else time.monotonic() + duration
        try:
            while end is None or time.monotonic() < end:
                time.sleep(0.2)
                self.sink.flush()
        finally:
            self.stop()

    def stop(self) -> None:
        self.stop_event.set()
        for r in self.readers:
            r.join(timeout=5)
        self.sink.close()


def bench_logs(records: int = 20000, nodes: int = 8) -> dict[str, float]:
    """Merger throughput: records/s through :class:`LogSink` (``nodes`` nodes' lines
    pushed out of order, written to a temporary folder)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bitmesh-bench-logs-") as tmp:
        sink = LogSink(Path(tmp), reorder_s=0.0)
        base = time.time() - 10
        started = time.perf_counter()
        for i in range(records):
            node = f"n{i % nodes}"
            sink.push(node, node, base + (i ^ 7) * 1e-4,
                      {"t": i, "lvl": "info", "msg": "tick", "n": i})
            if i % 1000 == 999:
                sink.flush()
        sink.close()
        seconds = time.perf_counter() - started
    return {"logs_merge_records_per_s": round(records / seconds, 1),
            "logs_merge_us_per_record": round(seconds / records * 1e6, 2)}
