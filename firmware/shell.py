"""The firmware shell: one poll loop around MeshNode (docs/FIRMWARE.md).

The loop waits in ``select.poll`` on the USB serial input and every pollable
radio (ESP-NOW, the UDP radio of a virtual board) until the core's next timer,
at most ``TICK_MS`` later (``BLE_TICK_MS`` when BLE's IRQ inbox needs draining).
Each turn it feeds received frames to ``node.receive``, runs
``node.handle_timer``, hands ``frames_to_send`` to the radio of their
interface, pumps core events up the host link, feeds the watchdog, drives the
status LED and samples the heap. One wait point and no per-frame tasks keep
allocation low; uasyncio would wait on the same poller.

A missing or bad config, or a node that fails to start, leaves the board in
the unprovisioned safe mode: the host link answers status/ping/provision, one
clear error line is logged, and the loop never exits or crash-loops.

Services above routing (the craps bot of the config's ``bot`` section) live
in firmware/services.py; host-link requests in firmware/hostops.py; radio
bring-up in firmware/radios.py.
"""

import binascii
import gc
import os
import select
import sys
import time

import hostops
from hostlink import HostLink
from services import Services
from status_led import StatusLed

FW_VERSION = "0.1.0"
TICK_MS = 1000
BLE_TICK_MS = 50
STATUS_LOG_MS = 10000
RX_BURST = 32
DEFAULT_WDT_MS = 20000
GC_START_THRESHOLD = 4096  # bytes allocated between collections while starting
# ... and while running: each frame's garbage is collected before it scatters
# holes between the queues' long-lived frames (tests/mpy/budget.py: the node
# with every table full needs 8wK less heap than with one collection a second).
GC_RUN_THRESHOLD = 8192


def ticks() -> int:
    return time.ticks_ms()  # type: ignore[return-value]


def tadd(t: int, d: int) -> int:
    return int(time.ticks_add(t, d))  # type: ignore[type-var]


def tdiff(a: int, b: int) -> int:
    return int(time.ticks_diff(a, b))  # type: ignore[type-var]


def b64(data: "bytes | bytearray") -> str:
    return binascii.b2a_base64(bytes(data), newline=False).decode()


def event_dict(ev: object) -> "dict[str, object]":
    """A core event as a host-link message: the core's ``event`` key becomes ``ev``."""
    d = ev.to_dict()  # type: ignore[attr-defined]
    out = {"ev": d.pop("event", "event")}  # type: dict[str, object]
    for k in d:
        out[k] = d[k]
    if out["ev"] == "delivered":
        out["data"] = b64(ev.payload)  # type: ignore[attr-defined]
    return out


class Shell:
    def __init__(self, link: "HostLink | None" = None, stdin: object = None) -> None:
        self.link = link or HostLink()
        self.stdin = stdin if stdin is not None else sys.stdin
        self.rd = getattr(self.stdin, "buffer", self.stdin)
        import fwconfig  # boot and provisioning only: setup() drops it again

        self.cfg, self.reason = fwconfig.load()
        self.boot_count = fwconfig.bump_boot_count()
        self.node = None  # type: object
        self.radios = []  # type: list[object]
        self.radio_state = {"espnow": "off", "ble": "off"}  # type: dict[str, str]
        self.by_iface = {}  # type: dict[int, object]
        self.ble = None  # type: object
        self.raw = False
        self.t0 = ticks()
        gc.collect()  # heap.min_free is sampled after a collection, here as each second
        self.heap_min = gc.mem_free()
        self.next_tick = self.t0
        self.next_status = tadd(self.t0, STATUS_LOG_MS)
        self.reset_at = None  # type: int | None
        self.errors = 0
        self.last_err = 0
        self.wdt = None  # type: object
        self.led = StatusLed(None)
        self.stdin_ok = True
        self.mem_errors = 0
        self.started_t = None  # type: int | None  # ticks when the node started
        self.first_peer_t = None  # type: int | None  # ticks of the first peer_up
        self.services = Services()

    # ---------------------------------------------------------------- set-up
    def setup(self) -> None:
        cfg = self.cfg
        # Collect often while the core's modules load and its tables are made:
        # garbage left between long-lived code objects fragments the heap so
        # much that a 4 KB table no longer fits in 70 KB free.
        gc.collect()
        gc.threshold(GC_START_THRESHOLD)
        if cfg is not None:
            try:
                self._start_node(cfg)
            except Exception as e:  # noqa: BLE001 - fall back to safe mode, never crash-loop
                self.reason = "node failed to start: " + repr(e)
                self.cfg = None
                self.node = None
                for r in self.radios:
                    r.stop()  # type: ignore[attr-defined]
                self.radios = []
        cfg = self.cfg
        gc.threshold(GC_RUN_THRESHOLD)
        if cfg is not None and self.node is not None:
            self.services.start(self.node, cfg, self.link, ticks())
        # The config module is needed again only to provision, which imports
        # it anew: dropped, its code (5 KB) is heap a running node can use.
        sys.modules.pop("fwconfig", None)
        gc.collect()
        if cfg is None:
            self.link.log("error", "unprovisioned", reason=self.reason,
                          hint="provision with: bitmesh provision --port PORT --name NAME "
                               "--network NET")
        else:
            pin = cfg.get("led_pin")
            self.led = StatusLed(pin if isinstance(pin, int) else None,
                                 str(cfg.get("led_type", "gpio")))
        self._start_wdt(cfg)
        self.link.send({"ev": "boot", "node_id": self._node_id(), "name": self._name(),
                        "state": self._state(), "boot_count": self.boot_count,
                        "fw": FW_VERSION})

    def _start_wdt(self, cfg: "dict[str, object] | None") -> None:
        ms = DEFAULT_WDT_MS
        if cfg is not None and isinstance(cfg.get("wdt_ms"), int):
            ms = cfg["wdt_ms"]  # type: ignore[assignment]
        if ms <= 0:
            return
        try:
            import machine

            self.wdt = machine.WDT(timeout=ms)
        except (ImportError, AttributeError, ValueError, OSError):
            self.wdt = None  # the unix port has no watchdog

    def _start_node(self, cfg: "dict[str, object]") -> None:
        import fwconfig

        from bitmesh_core.identity import Identity
        from bitmesh_core.node import MeshNode
        from bitmesh_core.rng import SeededRng
        from bitmesh_core.router import router_class

        nc = fwconfig.node_config(cfg)
        # Load the configured router's code before the node allocates its
        # tables: code first keeps the big table buffers from fragmenting.
        router_class(nc.router)
        ident = Identity.from_secret(binascii.unhexlify(str(cfg["node_secret"])))
        net = cfg["network"]
        key = binascii.unhexlify(str(net["key"]))  # type: ignore[index]
        import radios  # run once at start-up: dropped after, so its code is freed
        radios.start(self, cfg, ident.node_id, int(net.get("channel", 1)))  # type: ignore[attr-defined]
        del sys.modules["radios"]
        gc.collect()
        ifaces = tuple(sorted(self.by_iface)) or (0,)
        seed = int.from_bytes(os.urandom(4), "big") & 0x3FFFFFFF
        self.node = MeshNode(nc, ident, key, SeededRng(seed), ticks(),
                             self.boot_count, ifaces)
        self.started_t = ticks()
        self.link.log("info", "node_started", node_id=ident.node_id.hex(), name=nc.name,
                      role=nc.role, radios=self.radio_state, boot_count=self.boot_count)

    # ------------------------------------------------------------ accessors
    def _state(self) -> str:
        return "running" if self.node is not None else "unprovisioned"

    def _node_id(self) -> "str | None":
        return self.node.node_id.hex() if self.node is not None else None  # type: ignore[attr-defined]

    def _name(self) -> "str | None":
        return str(self.cfg.get("name")) if self.cfg is not None else None

    # ------------------------------------------------------------ the loop
    def run(self) -> None:
        """Run forever (KeyboardInterrupt ends it: Ctrl-C gives the REPL back)."""
        poller = select.poll()
        self.in_poll = select.poll()
        try:
            poller.register(self.stdin, select.POLLIN)
            self.in_poll.register(self.stdin, select.POLLIN)
        except (OSError, TypeError, ValueError):
            self.stdin_ok = False
        for r in self.radios:
            p = r.pollable()  # type: ignore[attr-defined]
            if p is not None:
                poller.register(p, select.POLLIN)
        while True:
            now = ticks()
            res = poller.poll(self._timeout(now))
            try:
                for obj, ev in res:
                    if obj is self.stdin:
                        data = self._read_stdin() if ev & select.POLLIN else b""
                        if data:
                            self._on_input(data)
                        elif ev & (select.POLLHUP | select.POLLERR):
                            poller.unregister(self.stdin)  # host side gone for good
                            self.stdin_ok = False
                self.step(ticks())
            except MemoryError:
                gc.collect()
                self.mem_errors += 1
                self._error("memory", "MemoryError")
            except KeyboardInterrupt:
                raise
            except Exception as e:  # noqa: BLE001 - log and keep the node alive
                self._error("loop", repr(e))

    def _error(self, where: str, detail: str) -> None:
        self.errors += 1
        now = ticks()
        if tdiff(now, self.last_err) >= 1000 or self.errors == 1:
            self.last_err = now
            self.link.log("error", "loop_error", where=where, detail=detail[:120],
                          count=self.errors)

    def _timeout(self, now: int) -> int:
        t = tdiff(self.next_tick, now)
        if self.node is not None:
            from bitmesh_core.clock import diff, wrap

            for nt in (self.node.next_timer(), self.services.next_timer()):  # type: ignore[attr-defined]
                if nt is not None:
                    t = min(t, diff(nt, wrap(now)))
        if self.ble is not None:
            t = min(t, BLE_TICK_MS)
        return max(0, min(t, TICK_MS))

    def _read_stdin(self) -> bytes:
        data = bytearray()
        for _ in range(1024):
            b = self.rd.read(1)  # type: ignore[attr-defined]
            if not b:
                break
            data.extend(b.encode() if isinstance(b, str) else b)
            if not self.in_poll.poll(0):
                break
        return bytes(data)

    def _on_input(self, data: bytes) -> None:
        for m in self.link.feed(data):
            hostops.handle(self, m)

    def step(self, now: int) -> None:
        """One turn of work at ``now`` (ticks ms)."""
        node = self.node
        if node is not None:
            for r in self.radios:
                for _ in range(RX_BURST):
                    got = r.recv() if r is not self.ble else None  # type: ignore[attr-defined]
                    if got is None:
                        break
                    self._rx(r.iface, got, now)  # type: ignore[attr-defined]
            if self.ble is not None:
                frames, host = self.ble.poll(now)  # type: ignore[attr-defined]
                for f in frames:
                    self._rx(1, f, now)
                for line in host:
                    self._on_input(line + b"\n")
            from bitmesh_core.clock import diff

            self.services.on_timer(now)
            nt = node.next_timer()  # type: ignore[attr-defined]
            if nt is None or diff(now & 0x3FFFFFFF, nt) >= 0:
                node.handle_timer(now)  # type: ignore[attr-defined]
            self._flush()
            self._pump_events()
        if tdiff(now, self.next_tick) >= 0:
            self.next_tick = tadd(now, TICK_MS)
            self._tick(now)
        if self.reset_at is not None and tdiff(now, self.reset_at) >= 0:
            self._reset()

    def _rx(self, iface: int, got: "tuple[bytes, bytes, int]", now: int) -> None:
        addr, frame, rssi = got
        self.node.receive(iface, frame, rssi, now, addr)  # type: ignore[attr-defined]
        if self.raw:
            self.link.send({"ev": "rx", "frame": b64(frame), "rssi": rssi, "iface": iface,
                            "addr": addr.hex()})

    def _flush(self) -> None:
        for iface, addr, frame in self.node.frames_to_send():  # type: ignore[attr-defined]
            r = self.by_iface.get(iface)
            if r is not None:
                r.send(addr, frame)  # type: ignore[attr-defined]
            else:
                self.node.drop("no_radio")  # type: ignore[attr-defined]

    def _pump_events(self) -> None:
        node = self.node
        for _ in range(64):
            ev = node.next_event()  # type: ignore[attr-defined]
            if ev is None:
                return
            d = event_dict(ev)
            self.link.send(d)
            if d["ev"] == "peer_up" and self.first_peer_t is None:
                self.first_peer_t = ticks()
            if d["ev"] in ("peer_up", "peer_lost", "partition", "healed"):
                self.link.log("info", str(d["ev"]), peer=d.get("peer"))

    def _tick(self, now: int) -> None:
        if self.wdt is not None:
            self.wdt.feed()  # type: ignore[attr-defined]
        gc.collect()
        free = gc.mem_free()
        if free < self.heap_min:
            self.heap_min = free
        for r in self.radios:
            r.tick(now)  # type: ignore[attr-defined]
        peers = len(self.node.peers) if self.node is not None else 0  # type: ignore[attr-defined]
        self.led.show(now, self.node is not None, peers)
        if tdiff(now, self.next_status) >= 0:
            self.next_status = tadd(now, STATUS_LOG_MS)
            self._status_log(now, free, peers)

    def _status_log(self, now: int, free: int, peers: int) -> None:
        if self.node is None:
            self.link.log("warn", "status", state="unprovisioned", heap_free=free,
                          heap_min=self.heap_min, reason=self.reason)
            return
        c = self.node.counters  # type: ignore[attr-defined]
        self.link.log("info", "status", heap_free=free, heap_min=self.heap_min, peers=peers,
                      rx=c["rx"], tx=c["tx"], delivered=c["delivered"],
                      drops=self.node.drops)  # type: ignore[attr-defined]

    def _reset(self) -> None:
        self.link.log("info", "reset", reason="provisioned")
        try:
            import machine

            machine.reset()
        except (ImportError, AttributeError):
            pass
        sys.exit(0)  # unix port: the vboard manager boots the board again

    # ------------------------------------------------------------ host link
    def status(self) -> "dict[str, object]":
        return hostops.status(self)

    def handle(self, m: "dict[str, object]") -> None:
        """One host request (firmware/hostops.py); never raises."""
        hostops.handle(self, m)

    def on_interrupt(self) -> None:
        """Ctrl-C: hand the REPL back. The ESP32 watchdog cannot be stopped, so
        stretch it to a day to leave time for mpremote to redeploy."""
        if self.wdt is not None:
            try:
                import machine

                machine.WDT(timeout=86400000)
            except (ValueError, OSError):
                pass
        for r in self.radios:
            try:
                r.stop()  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001
                pass
        self.link.log("warn", "interrupted", detail="REPL is free; main.py stopped")
