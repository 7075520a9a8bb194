"""vmesh: a scenario played by virtual boards running the real firmware.

    metrics = run_vmesh("scenario.json", duration_s=60, on_tick=print)

One virtual board per scenario node (at most ``MAX_NODES``), each the unix
port with a board-sized heap, on one UDP medium that applies the scenario.
Traffic is injected through each node's host link (``send`` ops) and
deliveries come back as ``delivered`` events; the simulator's metrics
collector (host/bitmesh/sim/metrics.py) does the accounting, so the result has
the simulator's schema with router ``"firmware"``. Time is wall-clock time.

Differences from ``bitmesh sim`` (documented in docs/FIRMWARE.md): latency
includes the host link; ``game``/``dht`` streams, ``forge_relay`` and
collisions are not played (listed under ``skipped``).

The ``firmware`` section adds, per node: the lowest free heap, boots,
MemoryErrors (counted by the board and seen in its log), heartbeat intervals
to the first peer, and the core router's counters summed over the boards.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bitmesh import build
from bitmesh.errors import UsageError
from bitmesh.hostlink import AsyncHostLink, HostLinkError, b64, unb64
from bitmesh.sim.metrics import Collector, payload_for
from bitmesh.sim.scenario import Scenario, load_scenario
from bitmesh.vboard import manager
from bitmesh.vboard.medium import Medium
from bitmesh_core.config import NodeConfig
from bitmesh_core.events import Delivered, PartitionSuspected
from bitmesh_core.identity import node_id_from_secret

MAX_NODES = 12
STATUS_EVERY_S = 2.0
DRAIN_S = 3.0

Tick = Callable[[dict[str, Any]], None]


def _bfs(graph: dict[int, set[int]], src: int) -> dict[int, int]:
    dist = {src: 0}
    q = deque([src])
    while q:
        a = q.popleft()
        for b in graph.get(a, ()):
            if b not in dist:
                dist[b] = dist[a] + 1
                q.append(b)
    return dist


class VMesh:
    def __init__(self, sc: Scenario, workdir: Path, heap: str, logs: Path | None,
                 router: str | None) -> None:
        if len(sc.nodes) > MAX_NODES:
            raise UsageError(f"vmesh runs at most {MAX_NODES} boards; "
                             f"{sc.source} has {len(sc.nodes)} nodes (use bitmesh sim)")
        self.sc = sc
        self.n = len(sc.nodes)
        self.workdir = workdir
        self.heap = heap
        self.logs = logs
        self.key = secrets.token_hex(32)
        self.secrets = [secrets.token_hex(32) for _ in range(self.n)]
        self.ids = [node_id_from_secret(bytes.fromhex(s)) for s in self.secrets]
        self.by_id = {nid: i for i, nid in enumerate(self.ids)}
        self.medium = Medium(sc, sc.seed)
        self.coll = Collector(self.n)
        self.coll.node_ids = self.ids  # type: ignore[attr-defined]  # harmless if unused
        self.medium.on_tx = self.coll.on_tx
        self.links: list[AsyncHostLink | None] = [None] * self.n
        self.readers: list[asyncio.Task[None] | None] = [None] * self.n
        self.alive = [True] * self.n
        self.rng = random.Random(sc.seed)
        self.t0 = 0.0
        self.node_cfg = {k: v for k, v in sc.node_config.items() if k != "role"}
        self.node_cfg.setdefault("bitrate_bps", sc.radio.bitrate_bps)  # for the airtime budget
        if router:
            self.node_cfg["router"] = router
        self.snap: dict[str, dict[str, Any]] = {
            s.name: {"state": "starting", "peers": 0, "routes": 0, "delivered": 0,
                     "heap_free": None, "heap_min": None, "boots": 0} for s in sc.nodes}
        # per node: MemoryErrors seen in its log/text lines and in its status,
        # and (started_t, first_peer_t, heartbeat_ms) from the latest status
        self.mem_logged = [0] * self.n
        self.mem_status = [0] * self.n
        self.first_peer: list[tuple[int | None, int | None, int]] = [(None, None, 0)] * self.n
        self.router_stats: list[dict[str, int]] = [{} for _ in range(self.n)]
        # frames relayed per board: this boot (latest status), earlier boots
        self.relayed = [0] * self.n
        self.relayed_before = [0] * self.n
        self.router = router or str(NodeConfig().router)  # the core's default
        self.skipped: list[str] = []
        self.log_files: dict[int, Any] = {}

    def t_us(self) -> int:
        return int((time.monotonic() - self.t0) * 1e6)

    # ------------------------------------------------------------- boards
    def board_dir(self, i: int) -> Path:
        return self.workdir / self.sc.nodes[i].name

    async def boot(self, i: int, fw: Path) -> None:
        spec = self.sc.nodes[i]
        d = self.board_dir(i)
        build.install(fw, d)
        cfg = manager.make_config(spec.name, self.key, self.secrets[i], spec.role, self.node_cfg)
        manager.write_config(d, cfg)
        st = await asyncio.to_thread(manager.start, d, self.medium.address, spec.name, self.heap)
        link = await AsyncHostLink.open(st["port"])
        self.links[i] = link
        self.readers[i] = asyncio.create_task(self.read(i, link))
        self.snap[spec.name]["boots"] += 1

    async def halt(self, i: int) -> None:
        link, self.links[i] = self.links[i], None
        if link is not None:
            link.close()
        task, self.readers[i] = self.readers[i], None
        if task is not None:
            task.cancel()
        await asyncio.to_thread(manager.stop, self.board_dir(i))
        self.snap[self.sc.nodes[i].name]["state"] = "killed"
        self.relayed_before[i] += self.relayed[i]
        self.relayed[i] = 0

    async def read(self, i: int, link: AsyncHostLink) -> None:
        name = self.sc.nodes[i].name
        snap = self.snap[name]
        async for kind, value in link.lines():
            if kind == "text" and "MemoryError" in str(value):
                self.mem_logged[i] += 1  # a traceback or print on the console
            elif kind == "log" and "MemoryError" in str(value.get("detail", "")):
                self.mem_logged[i] += 1  # the shell's loop_error line
            if self.logs is not None and kind in ("log", "msg", "text"):
                f = self.log_files.get(i)
                if f is None:
                    f = self.log_files[i] = open(self.logs / f"{name}.jsonl", "a")  # noqa: SIM115
                rec = {"node": name, "kind": kind, **value} if isinstance(value, dict) \
                    else {"node": name, "kind": kind, "text": str(value)}
                f.write(json.dumps(rec) + "\n")
            if kind == "log" and value.get("msg") == "status":
                hm = value.get("heap_min")
                if isinstance(hm, int) and (snap["heap_min"] is None or hm < snap["heap_min"]):
                    snap["heap_min"] = hm
            if kind != "msg":
                continue
            ev = value.get("ev")
            if ev == "delivered":
                snap["delivered"] += 1
                try:
                    d = Delivered(bytes.fromhex(value["src"]),
                                  bytes.fromhex(value["dst"]) if value.get("dst") else None,
                                  unb64(value.get("data", "")), int(value.get("app", 0)),
                                  int(value.get("hops", 0)), int(value.get("msg_id", 0)), 0)
                except (KeyError, ValueError, TypeError):
                    continue
                with self.medium.lock:
                    self.coll.on_event(i, d, self.t_us())
            elif ev == "partition":
                with self.medium.lock:
                    self.coll.on_event(i, PartitionSuspected([]), self.t_us())

    # ------------------------------------------------------------ traffic
    def schedule(self) -> list[tuple[float, str, Any]]:
        items: list[tuple[float, str, Any]] = []
        for tr in self.sc.traffic:
            if tr.kind not in ("broadcast", "unicast"):
                self.skipped.append(f"traffic:{tr.kind}")
                continue
            for k in range(tr.count):
                items.append((tr.start_s + k * tr.interval_s, tr.kind, (tr, k)))
        for ev in self.sc.events:
            if ev.action in ("forge_relay",):
                self.skipped.append(f"event:{ev.action}")
                continue
            items.append((ev.at_s, "event", ev))
        items.sort(key=lambda x: x[0])
        return items

    def send(self, kind: str, tr: Any, k: int) -> None:
        live = [i for i in range(self.n) if self.alive[i] and self.links[i] is not None]
        if not live:
            return
        if kind == "broadcast":
            src = tr.origin if tr.origin is not None else self.rng.choice(live)
            dst = -1
        else:
            if tr.pairs:
                src, dst = tr.pairs[k % len(tr.pairs)]
            elif len(live) >= 2:
                src, dst = self.rng.sample(live, 2)
            else:
                return
        link = self.links[src]
        if link is None or not self.alive[src]:
            return
        graph = self.medium.graph()
        dist = _bfs(graph, src)
        with self.medium.lock:
            m = self.coll.new_msg(kind, src, dst, self.t_us())
            msg = self.coll.msgs[m]
            if kind == "broadcast":
                msg.reach = {j for j in dist if j != src and self.alive[j]}
            else:
                msg.counted = dst in dist and self.alive[dst]
                msg.opt_hops = dist.get(dst, 0)
        fields: dict[str, Any] = {"dst": None if dst < 0 else self.ids[dst].hex(),
                                  "data": b64(payload_for(m, tr.size)), "app": 0, "ack": False}
        asyncio.create_task(self._request(link, "send", fields))

    async def _request(self, link: AsyncHostLink, op: str, fields: dict[str, Any]) -> None:
        try:
            await link.request(op, timeout=5.0, check=False, **fields)
        except HostLinkError:
            pass

    async def event(self, ev: Any) -> None:
        a = ev.action
        if a == "kill":
            with self.medium.lock:
                self.coll.on_kill(list(ev.nodes), self.t_us())
            self.medium.kill(list(ev.nodes))
            for i in ev.nodes:
                self.alive[i] = False
                await self.halt(i)
        elif a == "revive":
            self.medium.revive(list(ev.nodes))
            for i in ev.nodes:
                self.alive[i] = True
                await self.boot(i, self.fw)
        elif a == "partition":
            with self.medium.lock:
                self.coll.on_kill([], self.t_us())
            self.medium.partition([list(g) for g in ev.groups])
        elif a == "heal":
            self.medium.heal()
        elif a == "set_loss":
            self.medium.set_loss(ev.loss)
        elif a == "rogue":
            asyncio.create_task(self.rogue(ev))

    async def rogue(self, ev: Any) -> None:
        end = ev.until_s
        gap = 1.0 / max(ev.rate_per_s, 0.1)
        while time.monotonic() - self.t0 < end:
            for i in ev.nodes:
                self.medium.inject(self.sc.nodes[i].name, bytes(self.rng.randbytes(40)))
            await asyncio.sleep(gap)

    # ------------------------------------------------------------- status
    async def poll_status(self) -> None:
        async def one(i: int, link: AsyncHostLink) -> None:
            snap = self.snap[self.sc.nodes[i].name]
            try:
                st = (await link.request("status", timeout=3.0))["status"]
            except HostLinkError:
                return
            heap = st.get("heap", {})
            counters = st.get("counters", {})
            tables = counters.get("tables", {}) if isinstance(counters, dict) else {}
            snap.update(state=st.get("state"), peers=len(st.get("peers", [])),
                        routes=len(st.get("routes", [])), heap_free=heap.get("free"),
                        hostlink_bad=sum(st.get("hostlink", {}).get("bad", {}).values()))
            hm = heap.get("min_free")
            if isinstance(hm, int) and (snap["heap_min"] is None or hm < snap["heap_min"]):
                snap["heap_min"] = hm
            if isinstance(counters, dict) and isinstance(counters.get("relayed"), int):
                self.relayed[i] = counters["relayed"]
            rs = counters.get("router_stats") if isinstance(counters, dict) else None
            if isinstance(rs, dict):
                self.router_stats[i] = {k: v for k, v in rs.items() if isinstance(v, int)}
            me = st.get("memory_errors")
            if isinstance(me, int):
                self.mem_status[i] = max(self.mem_status[i], me)
            hb = st.get("config", {}).get("heartbeat_ms", 0)
            self.first_peer[i] = (st.get("started_t"), st.get("first_peer_t"), int(hb or 0))
            with self.medium.lock:
                self.coll.max_peers = max(self.coll.max_peers, snap["peers"])
                self.coll.max_routes = max(self.coll.max_routes, snap["routes"])
                self.coll.max_dedup = max(self.coll.max_dedup, int(tables.get("dedup", 0)))

        await asyncio.gather(*(one(i, lk) for i, lk in enumerate(self.links) if lk is not None))

    # ---------------------------------------------------------------- run
    async def run(self, duration: float, on_tick: Tick | None) -> dict[str, Any]:
        wall = time.monotonic()
        self.fw = self.workdir / "_firmware"
        await asyncio.to_thread(build.build, self.fw, build.host_arch() or None)
        self.medium.start()
        try:
            await asyncio.gather(*(self.boot(i, self.fw) for i in range(self.n)))
            self.t0 = time.monotonic()
            items = self.schedule()
            next_status = 0.0
            while True:
                now = time.monotonic() - self.t0
                while items and items[0][0] <= now:
                    t, kind, arg = items.pop(0)
                    if kind == "event":
                        await self.event(arg)
                    elif t <= duration:
                        self.send(kind, *arg)
                if now >= next_status:
                    next_status = now + STATUS_EVERY_S
                    await self.poll_status()
                    if on_tick is not None:
                        on_tick({"t_s": round(now, 1), "nodes": self.snap,
                                 "delivered": sum(len(m.delivered) for m in self.coll.msgs)})
                if now >= duration + DRAIN_S:
                    break
                await asyncio.sleep(0.05)
            await self.poll_status()
            res = self.coll.result(int((duration + DRAIN_S) * 1e6))
        finally:
            for i in range(self.n):
                if self.links[i] is not None or manager.read_state(self.board_dir(i)):
                    await self.halt(i)
            self.medium.stop()
            for f in self.log_files.values():
                f.close()
        # Board logs do not name the destinations of a partition report, so
        # every report counts as a detection and none can be told false.
        res["events"]["partition_false_alarms"] = None
        res.update({"scenario": self.sc.name, "router": "firmware", "seed": self.sc.seed,
                    "nodes": self.n, "wall_s": round(time.monotonic() - wall, 2)})
        # Relay load per board from its own counters (frames of every type).
        res["per_node"] = {"relayed": [b + r for b, r in
                                       zip(self.relayed_before, self.relayed, strict=True)]}
        res["firmware"] = {
            "heap": self.heap, "heap_min_free": {k: v["heap_min"] for k, v in self.snap.items()},
            "boots": {k: v["boots"] for k, v in self.snap.items()},
            "medium": {"delivered": self.medium.delivered, "lost": self.medium.lost},
            "skipped": sorted(set(self.skipped)),
            "core_router": self.router,
            "memory_errors": {s.name: max(self.mem_logged[i], self.mem_status[i])
                              for i, s in enumerate(self.sc.nodes)},
            "first_peer_heartbeats": self.first_peer_heartbeats(),
            "router_stats": self.summed_router_stats(),
        }
        return res

    def summed_router_stats(self) -> dict[str, int]:
        """The core router's counters (hop retries, failures...) summed over
        the boards' latest status: why a message was lost, next to the sim's."""
        total: dict[str, int] = {}
        for rs in self.router_stats:
            for k, v in rs.items():
                total[k] = total.get(k, 0) + v
        return dict(sorted(total.items()))

    def first_peer_heartbeats(self) -> dict[str, float | None]:
        """Per node: heartbeat intervals from the moment a neighbour could be
        heard (the later of the node's own start and its earliest-started
        neighbour's start) to the node's first ``peer_up``. Virtual boards'
        ``time.ticks_ms()`` is the host's CLOCK_MONOTONIC in ms, shared by
        every board, so ticks of different boards compare directly."""
        graph = self.medium.graph()
        out: dict[str, float | None] = {}
        for i, spec in enumerate(self.sc.nodes):
            started, first, hb = self.first_peer[i]
            nbrs = [j for j in range(self.n) if j != i and (j in graph.get(i, ()) or
                                                            i in graph.get(j, ()))]
            starts = [self.first_peer[j][0] for j in nbrs]
            known = [s for s in starts if isinstance(s, int)]
            if not isinstance(started, int) or not isinstance(first, int) or not known or hb <= 0:
                out[spec.name] = None
                continue
            ref = max(started, min(known))
            out[spec.name] = round(max(0, first - ref) / hb, 2)
        return out


def run_vmesh(scenario_path: str | Path, duration_s: float | None = None,
              on_tick: Tick | None = None, logs_dir: Path | None = None,
              heap: str = manager.DEFAULT_HEAP, router: str | None = None,
              workdir: Path | None = None) -> dict[str, Any]:
    """Play a scenario on virtual boards; returns one metrics dict (sim schema,
    router "firmware", plus a "firmware" section with heap lows per node).
    ``on_tick(snapshot)`` is called every 2 s with per-node peers, routes,
    delivered count and heap, for live displays."""
    sc = load_scenario(scenario_path)
    duration = float(duration_s if duration_s is not None else sc.duration_s)
    own = workdir is None
    wd = Path(tempfile.mkdtemp(prefix="bitmesh-vmesh-")) if workdir is None else workdir
    if logs_dir is not None:
        logs_dir.mkdir(parents=True, exist_ok=True)
    try:
        vm = VMesh(sc, wd, heap, logs_dir, router)
        return asyncio.run(vm.run(duration, on_tick))
    finally:
        if own:
            shutil.rmtree(wd, ignore_errors=True)
