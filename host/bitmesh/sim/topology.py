"""The ``topology`` section of a scenario: where the nodes stand, their roles, and explicit links.

:func:`parse_topology` places every node (``line``, ``grid`` and
``random_geometric`` generate positions; ``explicit`` lists them) and reports
faults through the scenario's checker, so they name the key path like every
other scenario error (bitmesh.sim.scenario). ``random_geometric`` draws the
positions from the scenario's seed, so a seed override moves the nodes too.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bitmesh_core.config import ROLES

if TYPE_CHECKING:
    from bitmesh.sim.scenario import Scenario, _Checker


@dataclass
class Link:
    a: int
    b: int
    loss: float | None = None
    oneway: bool = False


@dataclass
class SimNodeSpec:
    name: str
    x: float
    y: float
    role: str = "relay"


_TOPO_KEYS = {
    "line": ("count", "spacing_m"),
    "grid": ("rows", "cols", "spacing_m"),
    "random_geometric": ("count", "width_m", "height_m"),
    "explicit": ("nodes",),
}


def parse_topology(c: _Checker, v: Any, sc: Scenario) -> None:
    """Validate ``v``; set ``sc.topology_kind``, ``sc.nodes`` and (when it lists
    links) ``sc.links``."""
    if not isinstance(v, dict):
        raise c.fail("topology", "an object")
    kind = v.get("kind")
    if kind not in _TOPO_KEYS:
        raise c.fail("topology.kind", "one of " + ", ".join(_TOPO_KEYS))
    d = c.obj(v, "topology", ("kind", "links", "roles") + _TOPO_KEYS[kind])
    sc.topology_kind = kind
    nodes: list[SimNodeSpec] = []
    if kind == "line":
        n = c.int_(d, "count", "topology", None, 1, 100_000)
        sp = c.num(d, "spacing_m", "topology", None)
        nodes = [SimNodeSpec(f"n{i}", i * sp, 0.0) for i in range(n)]
    elif kind == "grid":
        rows = c.int_(d, "rows", "topology", None, 1, 10_000)
        cols = c.int_(d, "cols", "topology", None, 1, 10_000)
        sp = c.num(d, "spacing_m", "topology", None)
        nodes = [SimNodeSpec(f"n{r * cols + k}", k * sp, r * sp)
                 for r in range(rows) for k in range(cols)]
    elif kind == "random_geometric":
        n = c.int_(d, "count", "topology", None, 1, 100_000)
        w = c.num(d, "width_m", "topology", None)
        h = c.num(d, "height_m", "topology", None)
        rnd = random.Random(f"placement/{sc.seed}")
        nodes = [SimNodeSpec(f"n{i}", rnd.random() * w, rnd.random() * h) for i in range(n)]
    else:
        lst = d.get("nodes")
        if not isinstance(lst, list) or not lst:
            raise c.fail("topology.nodes", "a non-empty list of {id, x, y[, role]}")
        seen: set[str] = set()
        for i, nv in enumerate(lst):
            p = f"topology.nodes[{i}]"
            nd = c.obj(nv, p, ("id", "x", "y", "role"))
            nid = nd.get("id")
            if not isinstance(nid, str) or not nid or nid in seen:
                raise c.fail(p + ".id", "a unique non-empty string")
            seen.add(nid)
            role = nd.get("role", "relay")
            if role not in ROLES:
                raise c.fail(p + ".role", "one of " + ", ".join(ROLES))
            nodes.append(SimNodeSpec(nid, c.num(nd, "x", p, 0, -1e9, 1e9),
                                     c.num(nd, "y", p, 0, -1e9, 1e9), role))
    sc.nodes = nodes
    index = sc.index()
    roles = d.get("roles", {})
    if not isinstance(roles, dict):
        raise c.fail("topology.roles", "an object mapping node id to role")
    for nid, role in roles.items():
        i = c.node(nid, f"topology.roles.{nid}", index)
        if role not in ROLES:
            raise c.fail(f"topology.roles.{nid}", "one of " + ", ".join(ROLES))
        nodes[i].role = role
    if "links" in d:
        sc.links = _links(c, d["links"], index)


def _links(c: _Checker, v: Any, index: dict[str, int]) -> list[Link]:
    if not isinstance(v, list):
        raise c.fail("topology.links", "a list of [a, b] or [a, b, {loss, oneway}]")
    out = []
    for i, ln in enumerate(v):
        p = f"topology.links[{i}]"
        if not isinstance(ln, list) or len(ln) not in (2, 3):
            raise c.fail(p, "[a, b] or [a, b, {\"loss\": x, \"oneway\": true}]")
        a = c.node(ln[0], p + "[0]", index)
        b = c.node(ln[1], p + "[1]", index)
        if a == b:
            raise c.fail(p, "two different nodes")
        link = Link(a, b)
        if len(ln) == 3:
            opt = c.obj(ln[2], p + "[2]", ("loss", "oneway"))
            if "loss" in opt:
                link.loss = c.num(opt, "loss", p + "[2]", None, 0.0, 1.0)
            ow = opt.get("oneway", False)
            if not isinstance(ow, bool):
                raise c.fail(p + "[2].oneway", "true or false")
            link.oneway = ow
        out.append(link)
    return out
