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
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
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
        cap = min(self.max_s, self.min_s * (2 ** min(self.attempt, 16)))
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

    async def frames(self) -> AsyncIterator[RxFrame]:  # type: ignore[override]
        while self.is_open:
            rx = await self.rx.get()
            if rx is None:
                return
            yield rx


class SerialLink(Link):
    """The USB serial host link (docs/PROTOCOL.md "## Host link") to a gateway
    board: "raw" mode streams every radio frame, "tx" transmits one. The codec
    and client live in :mod:`bitmesh.hostlink`."""

    name = "serial"

    def __init__(self, port: str, baud: int = 115200, timeout_s: float = 5.0) -> None:
        self.port = port
        self.baud = baud
        self.timeout_s = timeout_s
        self.client: Any = None

    def describe(self) -> str:
        return f"serial {self.port} @ {self.baud}"

    async def open(self) -> None:
        try:
            from bitmesh import hostlink  # written alongside the firmware (issue 5)
        except ImportError as exc:
            raise LinkError("bitmesh.hostlink is not available in this build") from exc
        self.client = await asyncio.wait_for(
            hostlink_open(hostlink, self.port, self.baud), self.timeout_s)

    async def close(self) -> None:
        c, self.client = self.client, None
        if c is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(_maybe_await(c.close()), self.timeout_s)

    async def send_frame(self, frame: bytes) -> None:
        if self.client is None:
            raise LinkError("serial link is down")
        await asyncio.wait_for(_maybe_await(self.client.tx(bytes(frame))), self.timeout_s)

    async def frames(self) -> AsyncIterator[RxFrame]:  # type: ignore[override]
        if self.client is None:
            raise LinkError("serial link is down")
        async for ev in self.client.raw_frames():
            yield RxFrame(ev.frame, getattr(ev, "rssi", 0) or 0, getattr(ev, "addr", None))


async def hostlink_open(hostlink: Any, port: str, baud: int) -> Any:
    """Open a host-link client in raw mode (adapter over bitmesh.hostlink)."""
    client = await _maybe_await(hostlink.open_client(port, baud))
    return client


async def _maybe_await(x: Any) -> Any:
    if isinstance(x, Awaitable):
        return await x
    return x


# The bitmesh BLE service (docs/PROTOCOL.md): the host writes to RX and gets
# notifications from TX. Both carry the same text framing as the serial link.
BLE_SERVICE_UUID = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
BLE_RX_UUID = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"
BLE_TX_UUID = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"


class BleLink(Link):
    """A host link over BLE with bleak. Every bleak call is bounded by
    ``timeout_s`` (BLE stacks hang; see Meshtastic python #781, #909, #921); a
    disconnect callback ends :meth:`frames` so the supervisor reconnects.

    Frames travel as host-link lines (``codec.encode_tx`` / ``codec.feed``),
    written in chunks of the negotiated ``max_write_without_response_size``."""

    name = "ble"

    def __init__(self, target: str, timeout_s: float = 10.0, codec: Any = None) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self.codec = codec
        self.client: Any = None
        self.rx: asyncio.Queue[RxFrame | None] = asyncio.Queue(1024)

    def describe(self) -> str:
        return f"ble {self.target}"

    async def open(self) -> None:
        from bleak import BleakClient, BleakScanner

        if self.codec is None:
            try:
                from bitmesh import hostlink
            except ImportError as exc:
                raise LinkError("bitmesh.hostlink is not available in this build") from exc
            self.codec = hostlink.LineCodec() if hasattr(hostlink, "LineCodec") else None
            if self.codec is None:
                raise LinkError("bitmesh.hostlink has no LineCodec for BLE")
        t = self.timeout_s
        is_addr = len(self.target) == 17 and self.target.count(":") == 5
        if is_addr:
            dev = await asyncio.wait_for(BleakScanner.find_device_by_address(self.target, timeout=t), t + 1)
        else:
            dev = await asyncio.wait_for(BleakScanner.find_device_by_name(self.target, timeout=t), t + 1)
        if dev is None:
            raise LinkError(f"no BLE device {self.target!r} found within {t:.0f}s")
        loop = asyncio.get_running_loop()

        def gone(_: Any) -> None:
            loop.call_soon_threadsafe(self.rx.put_nowait, None)

        client = BleakClient(dev, disconnected_callback=gone, timeout=t)
        await asyncio.wait_for(client.connect(), t + 1)
        self.client = client

        def notified(_: Any, data: bytearray) -> None:
            for ev in self.codec.feed(bytes(data)):
                frame = getattr(ev, "frame", None)
                if frame is not None:
                    self.rx.put_nowait(RxFrame(frame, getattr(ev, "rssi", 0) or 0,
                                               getattr(ev, "addr", None)))

        await asyncio.wait_for(client.start_notify(BLE_TX_UUID, notified), t)
        await self._write(self.codec.encode_raw_on())

    async def _write(self, data: bytes) -> None:
        c = self.client
        if c is None:
            raise LinkError("BLE link is down")
        chunk = 20
        with contextlib.suppress(Exception):
            chunk = max(20, int(c.mtu_size) - 3)
        for i in range(0, len(data), chunk):
            await asyncio.wait_for(
                c.write_gatt_char(BLE_RX_UUID, data[i:i + chunk], response=False), self.timeout_s)

    async def close(self) -> None:
        c, self.client = self.client, None
        if c is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(c.disconnect(), self.timeout_s)

    async def send_frame(self, frame: bytes) -> None:
        await self._write(self.codec.encode_tx(bytes(frame)))

    async def frames(self) -> AsyncIterator[RxFrame]:  # type: ignore[override]
        while self.client is not None:
            rx = await self.rx.get()
            if rx is None:
                return
            yield rx
