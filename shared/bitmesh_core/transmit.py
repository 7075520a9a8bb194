"""The node's transmit side: frames it originates (sequence numbers, signing,
own-frame dedup, ack tracking), relay copies, the transmit queue feed,
application messages split into fragments, and the queue drained under the
airtime budget.

Plain functions of the node. ``MeshNode`` binds the ones its callers use as
methods (``node.emit``, ``node.originate``, ``node.relay_copy``,
``node.send_message``, ``node.send_frame``, ``node.frames_to_send``), so a call
costs what it did when they were defined in node.py: no wrapper in between,
which matters on the forward path (router ``relay`` -> ``relay_copy`` ->
``emit``).
"""

from .clock import wrap
from .compat import TYPE_CHECKING
from .fragment import frag_tlv_value, split
from .packet import (
    F_ACK_REQ,
    F_DST,
    F_ROUTE_REC,
    F_URGENT,
    T_ACK,
    T_BROADCAST,
    T_FRAGMENT,
    T_UNICAST,
    TLV_ACKED,
    TLV_APP,
    TLV_FRAG,
    TLV_HOPS,
    TLV_PAYLOAD,
    Packet,
    append_route,
    build,
    decode,
    packet_id_into,
    tlv,
)
from .txqueue import P_BULK, P_CONTROL, P_DATA, P_GAME, TxEntry

if TYPE_CHECKING:
    from .node import MeshNode

# Largest application payload in one frame: 250 minus header, recipient, tag,
# payload and app TLV headers, and room for a 16-hop route record.
MAX_PAYLOAD = 140
FRAG_CHUNK = 132


def next_seq(node: "MeshNode") -> int:
    node.seq = (node.seq + 1) & 0xFFFFFFFF
    return node.seq


def emit(node: "MeshNode", frame: "bytes | bytearray", prio: int, to: int = -1,
         due: "int | None" = None, key: "bytes | None" = None) -> None:
    """Queue a frame: to peer slot ``to`` by link unicast, else broadcast on
    every interface. ``due``/``key`` make it a cancellable delayed relay."""
    if to >= 0:
        peers = node.peers
        peers.tx[to] += 1
        _push(node, TxEntry(prio, peers.iface[to], peers.addr_of(to), frame, due, key))
        return
    for i in node.ifaces:
        _push(node, TxEntry(prio, i, None, frame, due, key))


def _push(node: "MeshNode", e: TxEntry) -> None:
    if node.txq.push(e) is not None:
        node.drop("txq_full")


def originate(node: "MeshNode", ptype: int, body: bytes, now: int, dst: "bytes | None" = None,
              flags: int = 0, prio: int = P_DATA, to: int = -1, ttl: int = 0,
              route: "bytes | None" = None, msg_id: int = -1) -> "tuple[int, bytes]":
    """Build, sign, record and queue a frame from this node.
    Returns (seq, packet identity). ``msg_id``: the message this frame is a
    copy of (a router's re-send), which its ``Acked`` reports; default: seq."""
    seq = node.next_seq()
    if prio == P_GAME:
        flags |= F_URGENT
    if route is not None:
        flags |= F_ROUTE_REC
    f = build(ptype, node.node_id, seq, ttl or node.config.ttl, body, dst, flags, route)
    node.auth.sign(f)
    p = decode(f)
    pid = bytearray(8)
    packet_id_into(p, pid)
    node.dedup.seen(pid, wrap(now))
    pidb = bytes(pid)
    node.counters["originated"] += 1
    if flags & F_ACK_REQ and dst is not None:
        if len(node.pending_acks) >= node.config.acks_max:
            node.pending_acks.pop(next(iter(node.pending_acks)))
        node.pending_acks[pidb] = (wrap(now), dst, seq if msg_id < 0 else msg_id)
    node.last_frame = f
    node.emit(f, prio, to)
    return seq, pidb


def relay_copy(node: "MeshNode", p: Packet, frame: "bytes | bytearray") -> "bytearray | None":
    """A copy of ``frame`` ready to relay: TTL minus one, this node's short id
    appended to the route record when the frame asks for one (re-signed)."""
    ttl = p.ttl
    if ttl <= 1:
        node.drop("ttl")
        return None
    if p.flags & F_ROUTE_REC:
        out = append_route(frame, p, node.identity.short)
        if out is None:
            out = bytearray(frame)
        else:
            node.auth.sign(out)
    else:
        out = bytearray(frame)
    out[2] = ttl - 1
    node.counters["relayed"] += 1
    return out


def send_message(node: "MeshNode", dst: "bytes | None", payload: bytes, now_ms: int,
                 app: int = 0, ack: bool = False, bulk: bool = False) -> int:
    """Send application bytes to ``dst`` (None: broadcast). Larger payloads
    are fragmented. Returns the message id (the first frame's seq)."""
    now = wrap(now_ms)
    node.now = now
    if len(payload) > node.config.max_message:
        raise ValueError("message larger than max_message")
    prio = P_BULK if bulk else P_DATA
    app_tlv = tlv(TLV_APP, bytes((app,))) if app else b""
    flags = F_ACK_REQ if ack and dst is not None else 0
    if len(payload) <= MAX_PAYLOAD:
        t = T_BROADCAST if dst is None else T_UNICAST
        return _send(node, dst, t, app_tlv + tlv(TLV_PAYLOAD, payload), flags, prio, now)
    parts = split(payload, FRAG_CHUNK)
    node.frag_id = (node.frag_id + 1) & 0xFFFF
    inner = T_BROADCAST if dst is None else T_UNICAST
    first = -1
    for i in range(len(parts)):
        body = (tlv(TLV_FRAG, frag_tlv_value(node.frag_id, i, len(parts), inner))
                + app_tlv + tlv(TLV_PAYLOAD, parts[i]))
        s = _send(node, dst, T_FRAGMENT, body, 0, prio, now)
        if first < 0:
            first = s
    return first


def _send(node: "MeshNode", dst: "bytes | None", ptype: int, body: bytes, flags: int,
          prio: int, now: int) -> int:
    if dst is None:
        return node.router.send_broadcast(ptype, body, flags, prio, now)
    return node.router.send_unicast(dst, ptype, body, flags | F_DST, prio, now)


def send_frame(node: "MeshNode", ptype: int, dst: "bytes | None", body: bytes, now_ms: int,
               prio: int = P_DATA, flags: int = 0) -> int:
    """Services send their own frame types through here."""
    return _send(node, dst, ptype, body, flags, prio, wrap(now_ms))


def send_ack(node: "MeshNode", p: Packet, pid: bytes, now: int) -> None:
    """The end-to-end ack of a frame for this node that asked for one."""
    body = tlv(TLV_ACKED, pid) + tlv(TLV_HOPS, bytes((p.hops,)))
    node.router.send_unicast(p.src, T_ACK, body, 0, P_CONTROL, now)


def frames_to_send(node: "MeshNode") -> "list[tuple[int, bytes | None, bytes | bytearray]]":
    """Frames due now, most urgent first: (iface, link addr or None, bytes)."""
    out = []  # type: list[tuple[int, bytes | None, bytes | bytearray]]
    if not node.txq.entries:
        return out
    at = node.airtime
    now = node.now
    for e in node.txq.pop_ready(now, at.allowed(now)):
        # The first entry passed pop_ready under this very budget; later ones
        # are checked again, since the frames sent before them count.
        if out and e.prio > at.allowed(now):
            node.txq.entries.append(e)  # the budget ran out: wait for the next window
            continue
        out.append((e.iface, e.addr, e.frame))
        at.sent(len(e.frame), now)
    node.counters["tx"] += len(out)
    return out
