"""Issue 8 in the simulator: ``game`` and ``dht`` traffic, cheaters, ``forge_relay``.

Every node of a run gets the same core services the boards run
(bitmesh_core.game, .dht, .credits), driven by a 100 ms service tick. Metrics
follow FORMAT.md:

- games: rounds, rounds_settled (final at every honest player), rounds_agreed
  (settled with one state hash at every honest player), cheaters_detected
  (flagged by an honest player), false_accusations (honest accused by honest).
- dht: gets, found, tx_per_get (DHT messages of the lookup, request and reply
  counted: an end-to-end figure, not radio transmissions).
- relay: credited (credits a treasury accepted), forged_accepted (accepted for
  a (relay, packet) pair the relay never carried, checked against the
  simulator's own record of relay_copy calls), forged_rejected.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from bitmesh.sim import services
from bitmesh.sim.scenario import ScenarioError
from bitmesh_core.credits import CreditService, install_witness
from bitmesh_core.dht import Dht, dht_key
from bitmesh_core.game.auth import Signer, player_seed
from bitmesh_core.game.bot import bot_bet
from bitmesh_core.game.service import GameService
from bitmesh_core.node import MeshNode
from bitmesh_core.packet import T_CONSENSUS, T_DHT, T_GAME, T_RECEIPT, packet_id, tlv

TICK_US = 100_000
CHEATS = ("bad_reveal", "withhold_reveal", "replay", "forge", "double_commit")


class _Rig:
    """Per-run services of every node, created lazily (also after a revive)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.per: dict[int, tuple[MeshNode, GameService, Dht, CreditService]] = {}
        self.signers: dict[int, Signer] = {}
        self.carried: set[tuple[bytes, bytes]] = set()
        self.treasuries = [engine.identities[i].node_id for i in range(engine.n)
                           if engine.configs[i].role == "treasury"]
        self.events: list[tuple[int, Any]] = []
        self.credited = 0
        self.forged_accepted = 0
        self.forged_rejected = 0
        engine.on_event(self._observe)
        engine.at(0, self._tick)

    def signer(self, i: int) -> Signer:
        s = self.signers.get(i)
        if s is None:
            s = Signer(player_seed(self.engine.identities[i].secret))
            self.signers[i] = s
        return s

    def get(self, i: int) -> tuple[MeshNode, GameService, Dht, CreditService] | None:
        nd = self.engine.nodes[i]
        if nd is None:
            return None
        cur = self.per.get(i)
        if cur is not None and cur[0] is nd:
            return cur
        now = self.engine.now_ms
        g = GameService(nd, now, self.signer(i))
        d = Dht(nd, now)
        c = CreditService(nd, now, self.signer(i), self.treasuries)
        install_witness(nd, c)
        self._record_relays(nd)
        cur = (nd, g, d, c)
        self.per[i] = cur
        return cur

    def _record_relays(self, nd: MeshNode) -> None:
        orig = nd.relay_copy
        short = nd.identity.short
        carried = self.carried

        def relay_copy(p: Any, frame: bytes | bytearray) -> bytearray | None:
            out = orig(p, frame)
            if out is not None:
                carried.add((short, packet_id(p)))
            return out

        nd.relay_copy = relay_copy  # type: ignore[method-assign]

    def _tick(self, _arg: Any) -> None:
        e = self.engine
        now = e.now_ms
        for i in range(e.n):
            svc = self.get(i)
            if svc is None:
                continue
            svc[1].on_timer(now)
            svc[2].on_timer(now)
            svc[3].on_timer(now)
            e.service(i)  # flush what the services queued (engine's node loop)
        e.at(e.now_us + TICK_US, self._tick)

    def _observe(self, i: int, ev: Any) -> None:
        if ev.kind != "service":
            return
        self.events.append((i, ev))
        if ev.service == "credits" and ev.name == "credit":
            self.credited += 1
            key = (bytes.fromhex(ev.data["relay"]), bytes.fromhex(ev.data["packet"]))
            if key not in self.carried:
                self.forged_accepted += 1
        elif ev.service == "credits" and ev.name == "forged":
            self.forged_rejected += 1


def _rig(engine: Any) -> _Rig:
    r = getattr(engine, "_issue8_rig", None)
    if r is None:
        r = _Rig(engine)
        engine._issue8_rig = r
        engine.drivers.append(RelayDriver({}, {}))  # the "relay" metrics section
    return r


def _need_players(spec: dict[str, Any], path: str, index: dict[str, int]) -> None:
    pl = spec.get("players")
    if not isinstance(pl, list) or len(pl) < 2 or len(pl) > 8 or \
            any(p not in index for p in pl) or len(set(pl)) != len(pl):
        raise ScenarioError("scenario", path + ".players", "2 to 8 distinct node ids")
    ch = spec.get("cheaters", {})
    if not isinstance(ch, dict) or any(k not in pl or v not in CHEATS for k, v in ch.items()):
        raise ScenarioError("scenario", path + ".cheaters",
                            "an object of player id -> one of " + ", ".join(CHEATS))
    if spec.get("game", "craps") != "craps":
        raise ScenarioError("scenario", path + ".game", '"craps"')
    r = spec.get("rounds", 10)
    if not isinstance(r, int) or not 1 <= r <= 1000:
        raise ScenarioError("scenario", path + ".rounds", "an integer in 1..1000")


class GameDriver:
    """One craps table among ``players``; cheaters misbehave from round 2 on
    (staggered so that each cheat is seen on its own)."""

    @classmethod
    def validate(cls, spec: dict[str, Any], path: str, index: dict[str, int]) -> None:
        _need_players(spec, path, index)

    def __init__(self, spec: dict[str, Any], index: dict[str, int]) -> None:
        self.players = [index[p] for p in spec["players"]]
        self.names = list(spec["players"])
        self.rounds = int(spec.get("rounds", 10))
        self.start_us = int(float(spec.get("start_s", 0)) * 1e6)
        self.cheaters = {index[k]: v for k, v in spec.get("cheaters", {}).items()}
        self.table = hashlib.sha256(repr(spec).encode()).digest()[:4]
        self.rig: _Rig | None = None

    def start(self, engine: Any) -> None:
        self.rig = _rig(engine)
        engine.at(self.start_us, self._open)
        engine.at(self.start_us + 500_000, self._join)

    def _open(self, _arg: Any) -> None:
        assert self.rig is not None
        svc = self.rig.get(self.players[0])
        if svc is None:
            return
        svc[1].bet_fn = bot_bet
        svc[1].open_table(self.table, len(self.players), self.rounds, 1000,
                          self.rig.engine.now_ms)
        self.rig.engine.service(self.players[0])

    def _join(self, _arg: Any) -> None:
        assert self.rig is not None
        order = 0
        for i in self.players[1:]:
            svc = self.rig.get(i)
            if svc is None:
                continue
            svc[1].bet_fn = bot_bet
            host = self.rig.engine.identities[self.players[0]].node_id
            s = svc[1].join(self.table, self.rig.engine.now_ms, host=host)
            if i in self.cheaters:
                s.cheat = self.cheaters[i]
                s.cheat_round = 2 + order // 2
                order += 1
            self.rig.engine.service(i)

    def metrics(self) -> tuple[str, dict[str, Any]]:
        assert self.rig is not None
        tab = self.table.hex()
        honest = [i for i in self.players if i not in self.cheaters]
        finals: dict[int, dict[int, str]] = {i: {} for i in honest}
        accused: dict[int, set[int]] = {i: set() for i in honest}
        id_to_i = self.rig.engine.index_of_id
        for i, ev in self.rig.events:
            if ev.service != "game" or ev.data.get("table") != tab or i not in finals:
                continue
            if ev.name == "round_final":
                finals[i][int(ev.data["round"])] = str(ev.data["state"])
            elif ev.name == "cheat":
                j = id_to_i.get(bytes.fromhex(str(ev.data["player"])), -1)
                accused[i].add(j)
        settled = agreed = 0
        for r in range(1, self.rounds + 1):
            states = [finals[i].get(r) for i in honest]
            if states and all(s is not None for s in states):
                settled += 1
                if len(set(states)) == 1:
                    agreed += 1
        detected = sorted({j for a in accused.values() for j in a if j in self.cheaters})
        false = sum(1 for a in accused.values() for j in a if j not in self.cheaters)
        names = {i: n for i, n in zip(self.players, self.names, strict=True)}
        return "games", {"rounds": self.rounds, "rounds_settled": settled,
                         "rounds_agreed": agreed,
                         "cheaters_detected": [names[j] for j in detected],
                         "false_accusations": false}


class DhtDriver:
    """``puts`` random keys from random nodes, then ``gets`` lookups of them
    from other random nodes (``gets / puts`` per key)."""

    @classmethod
    def validate(cls, spec: dict[str, Any], path: str, index: dict[str, int]) -> None:
        for k in ("puts", "gets"):
            v = spec.get(k)
            if not isinstance(v, int) or v < 1:
                raise ScenarioError("scenario", path + "." + k, "a positive integer")

    def __init__(self, spec: dict[str, Any], index: dict[str, int]) -> None:
        self.puts = int(spec["puts"])
        self.gets = int(spec["gets"])
        self.start_us = int(float(spec.get("start_s", 0)) * 1e6)
        self.step_us = int(float(spec.get("interval_s", 0.5)) * 1e6)
        self.keys: list[tuple[bytes, bytes, int]] = []
        self.pending: dict[tuple[int, int], bytes] = {}
        self.found = 0
        self.issued = 0
        self.msgs = 0
        self.rig: _Rig | None = None
        self.rnd = random.Random(f"dht/{spec!r}")

    def start(self, engine: Any) -> None:
        self.rig = _rig(engine)
        engine.on_event(self._observe)
        # Kademlia join: every node looks itself up, staggered.
        for i in range(engine.n):
            engine.at(2_000_000 + i * 50_000, self._join, i)
        t = self.start_us
        for k in range(self.puts):
            engine.at(t, self._put, k)
            t += self.step_us
        t += 10_000_000
        for g in range(self.gets):
            engine.at(t, self._get, g)
            t += self.step_us

    def _live(self, exclude: int = -1) -> list[int]:
        assert self.rig is not None
        e = self.rig.engine
        return [i for i in range(e.n) if e.nodes[i] is not None and i != exclude]

    def _join(self, i: int) -> None:
        assert self.rig is not None
        svc = self.rig.get(i)
        if svc is not None:
            svc[2].find_node(svc[0].node_id, self.rig.engine.now_ms)
            self.rig.engine.service(i)

    def _put(self, k: int) -> None:
        assert self.rig is not None
        live = self._live()
        if not live:
            return
        i = self.rnd.choice(live)
        key = dht_key(f"sim-key-{k}")
        val = f"v{k}@n{i}".encode()
        self.keys.append((key, val, i))
        svc = self.rig.get(i)
        if svc is not None:
            svc[2].put(key, val, self.rig.engine.now_ms)
            self.rig.engine.service(i)

    def _get(self, g: int) -> None:
        assert self.rig is not None
        if not self.keys:
            return
        key, val, owner = self.keys[g % len(self.keys)]
        live = self._live(owner)
        if not live:
            return
        i = self.rnd.choice(live)
        svc = self.rig.get(i)
        if svc is None:
            return
        self.issued += 1
        lid = svc[2].get(key, self.rig.engine.now_ms)
        if lid >= 0:
            self.pending[(i, lid)] = val
        self.rig.engine.service(i)

    def _observe(self, i: int, ev: Any) -> None:
        if ev.kind != "service" or ev.service != "dht" or ev.name not in ("found", "not_found"):
            return
        val = self.pending.pop((i, int(ev.data["lookup"])), None)
        if val is None:
            return
        self.msgs += 2 * int(ev.data.get("msgs", 0))
        if ev.name == "found" and bytes.fromhex(str(ev.data["value"])) == val:
            self.found += 1

    def metrics(self) -> tuple[str, dict[str, Any]]:
        n = max(1, self.issued)
        return "dht", {"gets": self.issued, "found": self.found,
                       "tx_per_get": round(self.msgs / n, 2)}


class RelayDriver:
    """Contributes the ``relay`` section; added by the first issue-8 driver."""

    @classmethod
    def validate(cls, spec: dict[str, Any], path: str, index: dict[str, int]) -> None:
        return None

    def __init__(self, spec: dict[str, Any], index: dict[str, int]) -> None:
        self.engine: Any = None

    def start(self, engine: Any) -> None:
        self.engine = engine

    def metrics(self) -> tuple[str, dict[str, Any]]:
        rig = getattr(self.engine, "_issue8_rig", None)
        if rig is None:
            return "relay", {"credited": 0, "forged_accepted": 0, "forged_rejected": 0}
        return "relay", {"credited": rig.credited, "forged_accepted": rig.forged_accepted,
                         "forged_rejected": rig.forged_rejected}


def forge_relay(engine: Any, ev: Any) -> None:
    """The event's nodes claim relay credit for packets they never carried:
    bare claims, and receipts forged in a real destination's name (its real
    public key, the forger's signature), every 2 s until the end."""
    rig = _rig(engine)
    nodes = list(ev.nodes)

    def fire(_arg: Any) -> None:
        for i in nodes:
            svc = rig.get(i)
            if svc is None or not rig.treasuries:
                continue
            nd, _g, _d, cred = svc
            now = engine.now_ms
            victim = (i + 1) % engine.n
            fake_pid = hashlib.sha256(b"fake %d %d" % (i, now)).digest()[:8]
            for t in rig.treasuries:
                cred.claim(t, fake_pid, now)
                entry = fake_pid + engine.identities[victim].short + b"\x01" + nd.identity.short
                body = tlv(0x60, b"\x01") + tlv(0x61, engine.identities[victim].node_id
                                                + bytes(4) + rig.signer(victim).public)
                body += tlv(0x62, entry)
                body += tlv(0x63, rig.signer(i).sign(b"bitmesh-relay-receipt-v1" + body))
                nd.send_frame(T_RECEIPT, t, body, now)
            engine.service(i)
        if engine.now_us + 2_000_000 < engine.end_us:
            engine.at(engine.now_us + 2_000_000, fire)

    fire(None)


services.TRAFFIC_DRIVERS["game"] = GameDriver
services.TRAFFIC_DRIVERS["dht"] = DhtDriver
services.EVENT_HANDLERS["forge_relay"] = forge_relay

# Frame types handled by these services (documented for the engine's readers).
SERVICE_TYPES = (T_GAME, T_CONSENSUS, T_DHT, T_RECEIPT)
