"""The dedup cache's two bounds (count and age) and tick wraparound, on both runtimes."""

from bitmesh_core.clock import MASK, add
from bitmesh_core.dedup import DedupCache


def _key(i: int) -> bytes:
    return bytes((i >> 8, i & 0xFF, 1, 2, 3, i & 7, i >> 4 & 0xFF, i & 0xFF))


def test_a_frame_stays_a_duplicate_for_the_age_bound_then_is_new_again() -> None:
    d = DedupCache(16, 5000)
    t0 = 123456
    assert not d.seen(_key(1), t0)
    assert d.seen(_key(1), add(t0, 5000))  # never forgotten early
    assert d.contains(_key(1), add(t0, 5000))
    # forgotten within about 2 s after the bound (stored times are 1.024 s units)
    assert not d.contains(_key(1), add(t0, 5000 + 2100))
    assert d.expire(add(t0, 5000 + 2100)) == 1
    assert len(d) == 0
    assert not d.seen(_key(1), add(t0, 5000 + 2100))


def test_the_oldest_entry_leaves_when_the_ring_is_full() -> None:
    d = DedupCache(8, 60000)
    for i in range(8):
        assert not d.seen(_key(i), 1000 + i)
    assert not d.seen(_key(8), 2000)  # evicts key 0
    assert len(d) == 8
    assert not d.contains(_key(0), 2000)
    for i in range(1, 9):
        assert d.contains(_key(i), 2000)


def test_age_holds_across_the_tick_counter_wrapping() -> None:
    d = DedupCache(8, 3000)
    t0 = MASK - 500  # just before the millisecond counter wraps
    assert not d.seen(_key(3), t0)
    assert d.seen(_key(3), add(t0, 1000))  # now past the wrap
    assert not d.contains(_key(3), add(t0, 3000 + 2100))
    assert d.expire(add(t0, 3000 + 2100)) == 1
