"""The two-mesh part of ``make demo``: :func:`run_bridge_demo`.

Two *in-process* virtual meshes (bitmesh_core nodes on a real-time asyncio
radio, :mod:`bitmesh.gateway.virtual`; not firmware virtual boards), each with
a gateway on one node's board, bridged through a mosquitto this function starts
on a free loopback port. Two laptop clients chat across them through the real
WebSocket API, and a sensor node deep in mesh B broadcasts; the transcript
shows who heard what, and every message is checked to arrive exactly once.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bitmesh_core.identity import Identity

from .apiclient import ApiClient
from .service import Gateway
from .virtual import VirtualMesh

KEY = os.urandom(32)  # a fresh demo network key
TOKEN = "bitmesh-demo"
CHAT_APP = 67


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _wait(cond: Any, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            return False
        await asyncio.sleep(0.02)
    return True


async def bridge_demo(console: Any, mosquitto: str = "/usr/sbin/mosquitto") -> dict[str, Any]:
    """Run the demo inside a running event loop (see :func:`run_bridge_demo`)."""
    say = console.print
    with tempfile.TemporaryDirectory() as d:
        port = _free_port()
        conf = Path(d) / "mosquitto.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
        proc = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        meshes = [VirtualMesh(4, KEY, "north", seed=11), VirtualMesh(4, KEY, "south", seed=22)]
        gws: list[Gateway] = []
        clients: list[ApiClient] = []
        try:
            await _wait(lambda: _listening(port), 10)
            url = f"mqtt://127.0.0.1:{port}"
            say(f"\n[bold]Two meshes bridged over MQTT[/bold] (mosquitto on {url}; "
                "in-process virtual meshes 'north' and 'south', 4 nodes each in a line)")
            for m in meshes:
                await m.start()
                gw = Gateway(Identity.from_secret(os.urandom(32)), KEY, m.attach(0),
                             mesh_id=m.name, broker=url, token=TOKEN, retry=(0.1, 1.0))
                await gw.start()
                gws.append(gw)
            up = await _wait(lambda: all(g.bridge is not None and g.bridge.state == "up"
                                         for g in gws), 10)
            if not up:
                say("[red]gateways could not reach mosquitto; skipping the bridge demo[/red]")
                return {"ok": False}
            for g, m in zip(gws, meshes, strict=True):
                c = await ApiClient.connect(g.url, TOKEN, events=["messages"])
                clients.append(c)
                say(f"  gateway {g.host.node_id.hex()[:8]} on mesh {m.name}: API {g.url}")
            heard: list[list[str]] = [[], []]

            async def collect(i: int) -> None:
                async for ev in clients[i].iter_events():
                    if ev.get("ev") == "message" and isinstance(ev.get("text"), str):
                        heard[i].append(ev["text"])
                        say(f"    [green]{('alice@north', 'bob@south')[i]} sees[/green] "
                            f"{_show(ev['text'])}  [dim]({ev['hops']} hops)[/dim]")
            tasks = [asyncio.create_task(collect(i)) for i in range(2)]
            script = [(0, "alice", "hi from the north mesh!"), (1, "bob", "hello alice, south here"),
                      (0, "alice", "see you at the craps table")]
            t0 = time.monotonic()
            for i, nick, text in script:
                say(f"  [bold]{nick}[/bold] types: {text}")
                await clients[i].send(text=f'{{"nick":"{nick}","text":"{text}"}}', app=CHAT_APP)
                box = heard[1 - i]
                await _wait(lambda box=box, n=len(box): len(box) > n, 5)
            say("  sensor node south3 (3 radio hops from its gateway) broadcasts: temp=21C")
            meshes[1].send(3, None, b"temp=21C")
            await _wait(lambda: any("temp" in t for t in heard[0]), 5)
            elapsed = time.monotonic() - t0
            await asyncio.sleep(0.5)
            for t in tasks:
                t.cancel()
            north_nodes = [meshes[0].delivered(k, b"temp=21C") for k in range(4)]
            once = all(heard[1 - i].count(f'{{"nick":"{n}","text":"{x}"}}') == 1
                       for i, n, x in script) and north_nodes == [1, 1, 1, 1]
            pubs = sum(g.bridge.counters["published"] for g in gws if g.bridge)
            say(f"  every node of mesh north heard the sensor: {north_nodes}; "
                f"MQTT publishes: {pubs} for {len(script) + 1} messages; "
                f"exactly once everywhere: {'yes' if once else 'NO'}")
            return {"ok": once, "messages": len(script) + 1, "mqtt_publishes": pubs,
                    "north_heard_sensor": north_nodes, "seconds": round(elapsed, 2)}
        finally:
            for c in clients:
                await c.close()
            for g in gws:
                await g.stop()
            for m in meshes:
                await m.stop()
            proc.terminate()
            proc.wait(10)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


def _show(text: str) -> str:
    import json

    try:
        doc = json.loads(text)
        return f"<{doc['nick']}> {doc['text']}"
    except (ValueError, KeyError, TypeError):
        return text


def run_bridge_demo(console: Any) -> dict[str, Any]:
    """Run the two-mesh bridge demo, printing a short transcript on ``console``
    (a rich Console). Needs mosquitto; returns a summary dict."""
    return asyncio.run(bridge_demo(console))
