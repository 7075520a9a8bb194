"""Bridge codec rules that need no broker: envelopes and the bridged copy."""

from __future__ import annotations

import pytest

from bitmesh.gateway.bridge import (
    EnvelopeError,
    bridged_copy,
    decode_envelope,
    encode_envelope,
    frame_topic,
    parse_broker,
)
from bitmesh_core.auth import FrameAuth
from bitmesh_core.packet import F_BRIDGED, T_BROADCAST, TLV_PAYLOAD, build, decode, packet_id, tlv

KEY = bytes(range(32))
SRC = bytes(range(8))


def signed(ttl: int = 7) -> bytes:
    f = build(T_BROADCAST, SRC, 42, ttl, tlv(TLV_PAYLOAD, b"hi"))
    FrameAuth(KEY).sign(f)
    return bytes(f)


def test_envelope_round_trip_and_rejects() -> None:
    f = signed()
    assert decode_envelope(encode_envelope("site-a", SRC, f)) == ("site-a", SRC.hex(), f)
    for bad, reason in ((b"{", "not_json"), (b"[]", "version"), (b'{"v":1}', "fields"),
                        (b'{"v":1,"mesh":"a","gw":"","frame":"!"}', "base64"),
                        (b"x" * 3000, "oversize"), ("text", "not_bytes")):
        with pytest.raises(EnvelopeError) as e:
            decode_envelope(bad)
        assert e.value.reason == reason
    assert frame_topic("a", T_BROADCAST) == "bitmesh/a/frame/broadcast"
    assert parse_broker("mqtt://u:p@h:1884") == ("h", 1884, "u", "p")
    assert parse_broker("broker")[1] == 1883


def test_bridged_copy_is_flagged_budgeted_signed_and_deterministic() -> None:
    auth = FrameAuth(KEY)
    a = bridged_copy(signed(7), auth.sign, 3)
    relayed = bytearray(signed(7))
    relayed[2] = 4  # the same frame heard after three hops elsewhere
    b = bridged_copy(bytes(relayed), auth.sign, 3)
    assert a == b and auth.verify(a)
    p = decode(a)
    assert p.flags & F_BRIDGED and p.ttl == 3 and p.ttl0 == 7
    # One identity for every gateway's copy, different from the unbridged frame.
    assert packet_id(decode(a)) == packet_id(decode(b)) != packet_id(decode(signed()))
    assert decode(bridged_copy(signed(2), auth.sign, 3)).ttl == 1  # the bridge is a hop
