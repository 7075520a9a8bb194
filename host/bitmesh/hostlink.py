"""Host side of the USB-serial host link (spec: docs/PROTOCOL.md, "Host link").

The serial line carries text lines only, so the REPL keeps working and
``mpremote`` can always interrupt and redeploy. Three kinds of line arrive
from a board:

* ``@BM <base64 of a JSON object> <crc32 of the base64 text, 8 hex>``: a
  framed message (a reply ``{"re": id, "ok": ...}`` or an event ``{"ev": ...}``);
* a JSON object with at least ``t`` (ms ticks), ``lvl`` and ``msg``: a log line;
* anything else (REPL banner, traceback, ``print`` output): plain text.

The host sends framed lines only. API:

    encode_line(obj) -> bytes             # one framed line, b"\\n"-terminated
    decode_line(line) -> dict | None      # a framed line's object, else None
    classify_line(line) -> (kind, value)  # ("msg", dict) | ("log", dict) | ("text", str)

    with HostLink("/dev/ttyUSB0") as link:      # opens WITHOUT resetting the board
        link.request("status")                   # -> reply dict; raises on timeout / ok false
        link.request("send", dst=None, data=b64, app=0, ack=False)
        link.post({"op": "tx", "frame": b64})    # fire and forget
        for kind, value in link.iter_lines(timeout=1.0): ...

    link = await AsyncHostLink.open("/dev/ttyUSB0")   # same, for asyncio shells
    await link.request("status"); async for kind, value in link.lines(): ...

Lines that arrive while ``request`` waits for its reply are kept (bounded) and
handed out by the next ``iter_lines``/``lines`` call, so no event is lost.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import serial

from bitmesh.errors import BitmeshError

PREFIX = b"@BM "
MAX_LINE = 4096  # longest line either side accepts; longer ones are dropped
BACKLOG = 1024  # lines kept while a request waits for its reply

Line = tuple[str, Any]


class HostLinkError(BitmeshError):
    """The board did not answer, answered ok=false, or the port failed."""


def encode_line(obj: dict[str, Any]) -> bytes:
    """One framed line: ``@BM <b64(json)> <crc32(b64) as 8 hex>\\n``."""
    text = json.dumps(obj, separators=(",", ":")).encode()
    b64 = base64.b64encode(text)
    return PREFIX + b64 + b" %08x\n" % (binascii.crc32(b64) & 0xFFFFFFFF)


def decode_line(line: bytes | str) -> dict[str, Any] | None:
    """The object carried by a framed line, or None for anything else
    (not framed, bad CRC, bad base64, bad JSON, not an object)."""
    if isinstance(line, str):
        line = line.encode("utf-8", "replace")
    line = line.strip()
    if not line.startswith(PREFIX) or len(line) > MAX_LINE:
        return None
    parts = line.split(b" ")
    if len(parts) != 3 or len(parts[2]) != 8:
        return None
    b64 = parts[1]
    try:
        if int(parts[2], 16) != binascii.crc32(b64) & 0xFFFFFFFF:
            return None
        obj = json.loads(base64.b64decode(b64, validate=True))
    except (ValueError, binascii.Error):
        return None
    return obj if isinstance(obj, dict) else None


def classify_line(line: bytes | str) -> Line:
    """("msg", dict) for a framed line, ("log", dict) for a JSON log line,
    ("text", str) for everything else (REPL output, tracebacks, garbage)."""
    raw = line.encode("utf-8", "replace") if isinstance(line, str) else line
    msg = decode_line(raw)
    if msg is not None:
        return ("msg", msg)
    text = raw.decode("utf-8", "replace").strip("\r\n")
    s = text.strip()
    if s.startswith("{") and s.endswith("}"):
        try:
            obj = json.loads(s)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and "msg" in obj and "lvl" in obj:
            return ("log", obj)
    return ("text", text)


def b64(data: bytes) -> str:
    """Payload encoding used in every message field named ``data``/``frame``."""
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def open_port(port: str, baud: int = 115200, timeout: float = 0.1) -> serial.Serial:
    """Open a serial port without pulsing DTR/RTS (which would reset an ESP32).
    Works for real ports and for virtual boards' ptys."""
    s = serial.Serial()
    s.port = port
    s.baudrate = baud
    s.timeout = timeout
    s.dtr = False
    s.rts = False
    try:
        s.open()
    except serial.SerialException as e:
        raise HostLinkError(f"cannot open {port}: {e}") from None
    s.reset_input_buffer()  # bytes from before we opened belong to no one (a UART drops them)
    return s


class _Core:
    """Id allocation, line splitting and reply matching shared by both clients."""

    def __init__(self) -> None:
        self.next_id = 1
        self.buf = bytearray()
        self.backlog: collections.deque[Line] = collections.deque(maxlen=BACKLOG)

    def new_id(self) -> int:
        n = self.next_id
        self.next_id = n + 1 if n < 0x3FFFFFFF else 1
        return n

    def feed(self, data: bytes) -> list[bytes]:
        self.buf += data
        out: list[bytes] = []
        while True:
            i = self.buf.find(b"\n")
            if i < 0:
                if len(self.buf) > MAX_LINE:
                    self.buf.clear()
                return out
            out.append(bytes(self.buf[:i]))
            del self.buf[: i + 1]

    @staticmethod
    def check(reply: dict[str, Any], op: str) -> dict[str, Any]:
        if not reply.get("ok"):
            raise HostLinkError(f"board refused {op}: {reply.get('error', 'no reason given')}")
        return reply


class HostLink:
    """A blocking client over pyserial. Not thread-safe: one user at a time."""

    def __init__(self, port: str, baud: int = 115200) -> None:
        self.port = port
        self.ser = open_port(port, baud)
        self.core = _Core()

    def __enter__(self) -> HostLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.ser.close()

    def post(self, obj: dict[str, Any]) -> None:
        """Send one message without waiting for anything."""
        try:
            self.ser.write(encode_line(obj))
            self.ser.flush()
        except (serial.SerialException, OSError) as e:
            raise HostLinkError(f"{self.port}: write failed: {e}") from None

    def write_raw(self, data: bytes) -> None:
        """Bytes straight onto the line (tests: garbage, Ctrl-C)."""
        self.ser.write(data)
        self.ser.flush()

    def _read_lines(self) -> list[bytes]:
        try:
            data = self.ser.read(max(1, self.ser.in_waiting))
        except (serial.SerialException, OSError) as e:
            raise HostLinkError(f"{self.port}: read failed: {e}") from None
        return self.core.feed(data) if data else []

    def request(self, op: str, timeout: float = 3.0, check: bool = True,
                **fields: Any) -> dict[str, Any]:
        """Send ``{"op": op, "id": n, **fields}`` and return the reply with
        ``re == n``. Raises HostLinkError on timeout, or on ``ok: false``
        when ``check``."""
        n = self.core.new_id()
        msg = {"op": op, "id": n}
        msg.update(fields)
        self.post(msg)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for raw in self._read_lines():
                kind, value = classify_line(raw)
                if kind == "msg" and value.get("re") == n:
                    return self.core.check(value, op) if check else value
                self.core.backlog.append((kind, value))
        raise HostLinkError(f"{self.port}: no reply to {op} within {timeout:g}s")

    def iter_lines(self, timeout: float | None = None) -> Iterator[Line]:
        """Yield (kind, value) for every line, first those kept while a request
        waited. Stops after ``timeout`` seconds without a line (None: never)."""
        last = time.monotonic()
        while True:
            while self.core.backlog:
                yield self.core.backlog.popleft()
                last = time.monotonic()
            for raw in self._read_lines():
                yield classify_line(raw)
                last = time.monotonic()
            if timeout is not None and time.monotonic() - last > timeout:
                return

    def wait_for(self, pred: Any, timeout: float) -> Line:
        """The first line for which ``pred(kind, value)`` is true."""
        end = time.monotonic() + timeout
        for kind, value in self.iter_lines(timeout=0.05):
            if pred(kind, value):
                return (kind, value)
            if time.monotonic() > end:
                break
        while time.monotonic() < end:
            for kind, value in self.iter_lines(timeout=0.05):
                if pred(kind, value):
                    return (kind, value)
        raise HostLinkError(f"{self.port}: expected line not seen within {timeout:g}s")


class _LineProtocol(asyncio.Protocol):
    def __init__(self, link: AsyncHostLink) -> None:
        self.link = link

    def data_received(self, data: bytes) -> None:
        for raw in self.link.core.feed(data):
            self.link._dispatch(classify_line(raw))

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.closed.set()
        self.link.queue.put_nowait(("closed", str(exc) if exc else ""))


class AsyncHostLink:
    """The asyncio client (pyserial-asyncio-fast). ``lines()`` ends with a
    ``("closed", reason)`` item when the port goes away, so a gateway can
    reconnect."""

    def __init__(self) -> None:
        self.core = _Core()
        self.queue: asyncio.Queue[Line] = asyncio.Queue(maxsize=BACKLOG)
        self.waiters: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.closed = asyncio.Event()
        self.transport: asyncio.Transport | None = None
        self.port = ""

    @classmethod
    async def open(cls, port: str, baud: int = 115200) -> AsyncHostLink:
        import serial_asyncio_fast

        self = cls()
        self.port = port
        ser = open_port(port, baud, timeout=0)
        loop = asyncio.get_running_loop()
        transport, _ = await serial_asyncio_fast.connection_for_serial(
            loop, lambda: _LineProtocol(self), ser)
        self.transport = transport
        return self

    def _dispatch(self, item: Line) -> None:
        kind, value = item
        if kind == "msg" and isinstance(value.get("re"), int):
            fut = self.waiters.pop(value["re"], None)
            if fut is not None and not fut.done():
                fut.set_result(value)
                return
        if self.queue.full():
            self.queue.get_nowait()  # keep the newest lines; the board keeps counters
        self.queue.put_nowait(item)

    def post(self, obj: dict[str, Any]) -> None:
        if self.transport is None or self.closed.is_set():
            raise HostLinkError(f"{self.port}: link closed")
        self.transport.write(encode_line(obj))

    async def request(self, op: str, timeout: float = 3.0, check: bool = True,
                      **fields: Any) -> dict[str, Any]:
        n = self.core.new_id()
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiters[n] = fut
        msg = {"op": op, "id": n}
        msg.update(fields)
        self.post(msg)
        try:
            reply = await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise HostLinkError(f"{self.port}: no reply to {op} within {timeout:g}s") from None
        finally:
            self.waiters.pop(n, None)
        return self.core.check(reply, op) if check else reply

    async def lines(self) -> AsyncIterator[Line]:
        while True:
            item = await self.queue.get()
            yield item
            if item[0] == "closed":
                return

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
