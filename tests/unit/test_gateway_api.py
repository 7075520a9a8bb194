"""The gateway's WebSocket API: token auth, malformed requests, send/receive, events."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bitmesh.gateway.apiclient import ApiClient, ApiError
from bitmesh.gateway.links import LoopbackLink
from bitmesh.gateway.node import cancel_tasks
from bitmesh.gateway.service import Gateway
from bitmesh.gateway.store import load_or_create_identity, load_or_create_token
from bitmesh_core.auth import FrameAuth
from bitmesh_core.config import NodeConfig
from bitmesh_core.identity import Identity
from bitmesh_core.node import MeshNode
from bitmesh_core.packet import decode
from bitmesh_core.rng import SeededRng

KEY = bytes(range(32))
TOKEN = "s3cret-token"


async def eventually(cond: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.01)


@pytest.fixture
async def gw() -> AsyncIterator[tuple[Gateway, LoopbackLink]]:
    link = LoopbackLink()
    g = Gateway(Identity.from_secret(bytes(range(32))), KEY, link, mesh_id="t", token=TOKEN,
                retry=(0.05, 0.1))
    await g.start()
    await eventually(lambda: g.host.link_state == "up")
    try:
        yield g, link
    finally:
        await g.stop()


def peer_node(i: int = 7) -> MeshNode:
    return MeshNode(NodeConfig(), Identity.from_secret(bytes([i]) * 32), KEY, SeededRng(i), 0)


async def test_wrong_token_is_refused(gw: tuple[Gateway, LoopbackLink]) -> None:
    g, _ = gw
    with pytest.raises(ApiError, match="refused the token"):
        await ApiClient.connect(g.url, "wrong")
    async with connect(g.url) as ws:
        await ws.send(json.dumps({"op": "status"}))  # no auth first
        reply = json.loads(await ws.recv())
        assert reply == {"ok": False, "op": "auth", "error": "unauthorized"}
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 4401
    api = g.api
    assert api is not None
    await eventually(lambda: api.counters["refused"] == 2)


async def test_malformed_requests_get_errors_and_the_connection_stays_up(
        gw: tuple[Gateway, LoopbackLink]) -> None:
    g, _ = gw
    async with connect(g.url) as ws:
        await ws.send(json.dumps({"op": "auth", "token": TOKEN}))
        assert json.loads(await ws.recv())["ok"] is True
        bad: list[str | bytes] = [
            "not json", "[1, 2]", json.dumps({"id": 3}), json.dumps({"op": "fly"}),
            json.dumps({"op": "send", "text": "x", "to": "zz"}),
            json.dumps({"op": "send", "text": "x", "data": "eA=="}),
            json.dumps({"op": "send", "data": "***"}),
            json.dumps({"op": "send", "text": "x", "app": 300}),
            json.dumps({"op": "send", "text": "x", "ack": "yes"}),
            json.dumps({"op": "send", "text": "x" * 5000}),
            json.dumps({"op": "send", "text": ""}),
            json.dumps({"op": "subscribe", "events": ["nope"]}),
            json.dumps({"op": "auth", "token": TOKEN}),
            b"\x00binary",
        ]
        for req in bad:
            await ws.send(req)
            reply = json.loads(await ws.recv())
            assert reply["ok"] is False and reply["error"], (req, reply)
        await ws.send(json.dumps({"op": "ping", "id": "p1"}))
        assert json.loads(await ws.recv()) == {"ok": True, "op": "ping", "id": "p1"}
    assert g.api is not None and g.api.counters["bad_requests"] == len(bad)


async def test_send_broadcast_and_unicast_reach_the_link(gw: tuple[Gateway, LoopbackLink]) -> None:
    g, link = gw
    c = await ApiClient.connect(g.url, TOKEN)
    try:
        r = await c.send(text="hello mesh")
        assert r["ok"] and r["src"] == g.host.node_id.hex()
        dst = peer_node().node_id
        await c.send(data=base64.b64encode(b"\x01\x02").decode(), to=dst.hex(), app=9)
    finally:
        await c.close()

    def payloads() -> list[bytes]:
        return [decode(f).payload() for f in link.sent]
    await eventually(lambda: b"hello mesh" in payloads() and b"\x01\x02" in payloads())
    uni = next(decode(f) for f in link.sent if decode(f).payload() == b"\x01\x02")
    assert uni.dst == dst and all(FrameAuth(KEY).verify(f) for f in link.sent)


async def test_received_messages_and_subscribed_events_arrive(
        gw: tuple[Gateway, LoopbackLink]) -> None:
    g, link = gw
    c = await ApiClient.connect(g.url, TOKEN, events=["messages", "peers"])
    try:
        other = peer_node()
        other.handle_timer(6000)  # its first heartbeat
        other.send_message(None, b"hi laptop", 6000, app=5)
        other.send_message(g.host.node_id, b"just you", 6001)
        for _, _, f in other.frames_to_send():
            link.deliver(bytes(f), -40, b"\x02\x00\x00\x00\x00\x07")
        got: dict[str, dict[str, Any]] = {}
        while len(got) < 3:
            ev = await c.next_event(5)
            assert ev is not None
            got[ev.get("text") or ev["ev"]] = ev
        assert got["peer_up"]["peer"] == other.node_id.hex()
        assert got["hi laptop"]["broadcast"] and got["hi laptop"]["app"] == 5
        assert got["just you"]["dst"] == g.host.node_id.hex()
        st = await c.status()
        assert st["link"]["state"] == "up" and st["mesh_id"] == "t"
        assert st["mqtt"]["state"] == "off" and st["node_id"] == g.host.node_id.hex()
    finally:
        await c.close()


async def test_link_drop_reconnects_and_reports(gw: tuple[Gateway, LoopbackLink]) -> None:
    g, link = gw
    c = await ApiClient.connect(g.url, TOKEN, events=["link"])
    try:
        link.refuse = True
        link.drop()
        ev = await c.next_event(5)
        assert ev is not None and ev["ev"] == "link" and ev["state"] in ("down", "connecting")
        link.refuse = False
        await eventually(lambda: g.host.link_ups == 2 and g.host.link_state == "up")
    finally:
        await c.close()


def test_token_and_identity_files_are_private(tmp_path: Path) -> None:
    tok_path = tmp_path / "cfg" / "gateway.token"
    tok, created = load_or_create_token(tok_path)
    assert created and len(tok) >= 32
    assert stat.S_IMODE(os.stat(tok_path).st_mode) == 0o600
    assert load_or_create_token(tok_path) == (tok, False)
    ident_path = tmp_path / "cfg" / "node.json"
    ident, boot = load_or_create_identity(ident_path)
    again, boot2 = load_or_create_identity(ident_path)
    assert again.node_id == ident.node_id and boot2 == boot + 1
    assert stat.S_IMODE(os.stat(ident_path).st_mode) == 0o600


def test_cancel_tasks_ends_even_when_a_task_swallows_its_cancellation() -> None:
    async def stubborn() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await asyncio.sleep(60)  # swallowed, as a library's inner wait may do

    async def failing() -> None:
        raise RuntimeError("ended badly")

    async def main() -> float:
        t1 = asyncio.create_task(stubborn())
        t2 = asyncio.create_task(failing())
        await asyncio.sleep(0.01)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await cancel_tasks(t1, None, t2, grace_s=0.1)
        assert t1.done() and t2.done()  # the second cancel got through
        return loop.time() - t0

    assert asyncio.run(main()) < 1.0
