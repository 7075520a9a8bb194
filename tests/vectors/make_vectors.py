"""Regenerate tests/vectors/packets.json (run from the repo root with the venv).

packets.json is a list of {"name", "hex", "fields"}; every frame is signed
with the vector key (bytes 0x00..0x1f); ``fields`` is
exactly what `bitmesh packet decode HEX` prints. The hash vectors pin the
dedup hash so the viper and pure-Python versions can be checked on both VMs.
"""

from __future__ import annotations

import json
from pathlib import Path

from bitmesh.packetjson import VECTOR_KEY, to_fields
from bitmesh_core import packet as P
from bitmesh_core.auth import FrameAuth
from bitmesh_core.hashing import hash64_into_py

A = bytes.fromhex("a1a2a3a4a5a6a7a8")
B = bytes.fromhex("b1b2b3b4b5b6b7b8")
SEQ = (3 << 20) | 17


def frame(ptype: int, body: bytes, ttl: int = 7, ttl0: int = 7, dst: bytes | None = None,
          flags: int = 0, route: bytes | None = None, version: int = 1, seq: int = SEQ) -> str:
    f = P.build(ptype, A, seq, ttl, body, dst, flags, route, ttl0=ttl0)
    f[0] = version
    FrameAuth(VECTOR_KEY).sign(f)
    return bytes(f).hex()


def cases() -> list[tuple[str, str]]:
    t = P.tlv
    return [
        ("heartbeat", frame(P.T_HEARTBEAT, t(P.TLV_ROLE, b"\x00") + t(P.TLV_BEACON, b"\x00\x32\x00\x05")
                            + t(P.TLV_NAME, b"table-1"), ttl=1, ttl0=1)),
        ("broadcast", frame(P.T_BROADCAST, t(P.TLV_PAYLOAD, b"hello mesh"))),
        ("broadcast relayed twice", frame(P.T_BROADCAST, t(P.TLV_PAYLOAD, b"hello mesh"), ttl=5)),
        ("broadcast with app port", frame(P.T_BROADCAST, t(P.TLV_APP, b"\x07") + t(P.TLV_PAYLOAD, b"x"))),
        ("unicast with ack request", frame(P.T_UNICAST, t(P.TLV_PAYLOAD, b"to b"), dst=B, flags=P.F_ACK_REQ)),
        ("unicast with route record", frame(P.T_UNICAST, t(P.TLV_PAYLOAD, b"via relays"), ttl=5, dst=B,
                                            route=bytes.fromhex("c1c2c3c4d1d2d3d4"))),
        ("unicast source-routed", frame(P.T_UNICAST, t(P.TLV_SOURCE_ROUTE, bytes.fromhex("c1c2c3c4"))
                                        + t(P.TLV_PAYLOAD, b"sr"), dst=B, flags=P.F_SRC_ROUTE,
                                        route=b"")),
        ("ack", frame(P.T_ACK, t(P.TLV_ACKED, bytes(range(8))) + t(P.TLV_HOPS, b"\x03"), dst=B)),
        ("route control", frame(P.T_ROUTE, t(P.TLV_ROUTE_OP, b"\x01" + B), dst=B)),
        ("fragment", frame(P.T_FRAGMENT, t(P.TLV_FRAG, b"\x00\x09\x01\x03\x03")
                           + t(P.TLV_PAYLOAD, b"part-two"), dst=B)),
        ("dht", frame(P.T_DHT, t(0x20, b"\x01" + bytes(8)), dst=B)),
        ("game urgent", frame(P.T_GAME, t(0x30, b"\x01commit"), flags=P.F_URGENT)),
        ("consensus", frame(P.T_CONSENSUS, t(0x40, bytes(32)), flags=P.F_URGENT)),
        ("relay receipt", frame(P.T_RECEIPT, t(0x50, bytes(8)), dst=B, route=bytes.fromhex("c1c2c3c4"))),
        ("bridged broadcast", frame(P.T_BROADCAST, t(P.TLV_PAYLOAD, b"from site b"), ttl=2, ttl0=2,
                                    flags=P.F_BRIDGED)),
        ("unknown type is still a frame", frame(0x42, t(0x99, b"future"))),
        ("neighbours in heartbeat", frame(P.T_HEARTBEAT, t(P.TLV_NEIGHBORS, bytes.fromhex("c1c2c3c4d1d2d3d4")),
                                          ttl=1, ttl0=1)),
        ("max ttl 32", frame(P.T_BROADCAST, t(P.TLV_PAYLOAD, b"far"), ttl=32, ttl0=32)),
        ("probe in heartbeat", frame(P.T_HEARTBEAT, t(P.TLV_ROLE, b"\x00") + t(P.TLV_BEACON, b"\x00\x32\x00\x06")
                                     + t(P.TLV_PROBE, bytes.fromhex("d1d2d3d4")), ttl=1, ttl0=1)),
    ]


def main() -> None:
    out = [{"name": name, "hex": h, "fields": to_fields(bytes.fromhex(h))} for name, h in cases()]
    bad = [
        {"name": "unknown version", "hex": frame(P.T_BROADCAST, b"", version=2), "error": "version"},
        {"name": "truncated", "hex": frame(P.T_BROADCAST, b"")[:40], "error": "short"},
        {"name": "ttl above ttl0", "hex": frame(P.T_BROADCAST, b"", ttl=9, ttl0=7), "error": "bad_ttl"},
    ]
    hashes = []
    for n in (0, 1, 3, 4, 7, 8, 13, 64, 200):
        data = bytes((i * 7 + 3) & 0xFF for i in range(n))
        o = bytearray(8)
        hash64_into_py(data, n, o)
        hashes.append({"len": n, "input_rule": "(i*7+3)&255", "hash": o.hex()})
    here = Path(__file__).parent
    (here / "packets.json").write_text(json.dumps(out, indent=1) + "\n")
    (here / "malformed.json").write_text(json.dumps(bad, indent=1) + "\n")
    (here / "hash64.json").write_text(json.dumps(hashes, indent=1) + "\n")
    print(f"wrote {len(out)} frame vectors, {len(bad)} malformed, {len(hashes)} hash vectors to {here}")


if __name__ == "__main__":
    main()
