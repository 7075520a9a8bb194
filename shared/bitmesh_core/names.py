"""Human-readable names of frame types, flags and TLVs.

Kept out of packet.py so a board does not load these tables unless it prints
frames: every object costs heap on a 110 KB board.
"""

from .packet import (
    F_ACK_REQ,
    F_BRIDGED,
    F_DST,
    F_ROUTE_REC,
    F_SRC_ROUTE,
    F_URGENT,
    T_ACK,
    T_BROADCAST,
    T_CONSENSUS,
    T_DHT,
    T_FRAGMENT,
    T_GAME,
    T_HEARTBEAT,
    T_RECEIPT,
    T_ROUTE,
    T_UNICAST,
    TLV_ACKED,
    TLV_APP,
    TLV_BEACON,
    TLV_BLIND,
    TLV_FRAG,
    TLV_HOPS,
    TLV_MSGID,
    TLV_NAME,
    TLV_NEIGHBORS,
    TLV_PATH,
    TLV_PAYLOAD,
    TLV_PROBE,
    TLV_ROLE,
    TLV_ROUTE_OP,
    TLV_ROUTE_RECORD,
    TLV_SEEN,
    TLV_SOURCE_ROUTE,
)

TYPE_NAMES = {
    T_HEARTBEAT: "heartbeat",
    T_BROADCAST: "broadcast",
    T_UNICAST: "unicast",
    T_ACK: "ack",
    T_ROUTE: "route",
    T_FRAGMENT: "fragment",
    T_DHT: "dht",
    T_GAME: "game",
    T_CONSENSUS: "consensus",
    T_RECEIPT: "receipt",
}

FLAG_NAMES = (
    (F_DST, "dst"),
    (F_ACK_REQ, "ack_req"),
    (F_ROUTE_REC, "route_rec"),
    (F_SRC_ROUTE, "src_route"),
    (F_BRIDGED, "bridged"),
    (F_URGENT, "urgent"),
)

TLV_NAMES = {
    TLV_PAYLOAD: "payload",
    TLV_APP: "app",
    TLV_ROLE: "role",
    TLV_BEACON: "beacon",
    TLV_NAME: "name",
    TLV_ACKED: "acked",
    TLV_FRAG: "frag",
    TLV_HOPS: "hops",
    TLV_ROUTE_OP: "route_op",
    TLV_NEIGHBORS: "neighbors",
    TLV_MSGID: "msg_id",
    TLV_PATH: "path",
    TLV_BLIND: "blind",
    TLV_SEEN: "seen",
    TLV_PROBE: "probe",
    TLV_SOURCE_ROUTE: "source_route",
    TLV_ROUTE_RECORD: "route_record",
}
