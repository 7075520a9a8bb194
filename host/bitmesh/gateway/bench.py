"""Gateway benchmarks for ``bitmesh bench``: :func:`bench_gateway`.

* ``gateway_rx_frames_per_s``: frames from the board through the host node's
  core (auth, dedup, replay, events) into the bridge's publish queue, in process;
* ``gateway_bridge_in_frames_per_s``: MQTT envelopes through verify, re-sign and
  inject into the core, in process;
* ``mqtt_bridge_latency_p50_ms`` / ``_p95_ms``: a message sent on gateway A's
  API side until gateway B's node delivers it, through a real mosquitto on
  loopback that this function starts (skipped, with ``mqtt_bridge_skipped = 1``,
  when mosquitto is not installed).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from bitmesh_core.config import NodeConfig
from bitmesh_core.events import Event
from bitmesh_core.identity import Identity
from bitmesh_core.node import MeshNode
from bitmesh_core.rng import SeededRng

from .bridge import MqttBridge, encode_envelope, frame_topic
from .links import LoopbackLink, RxFrame
from .node import HostNode
from .service import Gateway

KEY = bytes(range(32))
MOSQUITTO = "/usr/sbin/mosquitto"


def _frames(n: int, seed: int) -> list[bytes]:
    src = MeshNode(NodeConfig(tx_queue_max=1024), Identity.from_secret(bytes([seed]) * 32), KEY,
                   SeededRng(seed), 0)
    out: list[bytes] = []
    now = 0
    while len(out) < n:
        now += 1000  # the core keeps an airtime budget: let virtual time pass
        for _ in range(50):
            src.send_message(None, b"bench payload %d" % len(out), now)
        src.handle_timer(now)
        out += [bytes(f) for _, _, f in src.frames_to_send() if f[1] != 1]  # no heartbeats
    return out[:n]


async def _in_process(n: int) -> dict[str, float]:
    host = HostNode(Identity.from_secret(os.urandom(32)), KEY, LoopbackLink(),
                    config={"rate_per_s": 10000, "rate_burst": 10000,
                            "stranger_rate_per_s": 10000})
    bridge = MqttBridge(host, "mqtt://127.0.0.1:1", "bench", queue_max=2 * n)
    frames = _frames(n, 3)
    addr = b"\x02\x00\x00\x00\x00\x03"
    t0 = time.perf_counter()
    for f in frames:
        host._on_rx(RxFrame(f, -50, addr))
    t_rx = time.perf_counter() - t0
    remote = [encode_envelope("far", b"\x00" * 8, f) for f in _frames(n, 4)]
    topic = frame_topic("far", 2)
    t0 = time.perf_counter()
    for env in remote:
        bridge.on_mqtt(topic, env)
    t_in = time.perf_counter() - t0
    return {"gateway_rx_frames_per_s": round(n / t_rx, 1),
            "gateway_bridge_in_frames_per_s": round(n / t_in, 1),
            "gateway_rx_published_fraction": round(bridge.counters["queued"] / n, 3)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _latency(samples: int, workdir: Path) -> dict[str, float]:
    port = _free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    gws: list[Gateway] = []
    try:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        url = f"mqtt://127.0.0.1:{port}"
        for mesh in ("bench-a", "bench-b"):
            gw = Gateway(Identity.from_secret(os.urandom(32)), KEY, LoopbackLink(),
                         mesh_id=mesh, broker=url, listen=None, retry=(0.1, 1.0))
            await gw.start()
            gws.append(gw)
        a, b = gws
        deadline = time.monotonic() + 10
        while not all(g.bridge is not None and g.bridge.state == "up" for g in gws):
            if time.monotonic() > deadline:
                raise RuntimeError("bench gateways did not connect to mosquitto")
            await asyncio.sleep(0.02)
        arrived: dict[bytes, float] = {}

        def on_event(ev: Event) -> None:
            if ev.kind == "delivered":
                arrived[getattr(ev, "payload", b"")] = time.perf_counter()
        b.host.add_listener(on_event)
        lat: list[float] = []
        for i in range(samples):
            payload = b"latency %d" % i
            t0 = time.perf_counter()
            a.host.send_message(None, payload)
            while payload not in arrived:
                if time.perf_counter() - t0 > 5:
                    break
                await asyncio.sleep(0)
            if payload in arrived:
                lat.append((arrived[payload] - t0) * 1000)
        lat.sort()
        if not lat:
            raise RuntimeError("no bridged message arrived")
        return {"mqtt_bridge_latency_p50_ms": round(lat[len(lat) // 2], 3),
                "mqtt_bridge_latency_p95_ms": round(lat[int(len(lat) * 0.95) - 1], 3),
                "mqtt_bridge_samples": float(len(lat)),
                "mqtt_bridge_lost": float(samples - len(lat))}
    finally:
        for gw in gws:
            await gw.stop()
        proc.terminate()
        proc.wait(10)


def bench_gateway(frames: int = 2000, samples: int = 200) -> dict[str, float]:
    """Measure the gateway (see the module docstring); returns flat figures."""
    out = asyncio.run(_in_process(frames))
    if not (os.path.exists(MOSQUITTO) or shutil.which("mosquitto")):
        out["mqtt_bridge_skipped"] = 1.0  # mosquitto is not installed: no latency figures
        return out
    with tempfile.TemporaryDirectory() as d:
        out.update(asyncio.run(_latency(samples, Path(d))))
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(bench_gateway(), indent=2))
