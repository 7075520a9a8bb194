"""Forwarding policy: the interface every router implements, and blind flooding.

The node owns the tables (peers, dedup, queue) and runs the receive pipeline
(decode, rate limit, authenticate, dedup, replay). A router only decides what
to transmit: how to relay a frame that is not only for this node, how to send
a unicast it originates, and what to do on timers and peer changes. Routers are
selected by name in the node config, so the simulator can run every router on
the same core and the boards run exactly what was measured.
"""

from .compat import TYPE_CHECKING
from .packet import F_DST, Packet

if TYPE_CHECKING:
    from .node import MeshNode


class Router:
    """Base class. Subclasses override the hooks they need."""

    name = "base"

    def __init__(self, node: "MeshNode") -> None:
        self.node = node

    def relay(self, p: Packet, frame: "bytes | bytearray", pid: bytes, link: int,
              prio: int, now: int) -> None:
        """A new, authentic frame that is not only for this node arrived from
        neighbour slot ``link`` (-1 if unknown): relay it or not."""

    def heard_duplicate(self, p: Packet, pid: bytes, link: int, now: int) -> None:
        """A copy of a frame already seen arrived (used by delay-and-cancel)."""

    def send_broadcast(self, ptype: int, body: bytes, flags: int, prio: int, now: int) -> int:
        """Originate a broadcast frame; returns its sequence number."""
        return self.node.originate(ptype, body, now, prio=prio, flags=flags)[0]

    def send_unicast(self, dst: bytes, ptype: int, body: bytes, flags: int, prio: int,
                     now: int) -> int:
        """Originate a unicast frame; returns its sequence number."""
        return self.node.originate(ptype, body, now, dst=dst, flags=flags, prio=prio)[0]

    def delivered_unicast(self, p: Packet, pid: bytes, link: int, now: int) -> "bool | None":
        """A unicast for this node arrived (routers learn routes here).
        Returning False withholds it from the application (a duplicate)."""
        return None

    def heartbeat_tlvs(self, now: int) -> bytes:
        """Extra TLVs this router adds to the node's heartbeat."""
        return b""

    def heard_heartbeat(self, p: Packet, slot: int, now: int) -> None:
        """A neighbour's heartbeat arrived (peer table slot ``slot``)."""

    def on_ack(self, p: Packet, acked: bytes, now: int) -> None:
        """An ack arrived: end-to-end (``p.dst`` is us) or a neighbour's link
        ack (``p.dst`` is None, TTL 1)."""

    def on_timer(self, now: int) -> None:
        pass

    def next_timer(self, now: int) -> "int | None":
        return None

    def peer_up(self, peer: bytes, now: int) -> None:
        pass

    def peer_lost(self, peer: bytes, now: int) -> None:
        pass

    def stats(self) -> "dict[str, object]":
        return {}

    def link_unicast(self, p: Packet) -> int:
        """Peer slot of the recipient when it is a direct neighbour, else -1."""
        if p.flags & F_DST and p.dst is not None:
            return self.node.peers.slot(p.dst)
        return -1


class FloodRouter(Router):
    """Blind flooding, the baseline: every node relays every new frame once
    while TTL allows. A unicast whose recipient is a direct neighbour goes
    straight to it; any other unicast floods."""

    name = "flood"

    def relay(self, p: Packet, frame: "bytes | bytearray", pid: bytes, link: int,
              prio: int, now: int) -> None:
        node = self.node
        if p.ttl <= 1 or node.config.role == "leaf":
            return
        out = node.relay_copy(p, frame)
        if out is not None:
            node.emit(out, prio, self.link_unicast(p))

    def send_unicast(self, dst: bytes, ptype: int, body: bytes, flags: int, prio: int,
                     now: int) -> int:
        return self.node.originate(ptype, body, now, dst=dst, flags=flags,
                                   prio=prio, to=self.node.peers.slot(dst))[0]


ROUTERS = {"flood": FloodRouter}  # type: dict[str, type[Router]]
# Routers in their own modules register in ROUTERS when imported. They are
# imported on first use, so a board pays RAM only for the router it runs.
ROUTER_MODULES = {"managed": "managed", "bitmesh": "mesh"}


def router_class(name: str) -> "type[Router] | None":
    """The router registered as ``name`` (importing its module), or None."""
    cls = ROUTERS.get(name)
    if cls is None and name in ROUTER_MODULES:
        __import__("bitmesh_core." + ROUTER_MODULES[name])
        cls = ROUTERS.get(name)
    return cls
