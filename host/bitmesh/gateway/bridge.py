"""MQTT bridging between meshes that share one network key (aiomqtt).

Topic layout (docs/GATEWAY.md)::

    bitmesh/<mesh-id>/frame/<type>            one frame that originated on <mesh-id>
    bitmesh/<mesh-id>/gateway/<node>/status   retained JSON; last will "offline"

Every gateway subscribes to ``bitmesh/+/frame/#`` (QoS 1, persistent session)
and ignores its own mesh's topics. The payload is a JSON envelope
``{"v": 1, "mesh": ID, "gw": NODE_HEX, "frame": BASE64}`` around the frame
*exactly as signed by its origin*, so the tag travels end to end.

Loop and duplicate safety, whatever the arrangement of gateways and meshes:

* Only frames that are new and authentic to the core are published (the
  host node's router tap), and never a frame carrying ``F_BRIDGED``.
* A receiving gateway verifies the origin's tag, then sets ``F_BRIDGED``,
  caps the TTL at ``hop_budget`` and re-signs with the network key (the flag
  byte is under the tag; every gateway holds the key, like every relay that
  extends a route record). It hands that copy to its core, which deduplicates
  it; only a copy the core accepts as new is transmitted on the local radios.
  The transformation is deterministic, so the copies injected by two gateways of
  one mesh have one packet identity and each node delivers it once.
* No node ever publishes an ``F_BRIDGED`` frame, so nothing is bridged back
  and no frame crosses the broker twice from the same mesh: publishes per
  message are bounded by the number of gateways on the origin mesh.

Publishing is QoS 1 from a bounded local queue: an entry leaves the queue only
after the broker's PUBACK, so a broker restart loses nothing that fits the
queue (overflow refuses new entries and counts them). A broker that is down
gives ``state == "down"`` with the reason and the next retry delay, and the
bridge retries with exponential backoff; it never raises out of :meth:`run`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import aiomqtt

from bitmesh_core.clock import wrap
from bitmesh_core.dedup import DedupCache
from bitmesh_core.events import ServiceEvent
from bitmesh_core.names import TYPE_NAMES
from bitmesh_core.packet import (
    F_BRIDGED,
    T_HEARTBEAT,
    T_ROUTE,
    DecodeError,
    Packet,
    decode,
    packet_id,
)

from .links import Backoff
from .node import HostNode, cancel_tasks, clock_ms

ROOT = "bitmesh"
SUBSCRIPTION = ROOT + "/+/frame/#"
ENVELOPE_VERSION = 1
DEFAULT_HOP_BUDGET = 3
# Link-local and topology-control frames stay in their mesh.
LOCAL_ONLY_TYPES = (T_HEARTBEAT, T_ROUTE)
MESH_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class EnvelopeError(ValueError):
    """An MQTT payload that is not a bitmesh envelope; ``reason`` is counted."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def frame_topic(mesh_id: str, ptype: int) -> str:
    return f"{ROOT}/{mesh_id}/frame/{TYPE_NAMES.get(ptype, str(ptype))}"


def status_topic(mesh_id: str, node_hex: str) -> str:
    return f"{ROOT}/{mesh_id}/gateway/{node_hex}/status"


def encode_envelope(mesh_id: str, gw: bytes, frame: bytes) -> bytes:
    return json.dumps({"v": ENVELOPE_VERSION, "mesh": mesh_id, "gw": gw.hex(),
                       "frame": base64.b64encode(frame).decode()},
                      separators=(",", ":")).encode()


def decode_envelope(payload: object) -> tuple[str, str, bytes]:
    """(mesh id, gateway hex, frame) of an envelope; raises EnvelopeError."""
    if not isinstance(payload, bytes | bytearray):
        raise EnvelopeError("not_bytes")
    if len(payload) > 2048:
        raise EnvelopeError("oversize")
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise EnvelopeError("not_json") from None
    if not isinstance(doc, dict) or doc.get("v") != ENVELOPE_VERSION:
        raise EnvelopeError("version")
    mesh, gw, b64 = doc.get("mesh"), doc.get("gw"), doc.get("frame")
    if not isinstance(mesh, str) or not isinstance(gw, str) or not isinstance(b64, str):
        raise EnvelopeError("fields")
    try:
        frame = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError("base64") from None
    return mesh, gw, frame


def bridged_copy(frame: bytes, sign: Any, hop_budget: int) -> bytearray:
    """``frame`` marked F_BRIDGED with TTL capped at ``hop_budget`` and below its
    starting TTL (the bridge is a hop: a frame with no hop yet must come from
    its origin, and relays drop it otherwise), re-signed by ``sign(bytearray)``.
    Deterministic: every gateway makes the same bytes."""
    out = bytearray(frame)
    out[4] |= F_BRIDGED
    out[2] = max(1, min(hop_budget, out[3] - 1))
    sign(out)
    return out


def parse_broker(url: str) -> tuple[str, int, str | None, str | None]:
    """``mqtt://[user:pass@]host[:port]`` -> (host, port, user, password)."""
    u = urlsplit(url if "://" in url else "mqtt://" + url)
    if u.scheme not in ("mqtt", "tcp") or not u.hostname:
        raise ValueError(f"broker URL {url!r} must look like mqtt://HOST:PORT")
    return u.hostname, u.port or 1883, u.username, u.password


class MqttBridge:
    """Bridges one host node's mesh to the broker. Start with :meth:`run` as a
    task; :meth:`status` is safe to call at any time."""

    def __init__(self, host: HostNode, broker: str, mesh_id: str, *,
                 hop_budget: int = DEFAULT_HOP_BUDGET, queue_max: int = 10000,
                 backoff: Backoff | None = None, keepalive: int = 15,
                 client_id: str | None = None) -> None:
        if not MESH_ID_RE.match(mesh_id):
            raise ValueError("mesh id must be 1-64 characters of A-Z a-z 0-9 _ . -")
        self.host = host
        self.broker = broker
        self.addr = parse_broker(broker)
        self.mesh_id = mesh_id
        self.hop_budget = hop_budget
        self.queue_max = queue_max
        self.backoff = backoff or Backoff(0.5, 30.0)
        self.keepalive = keepalive
        self.gw_hex = host.node_id.hex()
        self.client_id = client_id or f"bitmesh-{mesh_id}-{self.gw_hex}"
        self.queue: deque[tuple[str, bytes]] = deque()
        self._queued = asyncio.Event()
        self._own = DedupCache(4096, 600000)  # own frames already queued (retries re-emit)
        self.state = "down"
        self.reason = "not started"
        self.retry_in_s = 0.0
        self.connects = 0
        self.counters = {"published": 0, "queued": 0, "queue_overflow": 0, "mqtt_rx": 0,
                         "injected": 0, "transmitted": 0, "own_mesh": 0, "not_bridged": 0}
        self.drops: dict[str, int] = {}
        host.add_frame_tap(self._on_frame)

    # ------------------------------------------------------- mesh -> MQTT
    def _on_frame(self, p: Packet, frame: bytes, injected: bool) -> None:
        if p.flags & F_BRIDGED:
            if injected:  # accepted as new by our core: it enters this mesh once
                self.counters["transmitted"] += 1
                self.host.transmit(frame)
            return  # never bridge a bridged frame back
        if p.ptype in LOCAL_ONLY_TYPES or p.ttl0 == 1:
            return
        if p.src == self.host.node_id and self._own.seen(packet_id(p), wrap(clock_ms())):
            return
        self.enqueue(frame_topic(self.mesh_id, p.ptype),
                     encode_envelope(self.mesh_id, self.host.node_id, frame))

    def enqueue(self, topic: str, payload: bytes) -> bool:
        """Queue one publish; False (counted) when the bounded queue is full."""
        if len(self.queue) >= self.queue_max:
            self.counters["queue_overflow"] += 1
            return False
        self.queue.append((topic, payload))
        self.counters["queued"] += 1
        self._queued.set()
        return True

    # ------------------------------------------------------- MQTT -> mesh
    def _drop(self, reason: str) -> None:
        self.drops[reason] = self.drops.get(reason, 0) + 1

    def on_mqtt(self, topic: str, payload: object) -> None:
        """Handle one received MQTT message. Never raises; drops are counted."""
        self.counters["mqtt_rx"] += 1
        parts = topic.split("/")
        if len(parts) < 4 or parts[0] != ROOT or parts[2] != "frame":
            self._drop("topic")
            return
        if parts[1] == self.mesh_id:
            self.counters["own_mesh"] += 1  # our mesh's frames are already here
            return
        try:
            mesh, _gw, frame = decode_envelope(payload)
            if mesh != parts[1]:
                raise EnvelopeError("mesh_mismatch")
            p = decode(frame)
        except EnvelopeError as e:
            self._drop(e.reason)
            return
        except DecodeError as e:
            self._drop("frame_" + e.reason)
            return
        if p.flags & F_BRIDGED:
            self._drop("already_bridged")
            return
        if p.ptype in LOCAL_ONLY_TYPES:
            self._drop("local_only")
            return
        core = self.host.core
        if not core.auth.verify(frame):  # verify the origin's tag before re-signing
            self._drop("auth")
            return
        self.counters["injected"] += 1
        self.host.inject(bytes(bridged_copy(frame, core.auth.sign, self.hop_budget)))

    # ---------------------------------------------------------- the loop
    def _set_state(self, state: str, reason: str = "", retry: float = 0.0) -> None:
        self.state = state
        self.reason = reason
        self.retry_in_s = retry
        self.host._emit(ServiceEvent("mqtt", state, {"reason": reason, "retry_in_s": retry,
                                                     "broker": self.broker}))

    async def run(self) -> None:
        """Connect, bridge, and on any failure retry with backoff; cancel to stop."""
        host, port, user, password = self.addr
        offline = json.dumps({"online": False, "mesh": self.mesh_id}).encode()
        will = aiomqtt.Will(status_topic(self.mesh_id, self.gw_hex), offline, qos=1, retain=True)
        while True:
            self._set_state("connecting", f"connecting to {self.broker}")
            try:
                async with aiomqtt.Client(host, port, username=user, password=password,
                                          identifier=self.client_id, clean_session=False,
                                          keepalive=self.keepalive, will=will,
                                          timeout=10) as client:
                    await client.subscribe(SUBSCRIPTION, qos=1)
                    online = json.dumps({"online": True, "mesh": self.mesh_id}).encode()
                    await client.publish(status_topic(self.mesh_id, self.gw_hex), online,
                                         qos=1, retain=True)
                    self.connects += 1
                    self.backoff.reset()
                    self._set_state("up", f"connected to {self.broker}")
                    await self._pump(client)
                reason = "connection closed"
            except asyncio.CancelledError:
                raise
            except aiomqtt.MqttError as exc:
                reason = f"broker {self.broker} unreachable: {exc}"
            except Exception as exc:  # noqa: BLE001 - never crash the gateway
                reason = f"unexpected {type(exc).__name__}: {exc}"
            delay = self.backoff.next_delay()
            self._set_state("down", reason, delay)
            await asyncio.sleep(delay)

    async def _pump(self, client: aiomqtt.Client) -> None:
        reader = asyncio.create_task(self._reader(client))
        writer = asyncio.create_task(self._publisher(client))
        try:
            done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                t.result()  # re-raise the failure that ended the session
        finally:
            await cancel_tasks(reader, writer)

    async def _reader(self, client: aiomqtt.Client) -> None:
        async for msg in client.messages:
            self.on_mqtt(msg.topic.value, msg.payload)

    async def _publisher(self, client: aiomqtt.Client) -> None:
        while True:
            if not self.queue:
                self._queued.clear()
                await self._queued.wait()
                continue
            topic, payload = self.queue[0]
            await client.publish(topic, payload, qos=1, timeout=10)
            self.queue.popleft()  # only once the broker has acknowledged it
            self.counters["published"] += 1

    def status(self) -> dict[str, Any]:
        return {"state": self.state, "reason": self.reason, "retry_in_s": round(self.retry_in_s, 2),
                "broker": self.broker, "mesh_id": self.mesh_id, "client_id": self.client_id,
                "connects": self.connects, "queue": len(self.queue), "queue_max": self.queue_max,
                "hop_budget": self.hop_budget, "counters": dict(self.counters),
                "drops": dict(self.drops)}
