"""Scenario files (docs/SIM.md, ../shared/scenarios/FORMAT.md): load and validate.

:func:`load_scenario` turns a JSON file into a :class:`Scenario` with every
default filled in and every node placed (the ``topology`` section is read by
bitmesh.sim.topology). Any problem raises :class:`ScenarioError` (a
UsageError, exit 2) whose one-line message names the file, the key path and
what was expected. Unknown keys are rejected at every level, so a typo can
never silently change an experiment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bitmesh.errors import UsageError
from bitmesh.sim import services
from bitmesh.sim.topology import Link, SimNodeSpec, parse_topology
from bitmesh_core.config import ConfigError, NodeConfig, fields

ACTIONS = ("kill", "revive", "partition", "heal", "rogue", "set_loss", "forge_relay")
SERVICE_KINDS = ("game", "dht")
SERVICE_EVENTS = ("forge_relay",)


class ScenarioError(UsageError):
    """A scenario file is invalid: ``file: key.path: expected ...``."""

    def __init__(self, source: str, path: str, expected: str) -> None:
        super().__init__(f"{source}: {path or '<top>'}: expected {expected}")
        self.path = path


@dataclass
class Radio:
    range_m: float = 100.0
    loss: float = 0.0
    loss_model: str = "uniform"
    bitrate_bps: int = 1_000_000
    mtu: int = 250
    collisions: bool = False


@dataclass
class Traffic:
    kind: str
    count: int = 0
    size: int = 32
    start_s: float = 0.0
    interval_s: float = 1.0
    origin: int | None = None  # broadcast "from"; None = random
    pairs: list[tuple[int, int]] | None = None  # unicast; None = random
    raw: dict[str, Any] = field(default_factory=dict)  # service kinds keep their spec


@dataclass
class Event:
    at_s: float
    action: str
    nodes: list[int] = field(default_factory=list)
    groups: list[list[int]] = field(default_factory=list)
    rate_per_s: float = 0.0
    until_s: float = 0.0
    authenticated: bool = False
    loss: float = 0.0
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scenario:
    name: str
    source: str
    seed: int = 1
    duration_s: float = 300.0
    radio: Radio = field(default_factory=Radio)
    nodes: list[SimNodeSpec] = field(default_factory=list)
    links: list[Link] | None = None
    node_config: dict[str, Any] = field(default_factory=dict)
    traffic: list[Traffic] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    topology_kind: str = "explicit"

    def index(self) -> dict[str, int]:
        return {n.name: i for i, n in enumerate(self.nodes)}


class _Checker:
    """Typed access to one JSON object, reporting errors with their key path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, expected: str) -> ScenarioError:
        return ScenarioError(self.source, path, expected)

    def obj(self, v: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise self.fail(path, "an object")
        for k in v:
            if k not in allowed:
                where = f"{path}.{k}" if path else k
                raise self.fail(where, "one of the keys " + ", ".join(allowed) + " (unknown key)")
        return v

    def num(self, d: dict[str, Any], key: str, path: str, default: float | None,
            lo: float = 0.0, hi: float = float("inf")) -> float:
        v = d.get(key, default)
        p = f"{path}.{key}" if path else key
        if v is None or isinstance(v, bool) or not isinstance(v, int | float):
            raise self.fail(p, "a number")
        if not lo <= v <= hi:
            raise self.fail(p, f"a number in {lo:g}..{hi:g}")
        return float(v)

    def int_(self, d: dict[str, Any], key: str, path: str, default: int | None,
             lo: int = 0, hi: int = 10**9) -> int:
        v = d.get(key, default)
        p = f"{path}.{key}" if path else key
        if v is None or isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(p, "an integer")
        if not lo <= v <= hi:
            raise self.fail(p, f"an integer in {lo}..{hi}")
        return v

    def node(self, v: Any, path: str, index: dict[str, int]) -> int:
        if not isinstance(v, str) or v not in index:
            raise self.fail(path, f"a node id of this scenario (got {v!r})")
        return index[v]

    def nodes(self, v: Any, path: str, index: dict[str, int]) -> list[int]:
        if not isinstance(v, list) or not v:
            raise self.fail(path, "a non-empty list of node ids")
        return [self.node(x, f"{path}[{i}]", index) for i, x in enumerate(v)]


def load_scenario(path: str | Path, seed: int | None = None) -> Scenario:
    """Read, validate and place a scenario file (``seed`` overrides the
    file's seed, placement included). Raises ScenarioError."""
    p = Path(path)
    source = str(p)
    try:
        text = p.read_text()
    except OSError as exc:
        raise UsageError(f"{source}: cannot read scenario ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(source, f"line {exc.lineno}", f"valid JSON ({exc.msg})") from None
    if seed is not None and isinstance(data, dict):
        data["seed"] = seed
    return parse_scenario(data, source, default_name=p.stem)


def parse_scenario(data: Any, source: str = "<scenario>",
                   default_name: str = "scenario") -> Scenario:
    """Validate an already-parsed scenario object (see :func:`load_scenario`)."""
    c = _Checker(source)
    d = c.obj(data, "", ("format", "name", "seed", "duration_s", "radio", "topology",
                         "node_defaults", "traffic", "events"))
    if d.get("format", 1) != 1:
        raise c.fail("format", "1 (the only format version)")
    name = d.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise c.fail("name", "a non-empty string")
    sc = Scenario(name=name, source=source)
    sc.seed = c.int_(d, "seed", "", 1, 0, 2**31 - 1)
    sc.duration_s = c.num(d, "duration_s", "", 300, 0.001, 10**7)
    sc.radio = _radio(c, d.get("radio", {}))
    if "topology" not in d:
        raise c.fail("topology", "an object (topology is required)")
    parse_topology(c, d["topology"], sc)
    sc.node_config = _node_defaults(c, d.get("node_defaults", {}))
    index = sc.index()
    tr = d.get("traffic", [])
    if not isinstance(tr, list):
        raise c.fail("traffic", "a list")
    sc.traffic = [_traffic(c, t, f"traffic[{i}]", index) for i, t in enumerate(tr)]
    ev = d.get("events", [])
    if not isinstance(ev, list):
        raise c.fail("events", "a list")
    sc.events = [_event(c, e, f"events[{i}]", index) for i, e in enumerate(ev)]
    sc.events.sort(key=lambda e: e.at_s)  # stable: same-time events keep file order
    return sc


def _radio(c: _Checker, v: Any) -> Radio:
    d = c.obj(v, "radio", ("range_m", "loss", "loss_model", "bitrate_bps", "mtu", "collisions"))
    r = Radio()
    r.range_m = c.num(d, "range_m", "radio", 100, 0.001)
    r.loss = c.num(d, "loss", "radio", 0.0, 0.0, 1.0)
    model = d.get("loss_model", "uniform")
    if model not in ("uniform", "distance"):
        raise c.fail("radio.loss_model", '"uniform" or "distance"')
    r.loss_model = model
    r.bitrate_bps = c.int_(d, "bitrate_bps", "radio", 1_000_000, 1000, 10**9)
    r.mtu = c.int_(d, "mtu", "radio", 250, 25, 250)
    col = d.get("collisions", False)
    if not isinstance(col, bool):
        raise c.fail("radio.collisions", "true or false")
    r.collisions = col
    return r


def _node_defaults(c: _Checker, v: Any) -> dict[str, Any]:
    """Map ``*_s`` keys to the core's ``*_ms`` fields; validate with NodeConfig."""
    # roles are per node (topology), the router comes from --router
    knobs = fields()
    allowed = tuple(sorted(set(knobs) | {k[:-3] + "_s" for k in knobs if k.endswith("_ms")}))
    d = c.obj(v, "node_defaults", allowed)
    cfg: dict[str, Any] = {}
    for k, val in d.items():
        key = k
        if k.endswith("_s") and k[:-2] + "_ms" in knobs:
            if isinstance(val, bool) or not isinstance(val, int | float):
                raise c.fail(f"node_defaults.{k}", "a number of seconds")
            key, val = k[:-2] + "_ms", int(round(val * 1000))
        cfg[key] = val
    try:
        NodeConfig.from_dict(dict(cfg))
    except ConfigError as exc:
        raise c.fail(f"node_defaults.{exc.key}", exc.expected) from None
    return cfg


def _traffic(c: _Checker, v: Any, p: str, index: dict[str, int]) -> Traffic:
    if not isinstance(v, dict):
        raise c.fail(p, "an object")
    kind = v.get("kind")
    if kind in SERVICE_KINDS:
        keys = {"game": ("kind", "game", "players", "rounds", "start_s", "cheaters"),
                "dht": ("kind", "puts", "gets", "start_s", "interval_s")}[kind]
        d = c.obj(v, p, keys)
        if kind not in services.TRAFFIC_DRIVERS:
            raise c.fail(p + ".kind", f'"broadcast" or "unicast": "{kind}" traffic is '
                         "not yet supported (issue 8)")
        services.TRAFFIC_DRIVERS[kind].validate(d, p, index)
        return Traffic(kind=kind, start_s=c.num(d, "start_s", p, 0), raw=dict(d))
    if kind not in ("broadcast", "unicast"):
        raise c.fail(p + ".kind", '"broadcast", "unicast", "game" or "dht"')
    extra = ("from",) if kind == "broadcast" else ("pairs",)
    d = c.obj(v, p, ("kind", "count", "size", "start_s", "interval_s") + extra)
    t = Traffic(kind=kind)
    t.count = c.int_(d, "count", p, 1, 0, 10**7)
    t.size = c.int_(d, "size", p, 32, 4, NodeConfig().max_message)
    t.start_s = c.num(d, "start_s", p, 0)
    t.interval_s = c.num(d, "interval_s", p, 1, 0.001)
    if kind == "broadcast":
        src = d.get("from", "random")
        t.origin = None if src == "random" else c.node(src, p + ".from", index)
    else:
        pairs = d.get("pairs", "random")
        if pairs != "random":
            if not isinstance(pairs, list) or not pairs:
                raise c.fail(p + ".pairs", '"random" or a non-empty list of [src, dst]')
            t.pairs = []
            for i, pr in enumerate(pairs):
                q = f"{p}.pairs[{i}]"
                if not isinstance(pr, list) or len(pr) != 2:
                    raise c.fail(q, "[src, dst]")
                a, b = c.node(pr[0], q + "[0]", index), c.node(pr[1], q + "[1]", index)
                if a == b:
                    raise c.fail(q, "two different nodes")
                t.pairs.append((a, b))
    return t


def _event(c: _Checker, v: Any, p: str, index: dict[str, int]) -> Event:
    if not isinstance(v, dict):
        raise c.fail(p, "an object")
    action = v.get("action")
    if action not in ACTIONS:
        raise c.fail(p + ".action", "one of " + ", ".join(ACTIONS))
    keys = {"kill": ("nodes",), "revive": ("nodes",), "partition": ("groups",), "heal": (),
            "rogue": ("nodes", "rate_per_s", "until_s", "authenticated"),
            "set_loss": ("loss",), "forge_relay": ("nodes",)}[action]
    d = c.obj(v, p, ("at_s", "action") + keys)
    e = Event(at_s=c.num(d, "at_s", p, None), action=action, raw=dict(d))
    if "nodes" in keys:
        e.nodes = c.nodes(d.get("nodes"), p + ".nodes", index)
    if action == "partition":
        groups = d.get("groups")
        if not isinstance(groups, list) or not groups:
            raise c.fail(p + ".groups", "a non-empty list of node-id lists")
        seen: set[int] = set()
        for i, g in enumerate(groups):
            grp = c.nodes(g, f"{p}.groups[{i}]", index)
            if seen & set(grp):
                raise c.fail(f"{p}.groups[{i}]", "groups that do not share nodes")
            seen |= set(grp)
            e.groups.append(grp)
    elif action == "rogue":
        e.rate_per_s = c.num(d, "rate_per_s", p, None, 0.001, 100_000)
        e.until_s = c.num(d, "until_s", p, None)
        if e.until_s < e.at_s:
            raise c.fail(p + ".until_s", "a time at or after at_s")
        auth = d.get("authenticated", False)
        if not isinstance(auth, bool):
            raise c.fail(p + ".authenticated", "true or false")
        e.authenticated = auth
    elif action == "set_loss":
        e.loss = c.num(d, "loss", p, None, 0.0, 1.0)
    elif action in SERVICE_EVENTS and action not in services.EVENT_HANDLERS:
        raise c.fail(p + ".action", f'a supported action: "{action}" is not yet supported '
                     "(issue 8)")
    return e
