"""Events the core hands to its shell through ``MeshNode.next_event()``.

Every event has a ``kind`` string and ``to_dict()`` for JSON logs, so the
board, the gateway and the simulator report the same things the same way.
"""


class Event:
    kind = "event"
    __slots__ = ()

    def to_dict(self) -> "dict[str, object]":
        return {"event": self.kind}


def _hex(b: "bytes | None") -> "str | None":
    return None if b is None else b.hex()


class Delivered(Event):
    """An application message arrived for this node (or a broadcast)."""

    kind = "delivered"
    __slots__ = ("src", "dst", "payload", "app", "hops", "msg_id", "ptype")

    def __init__(self, src: bytes, dst: "bytes | None", payload: bytes, app: int,
                 hops: int, msg_id: int, ptype: int) -> None:
        self.src = src
        self.dst = dst
        self.payload = payload
        self.app = app
        self.hops = hops
        self.msg_id = msg_id
        self.ptype = ptype

    def to_dict(self) -> "dict[str, object]":
        return {"event": self.kind, "src": self.src.hex(), "dst": _hex(self.dst),
                "app": self.app, "hops": self.hops, "msg_id": self.msg_id,
                "len": len(self.payload), "broadcast": self.dst is None}


class PeerUp(Event):
    kind = "peer_up"
    __slots__ = ("peer", "iface", "rssi")

    def __init__(self, peer: bytes, iface: int, rssi: int) -> None:
        self.peer = peer
        self.iface = iface
        self.rssi = rssi

    def to_dict(self) -> "dict[str, object]":
        return {"event": self.kind, "peer": self.peer.hex(), "iface": self.iface,
                "rssi": self.rssi}


class PeerLost(Event):
    kind = "peer_lost"
    __slots__ = ("peer",)

    def __init__(self, peer: bytes) -> None:
        self.peer = peer

    def to_dict(self) -> "dict[str, object]":
        return {"event": self.kind, "peer": self.peer.hex()}


class Acked(Event):
    """A unicast this node sent was acknowledged end to end."""

    kind = "acked"
    __slots__ = ("dst", "msg_id", "rtt_ms", "hops")

    def __init__(self, dst: bytes, msg_id: int, rtt_ms: int, hops: int) -> None:
        self.dst = dst
        self.msg_id = msg_id
        self.rtt_ms = rtt_ms
        self.hops = hops

    def to_dict(self) -> "dict[str, object]":
        return {"event": self.kind, "dst": self.dst.hex(), "msg_id": self.msg_id,
                "rtt_ms": self.rtt_ms, "hops": self.hops}


class SendFailed(Event):
    """A unicast gave up: retries exhausted or the hold queue expired."""

    kind = "send_failed"
    __slots__ = ("dst", "msg_id", "reason")

    def __init__(self, dst: bytes, msg_id: int, reason: str) -> None:
        self.dst = dst
        self.msg_id = msg_id
        self.reason = reason

    def to_dict(self) -> "dict[str, object]":
        return {"event": self.kind, "dst": self.dst.hex(), "msg_id": self.msg_id,
                "reason": self.reason}


class PartitionSuspected(Event):
    """Destinations this node could reach became unreachable."""

    kind = "partition"
    __slots__ = ("lost",)

    def __init__(self, lost: "list[bytes]") -> None:
        self.lost = lost

    def to_dict(self) -> "dict[str, object]":
        return {"event": self.kind, "lost": [x.hex() for x in self.lost]}


class PartitionHealed(Event):
    """Destinations reported lost are reachable again."""

    kind = "healed"
    __slots__ = ("back",)

    def __init__(self, back: "list[bytes]") -> None:
        self.back = back

    def to_dict(self) -> "dict[str, object]":
        return {"event": self.kind, "back": [x.hex() for x in self.back]}


class RouteChanged(Event):
    kind = "route"
    __slots__ = ("dst", "next_hop", "hops")

    def __init__(self, dst: bytes, next_hop: "bytes | None", hops: int) -> None:
        self.dst = dst
        self.next_hop = next_hop
        self.hops = hops

    def to_dict(self) -> "dict[str, object]":
        return {"event": self.kind, "dst": self.dst.hex(), "next_hop": _hex(self.next_hop),
                "hops": self.hops}


class ServiceEvent(Event):
    """An event raised by a service above routing (games, DHT, credits)."""

    kind = "service"
    __slots__ = ("service", "name", "data")

    def __init__(self, service: str, name: str, data: "dict[str, object]") -> None:
        self.service = service
        self.name = name
        self.data = data

    def to_dict(self) -> "dict[str, object]":
        d = {"event": self.kind, "service": self.service, "name": self.name}  # type: dict[str, object]
        for k in self.data:
            d[k] = self.data[k]
        return d
