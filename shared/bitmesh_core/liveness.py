"""Neighbour liveness: the heartbeat a node sends and hears, and the sweep
that reports a neighbour lost.

Plain functions of the node, bound by ``MeshNode`` as methods (as transmit.py
is). A neighbour silent for ``peer_timeout_ms`` is lost (PeerLost). Before
that, while it has been silent for the last ``_PROBE_LEAD_MS`` (at most a
quarter of the timeout) of it, each sweep (once a second) sends our heartbeat
early with TLV_PROBE naming it; a node that finds its short id there sends
its own heartbeat at once. On a link losing half its frames, three
heartbeats in a row go missing one time in eight: without the probe, a
neighbour still there would be reported lost, and every route through it
dropped. The probe does not delay PeerLost: a neighbour that is gone is
reported when the timeout ends, as before.

A probe is answered at most once per ``ANSWER_GAP_MS`` after our last
heartbeat, so neighbours asking together (or a flooder asking again and
again) draw one heartbeat, not one each.
"""

from .clock import add, diff
from .compat import TYPE_CHECKING, const
from .events import PeerLost, PeerUp
from .packet import (
    HDR_LEN,
    MAX_FRAME,
    T_HEARTBEAT,
    TAG_LEN,
    TLV_BEACON,
    TLV_NAME,
    TLV_PROBE,
    TLV_ROLE,
    has_short,
    tlv,
)
from .peers import ROLE_CODES
from .txqueue import P_CONTROL

if TYPE_CHECKING:
    from .node import MeshNode
    from .packet import Packet

_PROBE_LEAD_MS = const(3000)
_PROBES_MAX = const(4)  # quiet peers named in one heartbeat
ANSWER_GAP_MS = 500


def send_heartbeat(node: "MeshNode", now: int, probe: bytes = b"") -> None:
    """Send our heartbeat. ``probe``: short ids of quiet peers asked to answer
    with theirs, as many as the 250-byte frame has room for."""
    c = node.config
    node.beacon = b = (node.beacon + 1) & 0xFFFF
    iv = min(c.heartbeat_ms // 100, 0xFFFF)
    body = (tlv(TLV_ROLE, bytes((ROLE_CODES.get(c.role, 0),)))
            + tlv(TLV_BEACON, bytes((iv >> 8, iv & 0xFF, b >> 8, b & 0xFF))))
    if c.name:
        body += tlv(TLV_NAME, c.name.encode())
    body += node.router.heartbeat_tlvs(now)
    if probe:
        room = (MAX_FRAME - HDR_LEN - TAG_LEN - 2 - len(body)) >> 2
        room = room if room < _PROBES_MAX else _PROBES_MAX
        if room > 0:
            body += tlv(TLV_PROBE, probe[:4 * room])
            node.counters["probes"] += 1
    node.originate(T_HEARTBEAT, body, now, prio=P_CONTROL, ttl=1)
    node.hb_sent = now
    node.next_hb = add(now, node._jitter(c.heartbeat_ms))


def heard_heartbeat(node: "MeshNode", p: "Packet", iface: int, rssi: int, now: int,
                    addr: "bytes | None") -> None:
    node.counters["heartbeats"] += 1
    if p.ttl != p.ttl0 or addr is None or len(addr) != 6:
        node.drop("bad_heartbeat")
        return
    peers = node.peers
    s = peers.slot(p.src)
    if s < 0:
        s = peers.add(p.src, addr, iface, now)
        if s < 0:
            node.drop("peers_full")
            return
        peers.heard(s, rssi, now)
        node.push_event(PeerUp(p.src, iface, rssi))
        node.router.peer_up(p.src, now)
    elif not peers.by_addr.key_starts(s, addr) or peers.iface[s] != iface:
        peers.relink(s, addr, iface)
        peers.heard(s, rssi, now)
    role = p.tlv(TLV_ROLE)
    if role and role[0] < 4:
        peers.role[s] = role[0]
    v = p.tlv(TLV_BEACON)
    if v is not None and len(v) >= 4:
        peers.beacon_counter(s, (v[2] << 8) | v[3])
    node.router.heard_heartbeat(p, s, now)
    v = p.tlv(TLV_PROBE)
    if v is not None and has_short(v, node.identity.short):
        answer_soon(node, now)


def answer_soon(node: "MeshNode", now: int) -> None:
    """A neighbour needs our heartbeat (it probed us, or holds a flood we
    missed): send it now, unless one went out in the last ``ANSWER_GAP_MS``.
    Jittered: one probe may ask several neighbours."""
    if diff(now, node.hb_sent) >= ANSWER_GAP_MS:
        due = add(now, int(node.rng.getrandbits(6)))  # type: ignore[attr-defined]
        if diff(node.next_hb, due) > 0:
            node.next_hb = due


def sweep(node: "MeshNode", now: int) -> None:
    """Once a second: report neighbours silent past the timeout lost, probe
    the ones close to it, and age the dedup and reassembly tables."""
    timeout = node.config.peer_timeout_ms
    peers = node.peers
    for nid in peers.expired(now, timeout):
        peers.remove(nid)
        node.push_event(PeerLost(nid))
        node.router.peer_lost(nid, now)
    lead = timeout >> 2 if timeout >> 2 < _PROBE_LEAD_MS else _PROBE_LEAD_MS
    quiet = peers.quiet(now, timeout - lead, timeout)
    if quiet:
        send_heartbeat(node, now, quiet)
    node.dedup.expire(now)
    n = node.reasm.expire(now)
    if n:
        node.drops["reassembly_timeout"] = node.drops.get("reassembly_timeout", 0) + n
