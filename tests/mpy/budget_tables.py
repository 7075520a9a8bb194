"""The memory budget's table checks (tests/mpy/budget.py): how full each
bounded table of a node is, and what each one holds. Runs on MicroPython;
budget.py imports it before it measures the core's code, as its own."""

import sys

if sys.implementation.name != "micropython":  # names for type checkers only
    from typing import Callable

    from bitmesh_core.node import MeshNode


def filled(node: "MeshNode", t: "dict[str, int]", peers: int, frag_bytes_min: int,
           bitmesh: bool) -> "dict[str, list[int]]":
    """Each bounded table: [entries, capacity]. ``t``: stats()["tables"]; the
    router's tables not in stats are read from the router itself (``bitmesh``:
    the node runs the bitmesh router)."""
    c = node.config
    r = node.router
    frag_bytes = min([p.size for p in node.reasm.partials.values()] or [0])
    out = {
        "peers": [t["peers"], peers], "dedup": [t["dedup"], c.dedup_capacity],
        "replay": [t["replay"], c.replay_senders], "txq": [t["txq"], c.tx_queue_max],
        "events": [t["events"], c.events_max], "pending_acks": [t["pending_acks"], c.acks_max],
        "reassembly": [t["reassembly"], c.max_reassembly],
        "reassembly_min_bytes": [frag_bytes, frag_bytes_min],
    }
    if not bitmesh:
        return out
    paths = len(r.routes.paths) - r.routes.paths.count(None)
    out.update({
        "routes": [len(r.routes), c.max_routes], "route_paths": [paths, c.max_routes * c.route_paths],
        "lost": [len(r.part), c.max_routes], "hold": [len(r.holdq), c.hold_max],
        "hop_waits": [len(r.waits), c.hop_pending], "flood_waits": [len(r.fwaits), c.pending_relays],
        "pending_relays": [len(r.cov.pending), c.pending_relays], "msg_dedup": [r.msgs.n, c.msg_dedup],
        "origins": [len(r.origins.ids), c.origin_slots], "replied": [len(r.replied), c.max_routes],
        "src_relayed": [len(r.fwd), 16], "gone": [len(r.gone), 8],
    })
    return out


NODE_TABLES = ("events", "txq", "pending_acks", "reassembly", "dedup", "replay", "peers")


def release(node: "MeshNode", live: "Callable[[], int]", bitmesh: bool) -> "list[list[object]]":
    """What each table holds: the live bytes freed by emptying it, in this
    order (a frame shared by the transmit queue and a wait is counted where
    its last reference goes). Containers are emptied in place, so a stale
    pointer the conservative collector finds to one keeps no entries alive.
    Leaves the node unusable; runs after the checks."""
    r = node.router
    out = []  # type: list[list[object]]
    steps = ("events", "txq", "pending_acks", "hold", "hop_waits", "flood_waits", "reassembly",
             "routes", "lost", "msg_dedup", "origins", "replied_fwd_gone", "coverage_shorts",
             "dedup", "replay", "peers")
    for name in steps:
        if not bitmesh and name not in NODE_TABLES:
            continue
        before = live()
        if name == "events":
            node.events.clear()
        elif name == "txq":
            node.txq.entries.clear()
        elif name == "pending_acks":
            node.pending_acks.clear()
        elif name == "hold":
            r.holdq.items.clear()
        elif name == "hop_waits":
            r.waits.clear()
        elif name == "flood_waits":
            r.fwaits.clear()
        elif name == "reassembly":
            node.reasm.partials.clear()
        elif name == "routes":
            r.routes.paths.clear()
            r.routes = None
        elif name == "lost":
            r.part.lost.clear()
            r.part = None
        elif name == "msg_dedup":
            r.msgs = None
        elif name == "origins":
            r.origins.ids.clear()
            r.origins = None
        elif name == "replied_fwd_gone":
            r.replied.clear()
            r.fwd.clear()
            r.gone.clear()
            r.replied = r.fwd = r.gone = None
        elif name == "coverage_shorts":
            r.cov.pending.clear()  # with the two-hop masks and the short-id index
            r.cov = r.shorts = None
        elif name == "dedup":
            node.dedup = None
        elif name == "replay":
            node.replay = None
        else:
            node.peers = None
        out.append([name, before - live()])
    return out
