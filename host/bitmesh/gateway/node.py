"""HostNode: the bitmesh_core MeshNode under CPython asyncio.

The laptop is a full mesh member with its own identity. Its radio is a board
reached through a :class:`~bitmesh.gateway.links.Link`: every frame the board
hears comes in through ``node.receive``; every frame the node emits goes out
through ``link.send_frame``. The board relays on its own, so the host node is
configured as a ``leaf`` (it never relays radio traffic a second time), and
its heartbeats stay on the laptop: the host is a mesh member (own id, sends,
receives, is addressed by id) but not a radio neighbour, since everything it
sends leaves with the board's link address and peer tables key on that.

This shell reads the clock (``time.monotonic``) and passes ``now_ms`` into the
core; nothing else here makes protocol decisions. Two hooks serve the bridge:

* :meth:`add_frame_tap` - called for every *new, authentic* frame not only for
  this node (the core's router ``relay`` decision point) and for every frame
  this node originates;
* :meth:`inject` - hand a frame from elsewhere (MQTT) to the core as if heard
  on the bridge interface.

Events (Delivered, PeerUp, ...) go to every listener added with
:meth:`add_listener`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from typing import Any

from bitmesh_core.clock import diff, wrap
from bitmesh_core.config import NodeConfig
from bitmesh_core.events import Event, ServiceEvent
from bitmesh_core.identity import Identity
from bitmesh_core.node import IF_BRIDGE, IF_HOST, MeshNode
from bitmesh_core.packet import T_HEARTBEAT, DecodeError, Packet, decode, packet_id
from bitmesh_core.router import Router

from .links import Backoff, Link, LinkError, RxFrame, supervise

# A laptop has CPU and memory to spare: larger tables than a board, and rate
# limits high enough that the bridge and the board never starve the node.
HOST_CONFIG: dict[str, object] = {
    "role": "leaf", "dedup_capacity": 4096, "replay_senders": 1024, "max_peers": 64,
    "rate_per_s": 5000, "rate_burst": 5000, "stranger_rate_per_s": 5000,
    "tx_queue_max": 1024, "events_max": 4096, "max_reassembly": 16, "game_tables": 8,
}

FrameTap = Callable[[Packet, bytes, bool], None]


def clock_ms() -> int:
    """The shell's clock: monotonic milliseconds (the core wraps them)."""
    return int(time.monotonic() * 1000)


async def cancel_tasks(*tasks: asyncio.Task[Any] | None, grace_s: float = 2.0) -> None:
    """Cancel the tasks and wait for them to end, ``grace_s`` at most per round;
    a failure one ended with is dropped (the owner is stopping). ``None``
    entries are skipped.

    A task still running after the grace period is cancelled once more: a
    cancellation that lands as a library's inner wait completes can be
    swallowed (aiomqtt's publish awaiting its PUBACK does this), and a stop
    must never hang on it. One still running after that is left to the loop.
    """
    live = [t for t in tasks if t is not None]
    for _round in range(2):
        pending = [t for t in live if not t.done()]
        if not pending:
            break
        for t in pending:
            t.cancel()
        await asyncio.wait(pending, timeout=grace_s)
    for t in live:
        if t.done() and not t.cancelled():
            t.exception()  # retrieved: the owner is stopping, the failure is moot


class _RouterTap(Router):
    """Wraps the node's router: every frame the core hands to ``relay`` (new,
    authentic, not replayed, not only for this node) is shown to the taps first."""

    def __init__(self, inner: Router, host: HostNode) -> None:
        super().__init__(inner.node)
        self.inner = inner
        self.host = host
        self.name = inner.name

    def relay(self, p: Packet, frame: bytes | bytearray, pid: bytes, link: int,
              prio: int, now: int) -> None:
        self.host._tap(p, bytes(frame), False)
        self.inner.relay(p, frame, pid, link, prio, now)

    def heard_duplicate(self, p: Packet, pid: bytes, link: int, now: int) -> None:
        self.inner.heard_duplicate(p, pid, link, now)

    def send_unicast(self, dst: bytes, ptype: int, body: bytes, flags: int, prio: int,
                     now: int) -> int:
        return self.inner.send_unicast(dst, ptype, body, flags, prio, now)

    def delivered_unicast(self, p: Packet, pid: bytes, link: int, now: int) -> None:
        self.inner.delivered_unicast(p, pid, link, now)

    def on_ack(self, p: Packet, acked: bytes, now: int) -> None:
        self.inner.on_ack(p, acked, now)

    def on_timer(self, now: int) -> None:
        self.inner.on_timer(now)

    def next_timer(self, now: int) -> int | None:
        return self.inner.next_timer(now)

    def peer_up(self, peer: bytes, now: int) -> None:
        self.inner.peer_up(peer, now)

    def peer_lost(self, peer: bytes, now: int) -> None:
        self.inner.peer_lost(peer, now)

    def stats(self) -> dict[str, object]:
        return self.inner.stats()

    def __getattr__(self, name: str) -> Any:  # router-specific extras
        return getattr(self.inner, name)


class HostNode:
    """A MeshNode driven by asyncio, attached to a mesh through ``link``."""

    def __init__(self, identity: Identity, network_key: bytes, link: Link,
                 config: dict[str, object] | None = None, boot_count: int = 0,
                 link_backoff: Backoff | None = None) -> None:
        cfg = dict(HOST_CONFIG)
        cfg.update(config or {})
        self.core = MeshNode(NodeConfig.from_dict(cfg), identity, network_key,
                             _OsRng(), clock_ms(), boot_count=boot_count, ifaces=(IF_HOST,))
        self.core.router = _RouterTap(self.core.router, self)
        self.node_id = identity.node_id
        self.link = link
        self.link_backoff = link_backoff or Backoff(0.5, 10.0)
        self.link_state = "down"
        self.link_reason = "not started"
        self.link_ups = 0
        self.counters = {"link_rx": 0, "link_tx": 0, "link_tx_dropped": 0, "injected": 0,
                         "heartbeats_kept": 0}
        self._listeners: list[Callable[[Event], None]] = []
        self._taps: list[FrameTap] = []
        self._injecting = False
        self._wake = asyncio.Event()
        self._txq: asyncio.Queue[bytes] = asyncio.Queue(2048)
        self._tasks: list[asyncio.Task[None]] = []

    # ----------------------------------------------------------- wiring
    def add_listener(self, fn: Callable[[Event], None]) -> None:
        """``fn(event)`` for every core event, plus ServiceEvent("link", ...)."""
        self._listeners.append(fn)

    def add_frame_tap(self, fn: FrameTap) -> None:
        """``fn(packet, frame, injected)`` for every new authentic frame (see module doc)."""
        self._taps.append(fn)

    def _tap(self, p: Packet, frame: bytes, own: bool) -> None:
        for fn in self._taps:
            fn(p, frame, self._injecting)

    # ---------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._timer_loop(), name="host-timer"),
                       asyncio.create_task(self._tx_loop(), name="host-tx"),
                       asyncio.create_task(
                           supervise(self.link, self._on_rx, self._on_link_state,
                                     self.link_backoff), name="host-link")]

    async def stop(self) -> None:
        await cancel_tasks(*self._tasks)
        self._tasks = []
        with contextlib.suppress(Exception):
            await self.link.close()

    # ------------------------------------------------------------- input
    def _on_rx(self, rx: RxFrame) -> None:
        self.counters["link_rx"] += 1
        self.core.receive(IF_HOST, rx.frame, rx.rssi, clock_ms(), rx.addr)
        self._after()

    def inject(self, frame: bytes) -> None:
        """Give ``frame`` (from the bridge) to the core on the bridge interface."""
        self.counters["injected"] += 1
        self._injecting = True
        try:
            self.core.receive(IF_BRIDGE, frame, 0, clock_ms(), None)
        finally:
            self._injecting = False
        self._after()

    def send_message(self, dst: bytes | None, payload: bytes, app: int = 0,
                     ack: bool = False) -> int:
        """Originate an application message; raises ValueError when too large."""
        mid = self.core.send_message(dst, payload, clock_ms(), app=app, ack=ack)
        self._after()
        return mid

    def transmit(self, frame: bytes) -> bool:
        """Queue a raw frame for the board's radios; False (counted) if full."""
        try:
            self._txq.put_nowait(frame)
        except asyncio.QueueFull:
            self.counters["link_tx_dropped"] += 1
            return False
        return True

    # ------------------------------------------------------------- output
    def pump(self) -> None:
        """Move the core's output to the link and listeners now; for services
        (games) that act on ``self.core`` outside ``receive``/timers."""
        self._after()

    def _after(self) -> None:
        """Move the core's output (frames, events) to the link and listeners."""
        core = self.core
        for _iface, _addr, frame in core.frames_to_send():
            f = bytes(frame)
            try:
                p = decode(f)
            except DecodeError:
                continue
            if p.src == self.node_id:
                if p.ptype == T_HEARTBEAT:
                    # The laptop is no radio neighbour: its frames leave with the
                    # board's link address, so a heartbeat would make neighbours
                    # file two peers under one address (see module doc).
                    self.counters["heartbeats_kept"] += 1
                    continue
                for fn in self._taps:
                    fn(p, f, False)
            self.transmit(f)
        while True:
            ev = core.next_event()
            if ev is None:
                break
            self._emit(ev)
        self._wake.set()

    def _emit(self, ev: Event) -> None:
        for fn in self._listeners:
            try:
                fn(ev)
            except Exception:  # noqa: BLE001 - a broken listener must not stop the node
                self.counters["listener_errors"] = self.counters.get("listener_errors", 0) + 1

    def _on_link_state(self, state: str, reason: str) -> None:
        if state == "up":
            self.link_ups += 1
        self.link_state = state
        self.link_reason = reason
        self._emit(ServiceEvent("link", state, {"reason": reason, "link": self.link.describe()}))

    async def _tx_loop(self) -> None:
        while True:
            frame = await self._txq.get()
            if self.link_state != "up":
                self.counters["link_tx_dropped"] += 1
                continue
            try:
                await self.link.send_frame(frame)
                self.counters["link_tx"] += 1
            except (LinkError, OSError, TimeoutError):
                self.counters["link_tx_dropped"] += 1

    async def _timer_loop(self) -> None:
        core = self.core
        while True:
            t = core.next_timer()
            wait = 1.0
            if t is not None:
                wait = max(0.0, min(1.0, diff(t, wrap(clock_ms())) / 1000.0))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            core.handle_timer(clock_ms())
            self._after()
            self._wake.clear()

    # ------------------------------------------------------------ status
    def status(self) -> dict[str, Any]:
        core = self.core
        peers = core.peers.snapshot(wrap(clock_ms()))
        return {"node_id": self.node_id.hex(), "link": {"state": self.link_state,
                                                     "reason": self.link_reason,
                                                     "driver": self.link.describe(),
                                                     "connects": self.link_ups},
                "counters": dict(self.counters), "core": core.stats(), "peers": peers}


def packet_identity(frame: bytes) -> bytes | None:
    """The 8-byte packet identity of ``frame``, or None when it does not parse."""
    try:
        return packet_id(decode(frame))
    except DecodeError:
        return None


class _OsRng:
    """``getrandbits`` from the OS (the host has a real entropy source)."""

    def getrandbits(self, k: int) -> int:
        return int.from_bytes(os.urandom(4), "big") >> (32 - k)
