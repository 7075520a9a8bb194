"""The bitmesh v1 wire format: one frame fits one 250-byte ESP-NOW frame.

Layout (all integers big-endian; see docs/PROTOCOL.md)::

    0  version   1      always 1; anything else is dropped as "version"
    1  type      1      T_* below; unknown types are relayed but not handled
    2  ttl       1      hops left; the only per-hop header byte (not tagged)
    3  ttl0      1      the TTL the origin used, so ttl0 - ttl = hops so far
    4  flags     1      F_* below
    5  seq       4      per-origin sequence: boot count << 20 | frame counter
    9  src       8      origin node id
    17 dst       8      recipient node id, only when F_DST is set
    .. body      TLVs   (type 1, length 1, value); unknown TLVs are skipped
    .. route     TLV    TLV_ROUTE_RECORD, always last when present
    -8 tag       8      truncated HMAC-SHA256 under the network key

The *packet identity* (:func:`packet_id_into`) hashes bytes 3 up to the route
record: it leaves out the TTL and the route record, the two things relays
change, so every copy of one frame has one identity.
"""

from .compat import const
from .hashing import hash64_into

VERSION = const(1)
MAX_FRAME = const(250)
HDR_LEN = const(17)
DST_LEN = const(8)
TAG_LEN = const(8)
MIN_FRAME = const(25)  # header + tag
MAX_TTL = const(32)

# Frame types.
T_HEARTBEAT = const(1)
T_BROADCAST = const(2)
T_UNICAST = const(3)
T_ACK = const(4)
T_ROUTE = const(5)
T_FRAGMENT = const(6)
T_DHT = const(7)
T_GAME = const(8)
T_CONSENSUS = const(9)
T_RECEIPT = const(10)


# Header flags.
F_DST = const(0x01)  # an 8-byte recipient follows src
F_ACK_REQ = const(0x02)  # the recipient answers with an end-to-end ack
F_ROUTE_REC = const(0x04)  # relays append their short id to the route record
F_SRC_ROUTE = const(0x08)  # TLV_SOURCE_ROUTE names the relays to follow
F_BRIDGED = const(0x10)  # entered this mesh through a gateway; never bridge back
F_URGENT = const(0x20)  # game/consensus priority class on every hop


# Body TLV types.
TLV_PAYLOAD = const(0x01)  # application bytes
TLV_APP = const(0x02)  # 1-byte application port
TLV_ROLE = const(0x03)  # heartbeat: node role
TLV_BEACON = const(0x04)  # heartbeat: interval (2 bytes, 100 ms units), beacon counter (2 bytes)
TLV_NAME = const(0x05)  # heartbeat: utf-8 node name
TLV_ACKED = const(0x06)  # ack: 8-byte identity of the acknowledged frame
TLV_FRAG = const(0x07)  # fragment: msg id (2), index (1), count (1), inner type (1)
TLV_HOPS = const(0x08)  # ack/route: hop count seen by the acknowledger (1)
TLV_ROUTE_OP = const(0x09)  # route control: op code (1) + target node id (8)
TLV_NEIGHBORS = const(0x0A)  # heartbeat: short ids of heard neighbours
TLV_PROBE = const(0x0F)  # heartbeat: short ids of quiet neighbours asked to send theirs now
# The bitmesh router's own (mesh.py, meshstate.py):
TLV_MSGID = const(0x0B)  # first seq of a re-originated message (4 bytes)
TLV_PATH = const(0x0C)  # route reply: the record of the forward path; error: broken hop
TLV_BLIND = const(0x0D)  # a unicast flood every relay repeats (discovery retry)
TLV_SEEN = const(0x0E)  # heartbeat: tags of the floods its sender holds (floodrepair.RecentFloods)
TLV_SOURCE_ROUTE = const(0x7E)  # short ids of relays to follow, in order
TLV_ROUTE_RECORD = const(0x7F)  # short ids of relays so far, appended per hop


class DecodeError(Exception):
    """A frame that cannot be parsed; ``reason`` is the counted drop reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Packet:
    """A decoded frame: header fields plus offsets into the original bytes.

    ``body`` is the TLV region without the route record; ``route`` is the
    route record's value (concatenated 4-byte short ids) or ``b""``.
    """

    __slots__ = (
        "frame", "ptype", "ttl", "ttl0", "flags", "seq", "src", "dst",
        "body_start", "inv_end", "tlv_end", "pay_at", "pay_len", "app",
    )

    def __init__(self) -> None:
        self.frame = b""  # type: bytes | bytearray | memoryview
        self.ptype = 0
        self.ttl = 0
        self.ttl0 = 0
        self.flags = 0
        self.seq = 0
        self.src = b""
        self.dst = None  # type: bytes | None
        self.body_start = HDR_LEN
        self.inv_end = 0  # end of the invariant bytes: the route record's start
        self.tlv_end = 0  # end of all TLVs: the tag's start
        self.pay_at = -1  # offset of the first TLV_PAYLOAD value, found while decoding
        self.pay_len = 0
        self.app = 0  # TLV_APP value (application port), 0 when absent

    @property
    def hops(self) -> int:
        """Radio hops this copy has travelled: 1 for a frame heard from its origin."""
        return self.ttl0 - self.ttl + 1

    def tlv(self, want: int) -> "bytes | None":
        """The value of the first TLV of type ``want``, or None."""
        f = self.frame
        i = self.body_start
        end = self.tlv_end
        while i + 2 <= end:
            t = f[i]
            n = f[i + 1]
            if t == want:
                return bytes(f[i + 2 : i + 2 + n])
            i += 2 + n
        return None

    def msg_id(self) -> int:
        """The message's id at its origin: the seq of its first copy, carried in
        TLV_MSGID by a copy re-originated after a route error, else ``seq``."""
        m = self.tlv(TLV_MSGID)
        return self.seq if m is None or len(m) != 4 else int.from_bytes(m, "big")

    def tlvs(self) -> "list[tuple[int, bytes]]":
        """Every TLV as (type, value), in frame order, route record included."""
        out = []
        f = self.frame
        i = self.body_start
        while i + 2 <= self.tlv_end:
            n = f[i + 1]
            out.append((f[i], bytes(f[i + 2 : i + 2 + n])))
            i += 2 + n
        return out

    def route(self) -> bytes:
        """Concatenated 4-byte short ids of the route record (may be empty)."""
        if self.inv_end == self.tlv_end:
            return b""
        return bytes(self.frame[self.inv_end + 2 : self.tlv_end])

    def payload(self) -> bytes:
        if self.pay_at < 0:
            return b""
        return bytes(self.frame[self.pay_at : self.pay_at + self.pay_len])


def decode(frame: "bytes | bytearray | memoryview", into: "Packet | None" = None) -> Packet:
    """Parse a frame's structure (not its tag). Raises :class:`DecodeError`.

    With ``into``, that Packet is overwritten and returned instead of a new one
    (the receive path reuses one object per node: no per-frame instance). Such
    a packet is only valid until the next frame is decoded into it."""
    n = len(frame)
    if n < MIN_FRAME:
        raise DecodeError("short")
    if n > MAX_FRAME:
        raise DecodeError("oversize")
    if frame[0] != VERSION:
        raise DecodeError("version")
    # Fields are worked on in locals and stored once: on MicroPython every
    # attribute access is a table lookup, and this runs for every frame heard.
    ttl = frame[2]
    ttl0 = frame[3]
    flags = frame[4]
    if ttl > ttl0 or ttl0 > MAX_TTL or ttl0 == 0:
        raise DecodeError("bad_ttl")
    i = HDR_LEN
    dst = None
    if flags & F_DST:
        i += DST_LEN
        if n < i + TAG_LEN:
            raise DecodeError("short")
        dst = bytes(frame[HDR_LEN:i])
    body_start = i
    end = n - TAG_LEN
    route_at = -1
    pay_at = -1
    pay_len = 0
    app = 0
    while i < end:
        if i + 2 > end:
            raise DecodeError("bad_tlv")
        t = frame[i]
        ln = frame[i + 1]
        if i + 2 + ln > end:
            raise DecodeError("bad_tlv")
        if route_at >= 0:
            raise DecodeError("route_not_last")
        if t == TLV_ROUTE_RECORD:
            if ln & 3:
                raise DecodeError("bad_route")
            route_at = i
        elif t == TLV_PAYLOAD:
            if pay_at < 0:
                pay_at = i + 2
                pay_len = ln
        elif t == TLV_APP and ln:
            app = frame[i + 2]
        i += 2 + ln
    p = Packet() if into is None else into
    p.frame = frame
    p.ptype = frame[1]
    p.ttl = ttl
    p.ttl0 = ttl0
    p.flags = flags
    p.seq = (frame[5] << 24) | (frame[6] << 16) | (frame[7] << 8) | frame[8]
    p.src = bytes(frame[9:17])
    p.dst = dst
    p.body_start = body_start
    p.pay_at = pay_at
    p.pay_len = pay_len
    p.app = app
    p.tlv_end = end
    p.inv_end = route_at if route_at >= 0 else end
    return p


def packet_id_into(p: Packet, out: bytearray) -> None:
    """Write the 8-byte invariant identity of ``p`` into ``out`` (no allocation
    beyond one memoryview)."""
    mv = memoryview(p.frame)[3:]
    hash64_into(mv, p.inv_end - 3, out)


def packet_id(p: Packet) -> bytes:
    out = bytearray(8)
    packet_id_into(p, out)
    return bytes(out)


def has_short(ids: bytes, short: bytes) -> bool:
    """True when ``ids`` (4-byte short ids back to back) names ``short``."""
    for i in range(0, len(ids), 4):
        if ids[i:i + 4] == short:
            return True
    return False


def tlv(t: int, value: bytes) -> bytes:
    """Encode one TLV. Values are at most 255 bytes."""
    if len(value) > 255:
        raise ValueError("TLV value too long")
    return bytes((t, len(value))) + value


def build(
    ptype: int,
    src: bytes,
    seq: int,
    ttl: int,
    body: bytes = b"",
    dst: "bytes | None" = None,
    flags: int = 0,
    route: "bytes | None" = None,
    ttl0: int = -1,
) -> bytearray:
    """Assemble an unsigned frame with a zeroed tag; sign it with FrameAuth.

    ``route`` (concatenated short ids, possibly empty) adds the route record
    TLV and sets F_ROUTE_REC. Raises ValueError when it would not fit.
    """
    if dst is not None:
        flags |= F_DST
    else:
        flags &= ~F_DST
    if route is not None:
        flags |= F_ROUTE_REC
    if ttl0 < 0:
        ttl0 = ttl
    size = HDR_LEN + (DST_LEN if dst is not None else 0) + len(body) + TAG_LEN
    if route is not None:
        size += 2 + len(route)
    if size > MAX_FRAME:
        raise ValueError("frame exceeds 250 bytes")
    f = bytearray(size)
    f[0] = VERSION
    f[1] = ptype
    f[2] = ttl
    f[3] = ttl0
    f[4] = flags
    f[5] = (seq >> 24) & 0xFF
    f[6] = (seq >> 16) & 0xFF
    f[7] = (seq >> 8) & 0xFF
    f[8] = seq & 0xFF
    f[9:17] = src
    i = HDR_LEN
    if dst is not None:
        f[i : i + DST_LEN] = dst
        i += DST_LEN
    f[i : i + len(body)] = body
    i += len(body)
    if route is not None:
        f[i] = TLV_ROUTE_RECORD
        f[i + 1] = len(route)
        f[i + 2 : i + 2 + len(route)] = route
    return f


def append_route(frame: "bytes | bytearray", p: Packet, short: bytes) -> "bytearray | None":
    """A copy of the frame with ``short`` appended to its route record (tag
    left stale: re-sign it). None when the frame would exceed 250 bytes."""
    n = len(frame)
    if p.inv_end == p.tlv_end or n + 4 > MAX_FRAME or (p.tlv_end - p.inv_end) + 2 > 255:
        return None
    out = bytearray(n + 4)
    end = p.tlv_end
    out[:end] = frame[:end]
    out[end : end + 4] = short
    out[p.inv_end + 1] = out[p.inv_end + 1] + 4
    return out
