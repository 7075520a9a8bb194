"""The fixed-memory tables the router keeps ids in, on both runtimes."""

from bitmesh_core.keytable import IdRing, KeyTable
from bitmesh_core.peers import PeerTable
from bitmesh_core.routes import RouteTable


def _id(i: int) -> bytes:
    return bytes((0xC0, i, 0, 0, 0, 0, 0, 1))


def test_key_table_maps_ids_to_slots_and_reuses_freed_ones() -> None:
    t = KeyTable(4, 8)
    for i in range(4):
        t[_id(i)] = t.free_slot()
    assert len(t) == 4 and t.free_slot() == -1
    assert sorted(t.values()) == [0, 1, 2, 3]
    s = t.pop(_id(2))
    assert _id(2) not in t and t.get(_id(2)) == -1
    assert t.free_slot() == s
    t[_id(9)] = s
    assert t[_id(9)] == s and t.key_at(s) == _id(9)
    assert t.get(b"short") == -1  # a key of another length is never found
    t.clear()
    assert len(t) == 0 and not t


def test_id_ring_keeps_the_last_ids_only() -> None:
    r = IdRing(3, 8)
    for i in range(5):
        r.add(_id(i))
    assert len(r) == 3
    assert _id(0) not in r and _id(1) not in r
    assert _id(2) in r and _id(4) in r
    assert b"x" not in r
    r.clear()
    assert _id(4) not in r and len(r) == 0


def test_route_table_evicts_the_destination_heard_least_lately() -> None:
    rt = RouteTable(3, 2, 300000)
    for i in range(3):
        assert rt.learn(_id(i), bytes((1, 2, 3, i)), True, 1000 * i)
    rt.learn(_id(0), bytes((1, 2, 3, 0)), True, 5000)  # confirmed: now the freshest
    assert rt.learn(_id(7), b"", True, 6000)  # full: _id(1) goes
    assert len(rt) == 3
    assert not rt.has(_id(1), 6000)
    assert rt.best(_id(0), 6000) == bytes((1, 2, 3, 0))
    assert rt.best(_id(7), 6000) == b""
    assert not rt.learn(b"not-an-id", b"", True, 6000)  # ignored, not raised
    assert rt.remove_via(bytes((1, 2, 3, 2)), _id(9)) == [_id(2)]
    assert len(rt) == 2


def _one_peer() -> "tuple[PeerTable, int]":
    t = PeerTable(4, 10, 20)
    return t, t.add(_id(1), b"\x02\x00\x00\x00\x00\x01", 0, 0)


def _loss_readings(every: int, beats: int) -> "list[int]":
    """The loss estimate after each heartbeat heard, when one heartbeat in
    ``every`` is missed (0: none)."""
    t, s = _one_peer()
    out = []
    for c in range(1, beats + 1):
        if every and c % every == 0:
            continue
        t.beacon_counter(s, c)
        out.append(t.loss[s])
    return out


def test_heartbeat_loss_estimate_reads_the_share_of_heartbeats_missed() -> None:
    for every, pct in ((10, 10), (5, 20), (2, 50)):
        r = _loss_readings(every, 400)[-100:]
        mean = sum(r) / len(r)
        assert pct - 3 <= mean <= pct + 3, (pct, mean)
    assert _loss_readings(0, 100) == [0] * 100
    # After a bad spell the estimate comes all the way back to 0.
    t, s = _one_peer()
    for c in range(1, 41, 2):
        t.beacon_counter(s, c)
    assert t.loss[s] >= 40
    for c in range(41, 120):
        t.beacon_counter(s, c)
    assert t.loss[s] == 0
