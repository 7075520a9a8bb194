"""Gateways bridging in-process virtual meshes through a real mosquitto.

Every wait is "until the condition holds, at most N seconds": the tests assert
behaviour (delivery counts, publish counts, states), never durations.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiomqtt
import pytest

from bitmesh.commands.client import CHAT_APP, chat_loop
from bitmesh.gateway.apiclient import ApiClient
from bitmesh.gateway.bridge import encode_envelope
from bitmesh.gateway.service import Gateway
from bitmesh.gateway.virtual import VirtualMesh
from bitmesh_core.auth import FrameAuth
from bitmesh_core.identity import Identity
from bitmesh_core.packet import F_BRIDGED, T_BROADCAST, TLV_PAYLOAD, build, tlv

pytestmark = [pytest.mark.bridge, pytest.mark.timeout(90)]

KEY = bytes(range(32))
TOKEN = "test-token"
RETRY = (0.1, 0.5)


async def eventually(cond: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached within %.0fs" % timeout)
        await asyncio.sleep(0.02)


class Site:
    """Virtual meshes, gateways on them and one API client per gateway."""

    def __init__(self, broker: str) -> None:
        self.broker = broker
        self.meshes: list[VirtualMesh] = []
        self.gws: list[Gateway] = []
        self.clients: list[ApiClient] = []
        self.inbox: list[list[dict[str, Any]]] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def mesh(self, n: int, name: str, seed: int) -> VirtualMesh:
        m = VirtualMesh(n, KEY, name, seed=seed)
        await m.start()
        self.meshes.append(m)
        return m

    async def gateway(self, mesh: VirtualMesh, board: int, mesh_id: str,
                      broker: str | None = None) -> int:
        gw = Gateway(Identity.from_secret(os.urandom(32)), KEY, mesh.attach(board),
                     mesh_id=mesh_id, broker=broker or self.broker, token=TOKEN, retry=RETRY)
        await gw.start()
        self.gws.append(gw)
        c = await ApiClient.connect(gw.url, TOKEN, events=["messages"])
        self.clients.append(c)
        box: list[dict[str, Any]] = []
        self.inbox.append(box)
        self._tasks.append(asyncio.create_task(self._collect(c, box)))
        return len(self.gws) - 1

    @staticmethod
    async def _collect(c: ApiClient, box: list[dict[str, Any]]) -> None:
        async for ev in c.iter_events():
            if ev.get("ev") == "message":
                box.append(ev)

    def got(self, i: int, text: str) -> int:
        return sum(1 for ev in self.inbox[i] if ev.get("text") == text)

    def published(self) -> int:
        return sum(g.bridge.counters["published"] for g in self.gws if g.bridge)

    async def all_up(self) -> None:
        await eventually(lambda: all(g.bridge is not None and g.bridge.state == "up"
                                     for g in self.gws))

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for c in self.clients:
            await c.close()
        for g in self.gws:
            await g.stop()
        for m in self.meshes:
            await m.stop()


@pytest.fixture
async def site(mosquitto: Any) -> AsyncIterator[Site]:
    s = Site(mosquitto.url)
    try:
        yield s
    finally:
        await s.close()


async def test_chat_on_mesh_a_reaches_an_application_on_mesh_b(site: Site) -> None:
    a = await site.mesh(3, "a", 1)
    b = await site.mesh(3, "b", 2)
    ga = await site.gateway(a, 0, "site-a")
    gb = await site.gateway(b, 0, "site-b")
    await site.all_up()

    async def typed() -> AsyncIterator[str]:
        for line in ("hello from mesh a", "/quit"):
            yield line + "\n"

    sent = await chat_loop(site.clients[ga], typed(), lambda s: None, "alice")
    assert sent == 1
    await eventually(lambda: any(ev.get("app") == CHAT_APP for ev in site.inbox[gb]))
    ev = next(ev for ev in site.inbox[gb] if ev.get("app") == CHAT_APP)
    assert '"text":"hello from mesh a"' in ev["text"]
    assert ev["src"] == site.gws[ga].host.node_id.hex() and ev["broadcast"]
    # The far mesh's own nodes got it too, through the gateway's board.
    payload = ev["text"].encode()
    await eventually(lambda: all(b.delivered(i, payload) == 1 for i in range(3)))

    # Unicast from mesh b's application to the laptop on mesh a.
    await site.clients[gb].send(text="just for a", to=site.gws[ga].host.node_id.hex())
    await eventually(lambda: site.got(ga, "just for a") == 1)
    ev = next(ev for ev in site.inbox[ga] if ev.get("text") == "just for a")
    assert ev["dst"] == site.gws[ga].host.node_id.hex() and not ev["broadcast"]


async def test_three_gateways_two_meshes_deliver_exactly_once(site: Site) -> None:
    a = await site.mesh(4, "a", 1)
    b = await site.mesh(3, "b", 2)
    g = [await site.gateway(a, 0, "a"), await site.gateway(a, 3, "a"),
         await site.gateway(b, 0, "b")]
    await site.all_up()
    origin_gws = {"a": 2, "b": 1}
    texts: list[tuple[str, str]] = []  # (text, origin mesh)
    for k in range(4):
        for i, mesh_id in ((0, "a"), (1, "a"), (2, "b")):
            t = f"gw{i} says {k}"
            await site.clients[g[i]].send(text=t)
            texts.append((t, mesh_id))
        a.send(1, None, f"a1 says {k}".encode())
        b.send(2, None, f"b2 says {k}".encode())
        texts += [(f"a1 says {k}", "a"), (f"b2 says {k}", "b")]

    def origin_of(t: str) -> int:
        return int(t[2]) if t.startswith("gw") else -1

    def done() -> bool:
        return all(site.got(i, t) >= 1 for t, _ in texts for i in range(3) if origin_of(t) != i)
    await eventually(done, 20)
    await asyncio.sleep(1.0)  # let any stray copy arrive before counting
    for t, _ in texts:
        for i in range(3):
            assert site.got(i, t) == (0 if origin_of(t) == i else 1), (t, i)
        for m, skip in ((a, "a1"), (b, "b2")):
            for n in range(m.n):
                want = 0 if (t.startswith(skip) and n == int(skip[1])) else 1
                assert m.delivered(n, t.encode()) == want, (t, m.name, n)
    # No storm: a message crosses the broker at most once per gateway of its mesh,
    # and nothing is published once traffic stops.
    bound = sum(origin_gws[o] for _, o in texts)
    total = site.published()
    assert len(texts) <= total <= bound
    await asyncio.sleep(1.0)
    assert site.published() == total
    for gw in site.gws:
        assert gw.bridge is not None and not gw.bridge.drops


async def test_broker_restart_loses_nothing(site: Site, mosquitto: Any) -> None:
    a = await site.mesh(2, "a", 1)
    b = await site.mesh(2, "b", 2)
    ga = await site.gateway(a, 0, "a")
    gb = await site.gateway(b, 0, "b")
    await site.all_up()
    await site.clients[ga].send(text="before")
    await eventually(lambda: site.got(gb, "before") == 1)

    mosquitto.stop()
    await eventually(lambda: all(g.bridge is not None and g.bridge.state != "up"
                                 for g in site.gws))
    for k in range(20):
        await site.clients[ga].send(text=f"during {k}")
    bridge_a = site.gws[ga].bridge
    assert bridge_a is not None
    await eventually(lambda: len(bridge_a.queue) == 20)
    st = await site.clients[ga].status()
    assert st["mqtt"]["state"] in ("down", "connecting") and st["mqtt"]["queue"] == 20

    mosquitto.start()
    # Gateway b's persistent session (saved by mosquitto on SIGTERM) keeps what a
    # publishes before b is back.
    await eventually(lambda: all(site.got(gb, f"during {k}") >= 1 for k in range(20)), 30)
    await asyncio.sleep(0.5)
    assert [site.got(gb, f"during {k}") for k in range(20)] == [1] * 20
    assert len(bridge_a.queue) == 0


async def test_broker_down_gives_clear_status_and_backs_off(site: Site, mosquitto: Any) -> None:
    mosquitto.stop()
    a = await site.mesh(2, "a", 1)
    ga = await site.gateway(a, 0, "a")
    bridge = site.gws[ga].bridge
    assert bridge is not None
    await eventually(lambda: bridge.backoff.attempt >= 3)
    st = await site.clients[ga].status()
    assert st["mqtt"]["state"] in ("down", "connecting")
    assert st["mqtt"]["connects"] == 0
    assert "unreachable" in bridge.reason or bridge.state == "connecting"
    # Backoff grows: the nominal delay doubles per attempt up to the cap.
    assert bridge.backoff.attempt < 60
    # The gateway keeps serving its mesh while the broker is away.
    await site.clients[ga].send(text="local while down")
    await eventually(lambda: a.delivered(1, b"local while down") == 1)
    mosquitto.start()
    await eventually(lambda: bridge.state == "up", 20)
    assert bridge.connects == 1


async def test_malformed_mqtt_payloads_are_dropped_and_counted(site: Site,
                                                               mosquitto: Any) -> None:
    a = await site.mesh(2, "a", 1)
    ga = await site.gateway(a, 0, "a")
    await site.all_up()
    bridge = site.gws[ga].bridge
    assert bridge is not None
    origin = Identity.from_secret(bytes(range(1, 33)))

    def frame(key: bytes, flags: int = 0, seq: int = 1) -> bytes:
        f = build(T_BROADCAST, origin.node_id, seq, 5, tlv(TLV_PAYLOAD, b"x"), flags=flags)
        FrameAuth(key).sign(f)
        return bytes(f)

    def env(f: bytes) -> bytes:
        return encode_envelope("z", origin.node_id, f)

    bad = [
        b"\x00\xffnot json",
        b'{"v": 9}',
        b'{"v":1,"mesh":"z","gw":"00","frame":"@@@"}',
        env(b"\x01\x02short"),
        env(frame(bytes(32))),  # signed with another key
        env(frame(KEY, flags=F_BRIDGED)),  # already bridged: never again
        encode_envelope("other", origin.node_id, frame(KEY)),  # topic/mesh mismatch
    ]
    host, port = "127.0.0.1", int(mosquitto.url.rsplit(":", 1)[1])
    async with aiomqtt.Client(host, port) as c:
        for p in bad:
            await c.publish("bitmesh/z/frame/broadcast", p, qos=1)
        await c.publish("bitmesh/z/frame/broadcast", env(frame(KEY, seq=7)), qos=1)
    await eventually(lambda: a.delivered(1, b"x") == 1)
    assert sum(bridge.drops.values()) == len(bad)
    for reason in ("not_json", "version", "base64", "frame_short", "auth", "already_bridged",
                   "mesh_mismatch"):
        assert bridge.drops.get(reason) == 1, (reason, bridge.drops)
    assert bridge.state == "up"
