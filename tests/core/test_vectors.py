"""Wire-format and hash vectors, checked on both runtimes.

tests/vectors/packets.json holds frames with the fields `bitmesh packet decode`
prints; this re-derives those fields with the core alone (no host code), so the
MicroPython VM checks the same bytes the laptop does.
"""

import json

from bitmesh_core import names as N
from bitmesh_core import packet as P
from bitmesh_core.auth import FrameAuth
from bitmesh_core.hashing import hash64_into, hash64_into_py

_DIR = __file__.rsplit("/", 2)[0] + "/vectors/"
KEY = bytes(range(32))


def _load(name: str) -> list:
    with open(_DIR + name) as f:
        return json.load(f)


def _fields(frame: bytes) -> dict:
    p = P.decode(frame)
    tlvs = []
    for t, v in p.tlvs():
        if t != P.TLV_ROUTE_RECORD:
            tlvs.append({"type": N.TLV_NAMES.get(t, t), "value": v.hex()})
    route = p.route()
    rr = None
    if p.flags & P.F_ROUTE_REC and p.inv_end != p.tlv_end:
        rr = [route[i : i + 4].hex() for i in range(0, len(route), 4)]
    return {
        "version": frame[0], "type": N.TYPE_NAMES.get(p.ptype, p.ptype), "ttl": p.ttl,
        "ttl0": p.ttl0, "hops": p.hops,
        "flags": [name for bit, name in N.FLAG_NAMES if p.flags & bit],
        "seq": p.seq, "src": p.src.hex(), "dst": p.dst.hex() if p.dst is not None else None,
        "tlvs": tlvs, "route_record": rr, "tag": frame[-8:].hex(),
        "packet_id": P.packet_id(p).hex(),
    }


def test_at_least_twelve_vectors_cover_every_type_and_flag() -> None:
    vs = _load("packets.json")
    assert len(vs) >= 12
    types = set()
    flags = set()
    for v in vs:
        types.add(v["fields"]["type"])
        for f in v["fields"]["flags"]:
            flags.add(f)
    for name in N.TYPE_NAMES.values():
        assert name in types, name
    for _, name in N.FLAG_NAMES:
        assert name in flags, name


def test_frame_vectors_decode_to_their_fields_and_verify() -> None:
    auth = FrameAuth(KEY)
    for v in _load("packets.json"):
        frame = bytes.fromhex(v["hex"])
        assert _fields(frame) == v["fields"], v["name"]
        assert auth.verify(frame), v["name"]


def test_frame_vectors_rebuild_bit_exact() -> None:
    auth = FrameAuth(KEY)
    for v in _load("packets.json"):
        f = v["fields"]
        body = b""
        for t in f["tlvs"]:
            code = t["type"]
            if isinstance(code, str):
                for k in N.TLV_NAMES:
                    if N.TLV_NAMES[k] == code:
                        code = k
            body += P.tlv(code, bytes.fromhex(t["value"]))
        flags = 0
        for bit, name in N.FLAG_NAMES:
            if name in f["flags"]:
                flags |= bit
        ptype = f["type"]
        if isinstance(ptype, str):
            for k in N.TYPE_NAMES:
                if N.TYPE_NAMES[k] == ptype:
                    ptype = k
        rr = f["route_record"]
        route = None if rr is None else b"".join(bytes.fromhex(x) for x in rr)
        dst = None if f["dst"] is None else bytes.fromhex(f["dst"])
        out = P.build(ptype, bytes.fromhex(f["src"]), f["seq"], f["ttl"], body, dst, flags,
                      route, ttl0=f["ttl0"])
        auth.sign(out)
        assert bytes(out).hex() == v["hex"], v["name"]


def test_tag_excludes_ttl_and_packet_id_is_invariant_per_hop() -> None:
    auth = FrameAuth(KEY)
    vs = {}
    for v in _load("packets.json"):
        vs[v["name"]] = v
    a = vs["broadcast"]
    b = vs["broadcast relayed twice"]
    assert a["fields"]["packet_id"] == b["fields"]["packet_id"]
    assert a["fields"]["tag"] == b["fields"]["tag"]
    frame = bytearray(bytes.fromhex(a["hex"]))
    frame[-9] ^= 1  # flip a tagged bit: the tag no longer verifies
    assert not auth.verify(frame)


def test_malformed_vectors_are_rejected_with_their_reason() -> None:
    for v in _load("malformed.json"):
        try:
            P.decode(bytes.fromhex(v["hex"]))
        except P.DecodeError as e:
            assert e.reason == v["error"], v["name"]
        else:
            raise AssertionError("accepted " + v["name"])


def test_hash_vectors_match_on_this_runtime() -> None:
    for v in _load("hash64.json"):
        n = v["len"]
        data = bytes((i * 7 + 3) & 0xFF for i in range(n))
        a = bytearray(8)
        b = bytearray(8)
        hash64_into_py(data, n, a)
        hash64_into(data, n, b)  # viper on MicroPython, the same function on CPython
        assert a.hex() == v["hash"], n
        assert b.hex() == v["hash"], n


def test_hash_of_memoryview_slice_matches_bytes() -> None:
    data = bytes(range(100))
    a = bytearray(8)
    b = bytearray(8)
    hash64_into(memoryview(data)[3:], 50, a)
    hash64_into_py(data[3:53], 50, b)
    assert a == b
