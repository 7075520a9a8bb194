"""The fixed-memory tables the router keeps ids in, on both runtimes."""

from bitmesh_core.keytable import IdRing, KeyTable
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
