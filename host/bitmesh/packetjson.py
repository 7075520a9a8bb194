"""Frames <-> JSON fields, the form `bitmesh packet decode` prints.

The ``fields`` of tests/vectors/packets.json are exactly :func:`to_fields` of
the frame, and :func:`from_fields` rebuilds the identical bytes, so vectors
check the codec both ways on both runtimes.
"""

from __future__ import annotations

from typing import Any

import bitmesh_core.names as N
import bitmesh_core.packet as P
from bitmesh_core.auth import FrameAuth

NAME_TO_TYPE = {v: k for k, v in N.TYPE_NAMES.items()}
NAME_TO_TLV = {v: k for k, v in N.TLV_NAMES.items()}
NAME_TO_FLAG = {name: bit for bit, name in N.FLAG_NAMES}

# The key the test vectors are signed with: bytes 0x00..0x1f.
VECTOR_KEY = bytes(range(32))


class FieldsError(ValueError):
    """The JSON does not describe a frame; the message says which field."""


def to_fields(frame: bytes) -> dict[str, Any]:
    """Decode ``frame`` into JSON-ready fields. Raises bitmesh_core DecodeError."""
    p = P.decode(frame)
    tlvs = []
    for t, v in p.tlvs():
        if t == P.TLV_ROUTE_RECORD:
            continue
        tlvs.append({"type": N.TLV_NAMES.get(t, t), "value": v.hex()})
    route = p.route()
    flags = [name for bit, name in N.FLAG_NAMES if p.flags & bit]
    unknown = p.flags & ~sum(bit for bit, _ in N.FLAG_NAMES)
    if unknown:
        flags.append(f"0x{unknown:02x}")
    return {
        "version": frame[0],
        "type": N.TYPE_NAMES.get(p.ptype, p.ptype),
        "ttl": p.ttl,
        "ttl0": p.ttl0,
        "hops": p.hops,
        "flags": flags,
        "seq": p.seq,
        "src": p.src.hex(),
        "dst": p.dst.hex() if p.dst is not None else None,
        "tlvs": tlvs,
        "route_record": [route[i : i + 4].hex() for i in range(0, len(route), 4)]
        if p.flags & P.F_ROUTE_REC and p.inv_end != p.tlv_end
        else None,
        "tag": bytes(frame[-P.TAG_LEN :]).hex(),
        "packet_id": P.packet_id(p).hex(),
    }


def _hex(d: dict[str, Any], key: str, n: int | None = None) -> bytes:
    v = d.get(key)
    if not isinstance(v, str):
        raise FieldsError(f"{key}: expected a hex string")
    try:
        b = bytes.fromhex(v)
    except ValueError:
        raise FieldsError(f"{key}: not valid hex") from None
    if n is not None and len(b) != n:
        raise FieldsError(f"{key}: expected {n} bytes, got {len(b)}")
    return b


def _int(d: dict[str, Any], key: str, lo: int, hi: int, default: int | None = None) -> int:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise FieldsError(f"{key}: expected an integer in {lo}..{hi}")
    return v


def from_fields(d: Any, key: bytes | None = None) -> bytes:
    """Encode fields into a frame. With ``key`` the tag is computed; without
    it the ``tag`` field is used verbatim. Raises FieldsError."""
    if not isinstance(d, dict):
        raise FieldsError("expected a JSON object")
    t = d.get("type")
    if isinstance(t, str):
        if t not in NAME_TO_TYPE:
            raise FieldsError(f"type: unknown name {t!r}")
        ptype = NAME_TO_TYPE[t]
    else:
        ptype = _int(d, "type", 0, 255)
    ttl0 = _int(d, "ttl0", 1, P.MAX_TTL)
    ttl = _int(d, "ttl", 0, ttl0)
    seq = _int(d, "seq", 0, 0xFFFFFFFF)
    flags = 0
    names = d.get("flags", [])
    if not isinstance(names, list):
        raise FieldsError("flags: expected a list of flag names")
    for name in names:
        if isinstance(name, str) and name in NAME_TO_FLAG:
            flags |= NAME_TO_FLAG[name]
        elif isinstance(name, str) and name.startswith("0x"):
            flags |= int(name, 16)
        else:
            raise FieldsError(f"flags: unknown flag {name!r}")
    src = _hex(d, "src", 8)
    dst = _hex(d, "dst", 8) if d.get("dst") is not None else None
    body = b""
    tl = d.get("tlvs", [])
    if not isinstance(tl, list):
        raise FieldsError("tlvs: expected a list")
    for i, item in enumerate(tl):
        if not isinstance(item, dict):
            raise FieldsError(f"tlvs[{i}]: expected an object")
        tt = item.get("type")
        if isinstance(tt, str):
            if tt not in NAME_TO_TLV:
                raise FieldsError(f"tlvs[{i}].type: unknown name {tt!r}")
            code = NAME_TO_TLV[tt]
        elif isinstance(tt, int) and not isinstance(tt, bool) and 0 <= tt <= 255:
            code = tt
        else:
            raise FieldsError(f"tlvs[{i}].type: expected a TLV name or 0..255")
        value = _hex(item, "value")
        if len(value) > 255:
            raise FieldsError(f"tlvs[{i}].value: longer than 255 bytes")
        body += P.tlv(code, value)
    route = None
    rr = d.get("route_record")
    if rr is not None:
        if not isinstance(rr, list):
            raise FieldsError("route_record: expected a list of 4-byte hex short ids")
        route = b"".join(_hex({"id": x}, "id", 4) for x in rr)
    elif flags & P.F_ROUTE_REC:
        route = None
    try:
        frame = P.build(ptype, src, seq, ttl, body, dst, flags, route, ttl0=ttl0)
    except ValueError as exc:
        raise FieldsError(str(exc)) from None
    frame[0] = _int(d, "version", 0, 255, P.VERSION)
    if key is not None:
        FrameAuth(key).sign(frame)
    else:
        frame[-P.TAG_LEN :] = _hex(d, "tag", P.TAG_LEN)
    return bytes(frame)
