"""The virtual board's radio: datagrams to a medium process on the host.

The medium (host/bitmesh/vboard/medium.py) applies a scenario's positions,
range, loss, one-way links and events, then forwards each frame to the boards
that hear it. The board presents this radio to the core as ESP-NOW (iface 0,
250-byte frames, 6-byte link addresses), so the firmware runs unchanged.

Datagrams (all on 127.0.0.1):
    board -> medium  b"H" + mac(6) + node label (utf-8)   hello, every 2 s
    board -> medium  b"T" + dst mac(6) + frame            transmit (ff*6: broadcast)
    medium -> board  b"R" + src mac(6) + rssi(1, signed) + frame
"""

import socket
import time

MAX_DATA_LEN = 250
BROADCAST = b"\xff" * 6
HELLO_MS = 2000


class UDPRadio:
    name = "udp"
    iface = 0
    mtu = MAX_DATA_LEN

    def __init__(self, medium: str, mac: bytes, label: str) -> None:
        host, port = medium.rsplit(":", 1)
        self.medium = socket.getaddrinfo(host, int(port))[0][-1]
        self.mac = mac
        self.label = label
        self.sock = None  # type: socket.socket | None
        self.last_hello = 0
        self.counters = {"rx": 0, "tx": 0, "too_long": 0, "send_err": 0, "bad_rx": 0}

    def start(self) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(socket.getaddrinfo("127.0.0.1", 0)[0][-1])
        s.setblocking(False)
        self.sock = s
        self._hello(time.ticks_ms())  # type: ignore[arg-type]

    def _hello(self, now: int) -> None:
        self.last_hello = now
        try:
            if self.sock is not None:
                self.sock.sendto(b"H" + self.mac + self.label.encode(), self.medium)
        except OSError:
            self.counters["send_err"] += 1

    def tick(self, now: int) -> None:
        if time.ticks_diff(now, self.last_hello) >= HELLO_MS:
            self._hello(now)

    def pollable(self) -> object:
        return self.sock

    def recv(self) -> "tuple[bytes, bytes, int] | None":
        """One received frame as (src mac, frame, rssi), or None."""
        if self.sock is None:
            return None
        while True:
            try:
                d = self.sock.recv(512)
            except OSError:
                return None
            if len(d) < 9 or d[0] != 0x52:  # b"R"
                self.counters["bad_rx"] += 1
                continue
            self.counters["rx"] += 1
            rssi = d[7] - 256 if d[7] > 127 else d[7]
            return bytes(d[1:7]), d[8:], rssi

    def send(self, addr: "bytes | None", frame: "bytes | bytearray") -> bool:
        if len(frame) > MAX_DATA_LEN:
            self.counters["too_long"] += 1
            return False
        if self.sock is None:
            return False
        try:
            self.sock.sendto(b"T" + (addr or BROADCAST) + bytes(frame), self.medium)
        except OSError:
            self.counters["send_err"] += 1
            return False
        self.counters["tx"] += 1
        return True

    def stop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def status(self) -> "dict[str, object]":
        d = {"mac": self.mac.hex()}  # type: dict[str, object]
        for k in self.counters:
            d[k] = self.counters[k]
        return d
