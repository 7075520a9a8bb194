"""The gateway on real firmware: two meshes of virtual boards (the firmware on
the MicroPython unix port, one UDP medium each), a gateway attached to one
board of each over its pty host link, bridged through a real mosquitto."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
from pathlib import Path
from typing import Any

import pytest

from bitmesh.gateway.apiclient import ApiClient
from bitmesh.gateway.links import SerialLink
from bitmesh.gateway.service import Gateway
from bitmesh.hostlink import AsyncHostLink
from bitmesh_core.identity import Identity

pytestmark = [pytest.mark.bridge, pytest.mark.timeout(180)]
TOKEN = "vboard-token"


async def test_api_message_crosses_broker_between_firmware_meshes(
        tmp_path: Path, firmware: Path, boards: list[Path], mosquitto: Any) -> None:
    from bitmesh import build
    from bitmesh.vboard import manager
    from bitmesh.vboard.medium import Medium

    key = secrets.token_hex(32)
    media = [Medium(), Medium()]
    for m in media:
        m.start()
    gws: list[Gateway] = []
    watch: AsyncHostLink | None = None
    try:
        ports: dict[str, str] = {}
        for mi, mesh in enumerate(("a", "b")):
            for k in (1, 2):
                name = f"{mesh}{k}"
                d = tmp_path / name
                build.install(firmware, d)
                manager.write_config(d, manager.make_config(
                    name, key, node={"heartbeat_ms": 1000, "peer_timeout_ms": 4000}))
                boards.append(d)
                ports[name] = str(manager.start(d, medium=media[mi].address, label=name)["port"])
        for mesh in ("a", "b"):
            gw = Gateway(Identity.from_secret(os.urandom(32)), bytes.fromhex(key),
                         SerialLink(ports[f"{mesh}1"]), mesh_id=f"fw-{mesh}",
                         broker=mosquitto.url, token=TOKEN, retry=(0.1, 1.0))
            await gw.start()
            gws.append(gw)
        loop = asyncio.get_running_loop()
        end = loop.time() + 30
        while not all(g.host.link_state == "up" and g.bridge is not None
                      and g.bridge.state == "up" for g in gws):
            assert loop.time() < end, [(g.host.link_state, g.host.link_reason) for g in gws]
            await asyncio.sleep(0.05)
        watch = await AsyncHostLink.open(ports["b2"])  # an application on board b2
        client = await ApiClient.connect(gws[0].url, TOKEN)
        await asyncio.sleep(2.5)  # let the boards find their neighbours
        await client.send(text="firmware mesh hello")
        await client.close()
        want = base64.b64encode(b"firmware mesh hello").decode()
        seen = 0
        end = loop.time() + 20
        lines = watch.lines()
        while seen == 0 and loop.time() < end:
            try:
                kind, value = await asyncio.wait_for(lines.__anext__(), 1.0)
            except TimeoutError:
                continue
            if kind == "msg" and value.get("ev") == "delivered" and value.get("data") == want:
                seen += 1
        assert seen == 1
    finally:
        if watch is not None:
            watch.close()
        for g in gws:
            await g.stop()
        for m in media:
            m.stop()
