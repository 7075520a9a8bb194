"""ESP-NOW radio driver (MicroPython ``espnow``).

* All nodes share one WiFi channel, taken from config (``network.channel``).
* The broadcast peer ``ff:ff:ff:ff:ff:ff`` is registered at start; floods,
  heartbeats and every frame without a known link address go there.
* Peer limit strategy: ESP-NOW registers at most 20 peers (6 encrypted). We
  never use ESP-NOW encryption (every bitmesh frame carries the core's HMAC,
  and replay protection lives in the core), and keep at most ``UNICAST_PEERS``
  (16) unicast peers registered besides broadcast, evicting the least recently
  used one when a new neighbour must be reached. That leaves headroom under
  the 20-peer limit for other users of the radio.
* ``rxbuf`` holds ``RX_FRAMES`` full frames so a burst of relays survives a
  slow main loop (the default is about two frames).
* Frames longer than ``espnow.MAX_DATA_LEN`` are refused and counted.
* Reception is polled: ``irecv(0)`` from the main loop, which waits on the
  ESPNow object with ``select.poll`` (the same wait aioespnow uses). No IRQ.
"""

from micropython import const

BROADCAST = b"\xff" * 6
UNICAST_PEERS = const(16)
RX_FRAMES = const(24)


class ESPNowRadio:
    name = "espnow"
    iface = 0

    def __init__(self, channel: int = 1) -> None:
        self.channel = channel
        self.e = None  # type: object
        self.sta = None  # type: object
        self.mtu = 250
        self.lru = []  # type: list[bytes]
        self.mac = b""
        self.counters = {"rx": 0, "tx": 0, "too_long": 0, "send_err": 0, "evicted": 0}

    def start(self) -> None:
        """Bring up WiFi STA on the mesh channel and ESP-NOW. Raises on failure
        (the caller logs it and runs on the other radio)."""
        import espnow
        import network

        sta = network.WLAN(network.WLAN.IF_STA)
        sta.active(True)
        try:
            sta.disconnect()
        except OSError:
            pass
        sta.config(channel=self.channel)
        self.sta = sta
        self.mac = bytes(sta.config("mac"))
        e = espnow.ESPNow()
        e.active(True)
        self.mtu = espnow.MAX_DATA_LEN
        e.config(rxbuf=RX_FRAMES * (self.mtu + 16), timeout_ms=0)
        e.add_peer(BROADCAST)
        self.e = e

    def pollable(self) -> object:
        return self.e

    def recv(self) -> "tuple[bytes, bytes, int] | None":
        """One frame as (src mac, frame copy, rssi), or None when none waits."""
        e = self.e
        if e is None:
            return None
        mac, msg = e.irecv(0)  # type: ignore[attr-defined]
        if mac is None or msg is None:
            return None
        src = bytes(mac)
        rssi = 0
        try:
            rssi = e.peers_table[src][0]  # type: ignore[attr-defined]
        except (KeyError, AttributeError, IndexError):
            pass
        self.counters["rx"] += 1
        return src, bytes(msg), rssi

    def _ensure_peer(self, addr: bytes) -> None:
        lru = self.lru
        if addr in lru:
            if lru[-1] != addr:
                lru.remove(addr)
                lru.append(addr)
            return
        e = self.e
        if len(lru) >= UNICAST_PEERS:
            old = lru.pop(0)
            try:
                e.del_peer(old)  # type: ignore[attr-defined]
            except OSError:
                pass
            self.counters["evicted"] += 1
        try:
            e.add_peer(addr, channel=0)  # type: ignore[attr-defined]
        except OSError as err:
            # ESP_ERR_ESPNOW_EXIST: registered outside our book-keeping; keep it
            if "EXIST" not in str(err):
                raise
        lru.append(addr)

    def send(self, addr: "bytes | None", frame: "bytes | bytearray") -> bool:
        if len(frame) > self.mtu:
            self.counters["too_long"] += 1
            return False
        e = self.e
        if e is None:
            return False
        dst = BROADCAST if addr is None or len(addr) != 6 else addr
        try:
            if dst != BROADCAST:
                self._ensure_peer(dst)
            e.send(dst, frame, False)  # type: ignore[attr-defined]
        except OSError:
            self.counters["send_err"] += 1
            return False
        self.counters["tx"] += 1
        return True

    def stop(self) -> None:
        if self.e is not None:
            try:
                self.e.active(False)  # type: ignore[attr-defined]
            except OSError:
                pass
            self.e = None

    def tick(self, now: int) -> None:
        pass

    def status(self) -> "dict[str, object]":
        d = {"mac": self.mac.hex(), "channel": self.channel,
             "peers_registered": len(self.lru) + 1}  # type: dict[str, object]
        for k in self.counters:
            d[k] = self.counters[k]
        return d
