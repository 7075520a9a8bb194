"""SerialLink over a real pty, against a scripted board speaking the host link.

The far end is a fake board (the USB chip is what we may mock): it answers
``raw``, sends ``rx`` events among log and REPL lines, and records ``tx`` ops.
"""

from __future__ import annotations

import asyncio
import base64
import os
import pty
import tty
from typing import Any

from bitmesh.gateway.links import SerialLink, rx_event
from bitmesh.hostlink import decode_line, encode_line


class FakeBoard:
    def __init__(self) -> None:
        self.master, slave = pty.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        self.slave = slave
        self.buf = b""
        self.ops: list[dict[str, Any]] = []
        os.set_blocking(self.master, False)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def poll(self) -> None:
        try:
            self.buf += os.read(self.master, 65536)
        except BlockingIOError:
            return
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            msg = decode_line(line)
            if msg is None:
                continue
            self.ops.append(msg)
            if msg.get("op") == "raw":
                self.write(encode_line({"re": msg["id"], "ok": True}))

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


async def test_serial_link_streams_rx_frames_and_sends_tx() -> None:
    board = FakeBoard()
    link = SerialLink(board.port, 115200, timeout_s=3)
    try:
        opening = asyncio.create_task(link.open())
        while not opening.done():
            board.poll()
            await asyncio.sleep(0.01)
        await opening
        assert board.ops[0]["op"] == "raw" and board.ops[0]["on"] is True
        frame = bytes(range(30))
        board.write(b"MicroPython banner\n")
        board.write(b'{"t":1,"lvl":"info","msg":"status"}\n')
        board.write(encode_line({"ev": "rx", "frame": base64.b64encode(frame).decode(),
                                 "rssi": -61, "iface": 0, "addr": "020000000007"}))
        board.write(encode_line({"ev": "delivered", "src": "00" * 8}))
        got = await asyncio.wait_for(link.frames().__anext__(), 3)
        assert (got.frame, got.rssi, got.addr) == (frame, -61, bytes.fromhex("020000000007"))
        await link.send_frame(b"\x01" * 30)
        for _ in range(100):
            board.poll()
            if any(o.get("op") == "tx" for o in board.ops):
                break
            await asyncio.sleep(0.01)
        tx = next(o for o in board.ops if o.get("op") == "tx")
        assert base64.b64decode(tx["frame"]) == b"\x01" * 30
    finally:
        await link.close()
        board.close()


def test_rx_event_rejects_bad_fields() -> None:
    assert rx_event("msg", {"ev": "rx", "frame": "***"}) is None
    assert rx_event("msg", {"ev": "rx"}) is None
    assert rx_event("log", {"ev": "rx", "frame": "AA=="}) is None
    ok = rx_event("msg", {"ev": "rx", "frame": "AAE=", "rssi": "x", "addr": None})
    assert ok is not None and ok.frame == b"\x00\x01" and ok.rssi == 0 and ok.addr is None
