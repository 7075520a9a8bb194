"""Link drivers: how a host node reaches the radios of a mesh.

Every driver implements :class:`Link`:

* ``await open()``        connect; raises :class:`LinkError` (or OSError/TimeoutError);
* ``await send_frame(b)`` hand one signed frame to the board's radios;
* ``frames()``            async iterator of :class:`RxFrame`, every frame the
                          board's radios heard; it ends (or raises) when the link drops;
* ``await close()``       idempotent.

A driver moves bytes only; protocol decisions stay in the core. The
:func:`supervise` loop owns reconnection: whenever a link fails to open or
drops, it waits a :class:`Backoff` delay and opens it again, forever, until
cancelled. Drivers: :class:`LoopbackLink` (in-process, for tests and the
virtual mesh), :class:`SerialLink` (the USB serial host link of docs/PROTOCOL.md)
and :class:`BleLink` (bleak, with a timeout on every BLE call).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from typing import Any


class LinkError(Exception):
    """The link is down or could not be opened; the message says why."""


class RxFrame:
    """One frame heard by the board: bytes, RSSI and the sender's link address."""

    __slots__ = ("frame", "rssi", "addr")

    def __init__(self, frame: bytes, rssi: int = 0, addr: bytes | None = None) -> None:
        self.frame = frame
        self.rssi = rssi
        self.addr = addr


class Link:
    """Base class of link drivers (see the module docstring for the contract)."""

    name = "link"

    async def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def send_frame(self, frame: bytes) -> None:
        raise NotImplementedError

    def frames(self) -> AsyncIterator[RxFrame]:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


class Backoff:
    """Exponential backoff with full jitter: ``min_s`` doubling up to ``max_s``."""

    def __init__(self, min_s: float = 0.5, max_s: float = 30.0) -> None:
        self.min_s = min_s
        self.max_s = max_s
        self.attempt = 0

    def next_delay(self) -> float:
        cap = min(self.max_s, self.min_s * float(1 << min(self.attempt, 16)))
        self.attempt += 1
        # Jitter spreads the retries of many gateways after a shared outage.
        return cap / 2 + random.random() * cap / 2

    def reset(self) -> None:
        self.attempt = 0


StateCallback = Callable[[str, str], None]


async def supervise(link: Link, on_frame: Callable[[RxFrame], None],
                    on_state: StateCallback, backoff: Backoff | None = None) -> None:
    """Keep ``link`` open forever: open, pump frames to ``on_frame``, and on any
    failure report ``on_state("down", reason)``, wait, and reopen. Cancel to stop.
    States reported: "connecting", "up", "down"."""
    bo = backoff or Backoff()
    while True:
        on_state("connecting", "")
        try:
            await link.open()
            on_state("up", "")
            bo.reset()
            async for rx in link.frames():
                on_frame(rx)
            reason = "link closed"
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await link.close()
            raise
        except (LinkError, OSError, TimeoutError, EOFError, ValueError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # noqa: BLE001 - a driver bug must not kill the gateway
            reason = f"unexpected {type(exc).__name__}: {exc}"
        with contextlib.suppress(Exception):
            await link.close()
        delay = bo.next_delay()
        on_state("down", f"{reason}; retrying in {delay:.1f}s")
        await asyncio.sleep(delay)


class LoopbackLink(Link):
    """An in-process link. The far side (a virtual board or a test) calls
    :meth:`deliver` for frames the board heard and reads what the host sent
    through the ``on_tx`` callback. :meth:`drop` simulates a cable pull."""

    name = "loopback"

    def __init__(self, on_tx: Callable[[bytes], None] | None = None, rx_max: int = 4096) -> None:
        self.on_tx = on_tx
        self.sent: list[bytes] = []  # kept only when no on_tx is given
        self.rx: asyncio.Queue[RxFrame | None] = asyncio.Queue(rx_max)
        self.is_open = False
        self.refuse = False  # while True, open() fails (tests of reconnection)
        self.opens = 0

    async def open(self) -> None:
        if self.refuse:
            raise LinkError("loopback refused")
        self.is_open = True
        self.opens += 1

    async def close(self) -> None:
        self.is_open = False

    async def send_frame(self, frame: bytes) -> None:
        if not self.is_open:
            raise LinkError("loopback link is down")
        if self.on_tx is not None:
            self.on_tx(bytes(frame))
        else:
            self.sent.append(bytes(frame))

    def deliver(self, frame: bytes, rssi: int = -50, addr: bytes | None = None) -> bool:
        """The board heard ``frame``; False when the link is down or full."""
        if not self.is_open:
            return False
        try:
            self.rx.put_nowait(RxFrame(bytes(frame), rssi, addr))
        except asyncio.QueueFull:
            return False
        return True

    def drop(self) -> None:
        """End the current connection, as if the cable was pulled."""
        self.is_open = False
        with contextlib.suppress(asyncio.QueueFull):
            self.rx.put_nowait(None)

    async def frames(self) -> AsyncIterator[RxFrame]:
        while self.is_open:
            rx = await self.rx.get()
            if rx is None:
                return
            yield rx


class SerialLink(Link):
    """The USB serial host link to a gateway board (docs/PROTOCOL.md, "Host
    link"): ``raw`` on streams every radio frame up as ``rx`` events; ``tx``
    transmits one frame. Every call on the port is bounded by ``timeout_s``."""

    name = "serial"

    def __init__(self, port: str, baud: int = 115200, timeout_s: float = 5.0) -> None:
        self.port = port
        self.baud = baud
        self.timeout_s = timeout_s
        self.client: Any = None

    def describe(self) -> str:
        return f"serial {self.port} @ {self.baud}"

    async def open(self) -> None:
        from bitmesh.hostlink import AsyncHostLink, HostLinkError

        try:
            self.client = await asyncio.wait_for(AsyncHostLink.open(self.port, self.baud),
                                                 self.timeout_s)
            await self.client.request("raw", timeout=self.timeout_s, on=True)
        except HostLinkError as exc:
            raise LinkError(str(exc)) from exc

    async def close(self) -> None:
        c, self.client = self.client, None
        if c is not None:
            with contextlib.suppress(Exception):
                c.close()

    async def send_frame(self, frame: bytes) -> None:
        from bitmesh.hostlink import HostLinkError, b64

        if self.client is None:
            raise LinkError("serial link is down")
        try:
            self.client.post({"op": "tx", "frame": b64(bytes(frame))})
        except HostLinkError as exc:
            raise LinkError(str(exc)) from exc

    async def frames(self) -> AsyncIterator[RxFrame]:
        if self.client is None:
            raise LinkError("serial link is down")
        async for kind, value in self.client.lines():
            if kind == "closed":
                raise LinkError(f"{self.port} closed {value}".strip())
            rx = rx_event(kind, value)
            if rx is not None:
                yield rx


def rx_event(kind: str, value: Any) -> RxFrame | None:
    """The RxFrame of a host-link ``{"ev": "rx", ...}`` message, else None."""
    if kind != "msg" or not isinstance(value, dict) or value.get("ev") != "rx":
        return None
    try:
        frame = base64.b64decode(value["frame"], validate=True)
        addr = value.get("addr")
        rssi = value.get("rssi", 0)
        return RxFrame(frame, rssi if isinstance(rssi, int) else 0,
                       bytes.fromhex(addr) if isinstance(addr, str) else None)
    except (KeyError, TypeError, ValueError, binascii.Error):
        return None


# The bitmesh BLE service (firmware/ble_radio.py): the host writes to RX and
# gets notifications from TX. Both carry chunks ``[hdr][len][bytes]``: hdr bit 7
# marks the last chunk of a unit, bit 6 the host-link channel (whose units are
# the same "@BM" lines as on USB), bits 0..5 count chunks.
BLE_SERVICE_UUID = "b17e0001-6d65-7368-8000-00805f9b34fb"
BLE_RX_UUID = "b17e0002-6d65-7368-8000-00805f9b34fb"
BLE_TX_UUID = "b17e0003-6d65-7368-8000-00805f9b34fb"
BLE_FINAL = 0x80
BLE_HOSTCH = 0x40


def ble_chunks(unit: bytes, size: int) -> list[bytes]:
    """Split one host-link unit into BLE chunks of at most ``size`` payload bytes."""
    size = max(1, min(size, 255))
    n = (len(unit) + size - 1) // size or 1
    out = []
    for i in range(n):
        part = unit[i * size:(i + 1) * size]
        hdr = (i & 0x3F) | (BLE_FINAL if i == n - 1 else 0) | BLE_HOSTCH
        out.append(bytes((hdr, len(part))) + part)
    return out


class BleLink(Link):
    """The host link over BLE with bleak. Every bleak call is bounded by
    ``timeout_s`` (BLE stacks hang; Meshtastic python #781, #909, #921); the
    disconnect callback ends :meth:`frames` so the supervisor reconnects.
    Writes go in :func:`ble_chunks` of ``max_write_without_response_size``."""

    name = "ble"

    def __init__(self, target: str, timeout_s: float = 10.0) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self.client: Any = None
        self.buf = b""
        self.rx: asyncio.Queue[RxFrame | None] = asyncio.Queue(1024)

    def describe(self) -> str:
        return f"ble {self.target}"

    async def open(self) -> None:
        from bleak import BleakClient, BleakScanner

        t = self.timeout_s
        if len(self.target) == 17 and self.target.count(":") == 5:
            find = BleakScanner.find_device_by_address(self.target, timeout=t)
        else:
            find = BleakScanner.find_device_by_name(self.target, timeout=t)
        dev = await asyncio.wait_for(find, t + 2)
        if dev is None:
            raise LinkError(f"no BLE device {self.target!r} found within {t:.0f}s")
        loop = asyncio.get_running_loop()
        self.rx = asyncio.Queue(1024)
        self.buf = b""

        def gone(_: Any) -> None:
            loop.call_soon_threadsafe(self._put, None)

        client = BleakClient(dev, disconnected_callback=gone, timeout=t)
        await asyncio.wait_for(client.connect(), t + 2)
        self.client = client
        await asyncio.wait_for(client.start_notify(BLE_TX_UUID, self._notified), t)
        await self._write_obj({"op": "raw", "on": True, "id": 1})

    def _put(self, rx: RxFrame | None) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.rx.put_nowait(rx)

    def _notified(self, _: Any, data: bytearray) -> None:
        from bitmesh.hostlink import MAX_LINE, classify_line

        i = 0
        while i + 2 <= len(data):
            hdr, n = data[i], data[i + 1]
            part = bytes(data[i + 2:i + 2 + n])
            i += 2 + n
            if len(part) != n or not hdr & BLE_HOSTCH:
                continue  # a node-to-node radio chunk or a torn one: not ours
            self.buf += part
            if len(self.buf) > MAX_LINE:
                self.buf = b""
            elif hdr & BLE_FINAL:
                line, self.buf = self.buf, b""
                rx = rx_event(*classify_line(line.rstrip(b"\r\n")))
                if rx is not None:
                    self._put(rx)

    async def _write_obj(self, obj: dict[str, Any]) -> None:
        from bitmesh.hostlink import encode_line

        c = self.client
        if c is None:
            raise LinkError("BLE link is down")
        size = 18
        with contextlib.suppress(Exception):
            size = max(18, int(c.services.get_characteristic(BLE_RX_UUID)
                               .max_write_without_response_size) - 2)
        for part in ble_chunks(encode_line(obj), size):
            await asyncio.wait_for(c.write_gatt_char(BLE_RX_UUID, part, response=False),
                                   self.timeout_s)

    async def close(self) -> None:
        c, self.client = self.client, None
        if c is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(c.disconnect(), self.timeout_s)

    async def send_frame(self, frame: bytes) -> None:
        await self._write_obj({"op": "tx", "frame": base64.b64encode(bytes(frame)).decode()})

    async def frames(self) -> AsyncIterator[RxFrame]:
        while self.client is not None:
            rx = await self.rx.get()
            if rx is None:
                raise LinkError(f"BLE device {self.target} disconnected")
            yield rx
