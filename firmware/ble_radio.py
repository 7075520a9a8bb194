"""BLE driver on the low-level ``bluetooth`` module.

One GATT service (``SERVICE``) with an RX characteristic (write, write without
response) and a TX characteristic (notify, read). It serves two channels:

* node to node, when ESP-NOW is off or failed: radio frames;
* the host link for laptops (bleak): the same ``@BM`` text lines as on USB.

Both ride the characteristics as chunks ``[hdr][len][len bytes]``; ``hdr``
bit 7 = last chunk of the unit, bit 6 = host-link channel, bits 0..5 = chunk
counter. The explicit length lets RX run in append mode (``gatts_set_buffer
(..., append=True)``), so writes that arrive between two reads are kept.
Chunk payload = negotiated ATT MTU - 3 - 2; the ESP32 does not start an MTU
exchange as peripheral, so we ask for one as central and accept the
central's as peripheral.

At most ``MAX_CONN`` (4) connections, counting both roles. As central the node
scans for the service UUID every ``SCAN_EVERY_MS`` while it has a free slot,
connects, discovers RX/TX, subscribes to TX. Link addresses given to the core
are the peer's 6-byte BLE address.

IRQ handlers only copy the data into a bounded inbox and set a flag;
everything else happens in ``poll()`` on the main loop (aioble style).
"""

from micropython import const

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_SCAN_RESULT = const(5)
_IRQ_SCAN_DONE = const(6)
_IRQ_PERIPHERAL_CONNECT = const(7)
_IRQ_PERIPHERAL_DISCONNECT = const(8)
_IRQ_GATTC_SERVICE_RESULT = const(9)
_IRQ_GATTC_SERVICE_DONE = const(10)
_IRQ_GATTC_CHARACTERISTIC_RESULT = const(11)
_IRQ_GATTC_CHARACTERISTIC_DONE = const(12)
_IRQ_GATTC_NOTIFY = const(18)
_IRQ_MTU_EXCHANGED = const(21)

SERVICE_UUID = "b17e0001-6d65-7368-8000-00805f9b34fb"
RX_UUID = "b17e0002-6d65-7368-8000-00805f9b34fb"
TX_UUID = "b17e0003-6d65-7368-8000-00805f9b34fb"
MAX_CONN = const(4)
INBOX_MAX = const(32)
RX_BUFFER = const(1024)
PREFERRED_MTU = const(256)
SCAN_EVERY_MS = const(20000)
SCAN_MS = const(2000)
FINAL = const(0x80)
HOSTCH = const(0x40)


def adv_payload(name: str, uuid_bytes: bytes) -> "tuple[bytes, bytes]":
    """(advertising data, scan response): flags + 128-bit service UUID, name."""
    adv = b"\x02\x01\x06" + bytes((len(uuid_bytes) + 1, 0x07)) + uuid_bytes
    n = name.encode()[:29]
    return adv, bytes((len(n) + 1, 0x09)) + n


def chunks(data: bytes, size: int, host: bool) -> "list[bytes]":
    """Split one unit into link chunks of at most ``size`` payload bytes."""
    size = max(1, min(size, 255))
    out = []
    n = (len(data) + size - 1) // size or 1
    for i in range(n):
        part = data[i * size:(i + 1) * size]
        hdr = (i & 0x3F) | (FINAL if i == n - 1 else 0) | (HOSTCH if host else 0)
        out.append(bytes((hdr, len(part))) + part)
    return out


class Link:
    """One BLE connection, either role."""

    __slots__ = ("conn", "addr", "central", "mtu", "rx_h", "tx_h", "ready", "frame", "line",
                 "svc")

    def __init__(self, conn: int, addr: bytes, central: bool) -> None:
        self.conn = conn
        self.addr = addr
        self.central = central  # True: we are the central (we connected out)
        self.mtu = 23
        self.rx_h = 0
        self.tx_h = 0
        self.ready = not central  # a peripheral link is usable at once
        self.frame = bytearray()
        self.line = bytearray()
        self.svc = (0, 0)


class BLERadio:
    name = "ble"
    iface = 1
    mtu = 250

    def __init__(self, gap_name: str, central: bool = True) -> None:
        self.gap_name = gap_name
        self.scan_enabled = central
        self.ble = None  # type: object
        self.rx_h = 0
        self.tx_h = 0
        self.links = {}  # type: dict[int, Link]
        self.inbox = []  # type: list[tuple[int, int, bytes]]
        self.pending = False
        self.candidates = []  # type: list[tuple[int, bytes]]
        self.scanning = False
        self.last_scan = 0
        self.uuid_bytes = b""
        self.counters = {"rx": 0, "tx": 0, "too_long": 0, "inbox_full": 0, "refused": 0,
                         "bad_chunk": 0, "send_err": 0}

    # ---------------------------------------------------------------- set-up
    def start(self) -> None:
        """Raises when the BLE stack cannot start (e.g. out of memory on C3)."""
        import bluetooth

        self.bt = bluetooth
        ble = bluetooth.BLE()
        ble.active(True)
        try:
            ble.config(gap_name=self.gap_name[:29], mtu=PREFERRED_MTU)
        except (OSError, ValueError):
            pass
        svc_uuid = bluetooth.UUID(SERVICE_UUID)
        tx = (bluetooth.UUID(TX_UUID), bluetooth.FLAG_NOTIFY | bluetooth.FLAG_READ)
        rx = (bluetooth.UUID(RX_UUID), bluetooth.FLAG_WRITE | bluetooth.FLAG_WRITE_NO_RESPONSE)
        ((self.tx_h, self.rx_h),) = ble.gatts_register_services(((svc_uuid, (tx, rx)),))  # type: ignore[assignment]
        ble.gatts_set_buffer(self.rx_h, RX_BUFFER, True)  # type: ignore[arg-type]
        ble.irq(self._irq)
        self.ble = ble
        self.uuid_bytes = bytes(svc_uuid)  # type: ignore[call-overload]
        self._advertise()

    def _advertise(self) -> None:
        if self.ble is None:
            return
        if len(self.links) >= MAX_CONN:
            self.ble.gap_advertise(None)  # type: ignore[attr-defined]
            return
        adv, resp = adv_payload(self.gap_name, self.uuid_bytes)
        self.ble.gap_advertise(250000, adv, resp_data=resp)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------- IRQ
    def _irq(self, event: int, data: tuple) -> None:  # type: ignore[type-arg]
        """Copy and flag only; ``poll()`` does the work."""
        if event == _IRQ_GATTS_WRITE:
            conn, handle = data[0], data[1]
            if handle == self.rx_h:
                self._queue(event, conn, bytes(self.ble.gatts_read(self.rx_h)))  # type: ignore[attr-defined]
        elif event == _IRQ_GATTC_NOTIFY:
            self._queue(event, data[0], bytes(data[2]))
        elif event == _IRQ_CENTRAL_CONNECT or event == _IRQ_PERIPHERAL_CONNECT:
            self._queue(event, data[0], bytes(data[2]))
        elif event == _IRQ_CENTRAL_DISCONNECT or event == _IRQ_PERIPHERAL_DISCONNECT:
            self._queue(event, data[0], b"")
        elif event == _IRQ_MTU_EXCHANGED:
            self._queue(event, data[0], bytes((data[1] >> 8, data[1] & 0xFF)))
        elif event == _IRQ_SCAN_RESULT:
            if self.uuid_bytes and self.uuid_bytes in bytes(data[4]):
                self._queue(event, data[0], bytes(data[1]))
        elif event == _IRQ_SCAN_DONE:
            self._queue(event, 0, b"")
        elif event == _IRQ_GATTC_SERVICE_RESULT:
            self._queue(event, data[0], bytes((data[1] >> 8, data[1] & 0xFF,
                                               data[2] >> 8, data[2] & 0xFF)))
        elif event == _IRQ_GATTC_CHARACTERISTIC_RESULT:
            self._queue(event, data[0], bytes((data[2] >> 8, data[2] & 0xFF)) + bytes(data[4]))
        elif event == _IRQ_GATTC_SERVICE_DONE or event == _IRQ_GATTC_CHARACTERISTIC_DONE:
            self._queue(event, data[0], b"")

    def _queue(self, event: int, conn: int, payload: bytes) -> None:
        if len(self.inbox) >= INBOX_MAX:
            self.counters["inbox_full"] += 1
            return
        self.inbox.append((event, conn, payload))
        self.pending = True

    # ----------------------------------------------------------- main loop
    def pollable(self) -> object:
        return None  # IRQ driven: the main loop calls poll() every turn

    def poll(self, now: int) -> "tuple[list[tuple[bytes, bytes, int]], list[bytes]]":
        """Process queued IRQ work. Returns (radio frames as (addr, frame, rssi),
        host-link input bytes)."""
        frames = []  # type: list[tuple[bytes, bytes, int]]
        host = []  # type: list[bytes]
        if self.pending:
            self.pending = False
            box = self.inbox
            self.inbox = []
            for event, conn, payload in box:
                self._handle(event, conn, payload, frames, host)
        self._maybe_scan(now)
        return frames, host

    def _handle(self, event: int, conn: int, payload: bytes,
                frames: "list[tuple[bytes, bytes, int]]", host: "list[bytes]") -> None:
        ble = self.ble
        if event == _IRQ_CENTRAL_CONNECT or event == _IRQ_PERIPHERAL_CONNECT:
            if len(self.links) >= MAX_CONN:
                self.counters["refused"] += 1
                ble.gap_disconnect(conn)  # type: ignore[attr-defined]
                return
            link = Link(conn, payload, event == _IRQ_PERIPHERAL_CONNECT)
            self.links[conn] = link
            if link.central:
                ble.gattc_exchange_mtu(conn)  # type: ignore[attr-defined]
                ble.gattc_discover_services(conn, self.bt.UUID(SERVICE_UUID))  # type: ignore[attr-defined]
            self._advertise()
        elif event == _IRQ_CENTRAL_DISCONNECT or event == _IRQ_PERIPHERAL_DISCONNECT:
            self.links.pop(conn, None)
            self._advertise()
        elif event == _IRQ_MTU_EXCHANGED:
            lk = self.links.get(conn)
            if lk is not None:
                lk.mtu = (payload[0] << 8) | payload[1]
        elif event == _IRQ_GATTS_WRITE or event == _IRQ_GATTC_NOTIFY:
            lk = self.links.get(conn)
            if lk is not None:
                self._reassemble(lk, payload, frames, host)
        elif event == _IRQ_SCAN_RESULT:
            if all(lk.addr != payload for lk in self.links.values()):
                self.candidates.append((conn, payload))  # conn carries addr_type here
        elif event == _IRQ_SCAN_DONE:
            self.scanning = False
            self._connect_next()
        elif event == _IRQ_GATTC_SERVICE_RESULT:
            lk = self.links.get(conn)
            if lk is not None:
                lk.svc = ((payload[0] << 8) | payload[1], (payload[2] << 8) | payload[3])
        elif event == _IRQ_GATTC_SERVICE_DONE:
            lk = self.links.get(conn)
            if lk is not None and lk.svc[0]:
                ble.gattc_discover_characteristics(conn, lk.svc[0], lk.svc[1])  # type: ignore[attr-defined]
        elif event == _IRQ_GATTC_CHARACTERISTIC_RESULT:
            lk = self.links.get(conn)
            if lk is not None:
                handle = (payload[0] << 8) | payload[1]
                uuid = payload[2:]
                if uuid == bytes(self.bt.UUID(RX_UUID)):  # type: ignore[call-overload]
                    lk.rx_h = handle
                elif uuid == bytes(self.bt.UUID(TX_UUID)):  # type: ignore[call-overload]
                    lk.tx_h = handle
        elif event == _IRQ_GATTC_CHARACTERISTIC_DONE:
            lk = self.links.get(conn)
            if lk is not None and lk.rx_h and lk.tx_h:
                ble.gattc_write(conn, lk.tx_h + 1, b"\x01\x00", 1)  # type: ignore[attr-defined]
                lk.ready = True

    def _reassemble(self, lk: Link, data: bytes, frames: "list[tuple[bytes, bytes, int]]",
                    host: "list[bytes]") -> None:
        i = 0
        while i + 2 <= len(data):
            hdr = data[i]
            n = data[i + 1]
            part = data[i + 2:i + 2 + n]
            i += 2 + n
            if len(part) != n:
                self.counters["bad_chunk"] += 1
                return
            buf = lk.line if hdr & HOSTCH else lk.frame
            buf.extend(part)
            if len(buf) > 4096:
                buf[:] = b""
                self.counters["too_long"] += 1
                continue
            if hdr & FINAL:
                unit = bytes(buf)
                buf[:] = b""
                if hdr & HOSTCH:
                    host.append(unit)
                else:
                    self.counters["rx"] += 1
                    frames.append((lk.addr, unit, 0))
        if i != len(data):
            self.counters["bad_chunk"] += 1

    def _maybe_scan(self, now: int) -> None:
        import time

        if (not self.scan_enabled or self.scanning or self.ble is None
                or len(self.links) >= MAX_CONN):
            return
        if self.last_scan and time.ticks_diff(now, self.last_scan) < SCAN_EVERY_MS:
            return
        self.last_scan = now or 1
        self.scanning = True
        self.candidates = []
        try:
            self.ble.gap_scan(SCAN_MS, 30000, 30000, True)  # type: ignore[attr-defined]
        except OSError:
            self.scanning = False

    def _connect_next(self) -> None:
        if self.candidates and len(self.links) < MAX_CONN:
            addr_type, addr = self.candidates.pop(0)
            try:
                self.ble.gap_connect(addr_type, addr)  # type: ignore[attr-defined]
            except OSError:
                self.counters["send_err"] += 1

    # ---------------------------------------------------------------- send
    def _send_unit(self, lk: Link, data: bytes, host: bool) -> bool:
        ble = self.ble
        try:
            for c in chunks(data, lk.mtu - 5, host):
                if lk.central:
                    ble.gattc_write(lk.conn, lk.rx_h, c, 0)  # type: ignore[attr-defined]
                else:
                    ble.gatts_notify(lk.conn, self.tx_h, c)  # type: ignore[attr-defined]
        except OSError:
            self.counters["send_err"] += 1
            return False
        return True

    def send(self, addr: "bytes | None", frame: "bytes | bytearray") -> bool:
        """A radio frame to one link (by BLE address) or to every ready link."""
        if len(frame) > self.mtu:
            self.counters["too_long"] += 1
            return False
        sent = False
        data = bytes(frame)
        for lk in self.links.values():
            if lk.ready and (addr is None or lk.addr == addr):
                sent = self._send_unit(lk, data, False) or sent
        if sent:
            self.counters["tx"] += 1
        return sent

    def send_host(self, line: bytes) -> None:
        """A host-link line to every link that is a host (peripheral role)."""
        for lk in self.links.values():
            if not lk.central:
                self._send_unit(lk, line, True)

    def tick(self, now: int) -> None:
        pass

    def stop(self) -> None:
        if self.ble is not None:
            self.ble.active(False)  # type: ignore[attr-defined]
            self.ble = None

    def status(self) -> "dict[str, object]":
        d = {"connections": len(self.links),
             "links": [{"addr": lk.addr.hex(), "central": lk.central, "mtu": lk.mtu,
                        "ready": lk.ready} for lk in self.links.values()]}  # type: dict[str, object]
        for k in self.counters:
            d[k] = self.counters[k]
        return d
