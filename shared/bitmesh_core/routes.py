"""The routing table: several scored source paths per destination, bounded.

A *path* is the concatenated 4-byte short ids of the relays between this node
and the destination, in order (``b""`` for a direct neighbour). Each
destination keeps up to ``route_paths`` paths, each with:

- ``rel``: reliability 0..100, an EWMA moved by evidence (hop/link acks,
  end-to-end acks, route errors), starting at 60 (verified) or 40 (guessed);
- ``t``: when the path was last learned or confirmed (freshness);
- ``ver``: 1 when the path was proven in the forward direction (a route reply
  carried the record of a frame that travelled it), 0 when it is a guess (the
  reverse of a record, only valid on symmetric links).

Score = rel + 10 * ver - 30 * hops - freshness penalty (hops weigh most:
each hop costs airtime on every message). Paths older than
``route_stale_ms`` are dropped. Storage is fixed arrays indexed by
``slot * K + k``; the destinations are a fixed ``KeyTable`` of 8-byte ids.
Only the paths themselves are objects.
"""

from array import array

from .clock import diff
from .compat import const
from .keytable import KeyTable
from .packet import has_short

_REL_VERIFIED = const(60)
_REL_GUESS = const(50)
_REL_DROP = const(15)  # a path whose reliability falls below this is forgotten


class RouteTable:
    __slots__ = ("cap", "k", "stale", "by_id", "paths", "rel", "t", "ver")

    def __init__(self, capacity: int, paths: int, stale_ms: int) -> None:
        self.cap = capacity
        self.k = paths
        self.stale = stale_ms
        self.by_id = KeyTable(capacity, 8)  # destination id -> slot
        self.paths = [None] * (capacity * paths)  # type: list[bytes | None]
        self.rel = bytearray(capacity * paths)
        self.t = array("i", bytes(4 * capacity * paths))
        self.ver = bytearray(capacity * paths)

    def __len__(self) -> int:
        return len(self.by_id)

    def _slot(self, dst: bytes, now: int) -> int:
        s = self.by_id.get(dst, -1)
        if s >= 0:
            return s
        by_id = self.by_id
        if len(by_id) >= self.cap:
            self.forget(by_id.key_at(self._victim(now)))
        s = by_id.free_slot()
        by_id[dst] = s
        return s

    def _victim(self, now: int) -> int:
        """The destination whose freshest path is oldest."""
        best = 0
        best_age = -1
        k = self.k
        for s in self.by_id.values():
            age = 0x7FFFFFFF
            for j in range(s * k, s * k + k):
                if self.paths[j] is not None:
                    a = diff(now, self.t[j])
                    if a < age:
                        age = a
            if age > best_age:
                best = s
                best_age = age
        return best

    def forget(self, dst: bytes) -> None:
        s = self.by_id.pop(dst, -1)
        if s < 0:
            return
        for j in range(s * self.k, s * self.k + self.k):
            self.paths[j] = None

    def learn(self, dst: bytes, path: bytes, verified: bool, now: int) -> bool:
        """Record ``path`` to ``dst`` (an 8-byte node id; any other length is
        ignored). Returns True when ``dst`` had no path."""
        if len(dst) != 8:
            return False
        s = self._slot(dst, now)
        k = self.k
        empty = -1
        worst = -1
        worst_score = 1 << 20
        had = False
        for j in range(s * k, s * k + k):
            pj = self.paths[j]
            if pj is None:
                if empty < 0:
                    empty = j
                continue
            had = True
            if pj == path:
                self.t[j] = now
                if verified and not self.ver[j]:
                    self.ver[j] = 1
                    if self.rel[j] < _REL_VERIFIED:
                        self.rel[j] = _REL_VERIFIED
                return False
            sc = self._score(j, now)
            if sc < worst_score:
                worst = j
                worst_score = sc
        j = empty
        if j < 0:
            # Replace the worst path only when the newcomer would outscore it.
            new_score = (_REL_VERIFIED + 10 if verified else _REL_GUESS) - 30 * (len(path) >> 2)
            if new_score <= worst_score:
                return False
            j = worst
        self.paths[j] = path
        self.t[j] = now
        self.ver[j] = 1 if verified else 0
        self.rel[j] = _REL_VERIFIED if verified else _REL_GUESS
        return not had

    def _score(self, j: int, now: int) -> int:
        age = diff(now, self.t[j])
        p = self.paths[j]
        hops = len(p) >> 2 if p is not None else 16
        return self.rel[j] + 10 * self.ver[j] - 30 * hops - age * 20 // self.stale

    def best(self, dst: bytes, now: int, avoid: "object" = None) -> "bytes | None":
        """The best fresh path to ``dst`` or None. ``avoid(short) -> penalty``
        lets the caller weigh first hops by reputation."""
        s = self.by_id.get(dst, -1)
        if s < 0:
            return None
        k = self.k
        best = None  # type: bytes | None
        best_sc = -(1 << 20)
        alive = False
        for j in range(s * k, s * k + k):
            pj = self.paths[j]
            if pj is None:
                continue
            if diff(now, self.t[j]) > self.stale:
                self.paths[j] = None
                continue
            alive = True
            sc = self._score(j, now)
            if avoid is not None:
                sc -= avoid(pj[:4] if pj else dst[:4])  # type: ignore[operator]
            if sc > best_sc:
                best = pj
                best_sc = sc
        if not alive:
            self.forget(dst)
        return best

    def best_routes(self, now: int) -> "list[dict[str, object]]":
        """Each destination's best fresh path, for status output (allocates;
        not for the hot path): dst, next_hop (short id), hops, reliability,
        verified, age_ms and how many paths are kept."""
        out = []  # type: list[dict[str, object]]
        k = self.k
        for dst in list(self.by_id):
            p = self.best(dst, now)
            if p is None:
                continue
            j = self._find(dst, p)
            kept = 0
            s = self.by_id.get(dst, -1)
            for i in range(s * k, s * k + k):
                if self.paths[i] is not None:
                    kept += 1
            out.append({"dst": dst.hex(), "next_hop": (p[:4] if p else dst[:4]).hex(),
                        "hops": (len(p) >> 2) + 1, "reliability": self.rel[j],
                        "verified": bool(self.ver[j]), "age_ms": diff(now, self.t[j]),
                        "paths": kept})
        return out

    def has(self, dst: bytes, now: int) -> bool:
        return self.best(dst, now) is not None

    def _find(self, dst: bytes, path: bytes) -> int:
        s = self.by_id.get(dst, -1)
        if s < 0:
            return -1
        for j in range(s * self.k, s * self.k + self.k):
            if self.paths[j] == path:
                return j
        return -1

    def success(self, dst: bytes, path: bytes, now: int) -> None:
        """Evidence the path delivered: reliability up, freshness renewed."""
        j = self._find(dst, path)
        if j >= 0:
            self.rel[j] = min(100, self.rel[j] + (100 - self.rel[j]) // 4 + 1)
            self.t[j] = now

    def fail(self, dst: bytes, path: bytes) -> None:
        """Evidence the path failed; a path that keeps failing is forgotten."""
        j = self._find(dst, path)
        if j < 0:
            return
        r = self.rel[j] // 2
        if r < _REL_DROP:
            self.paths[j] = None
            s = j // self.k
            for i in range(s * self.k, s * self.k + self.k):
                if self.paths[i] is not None:
                    return
            self.forget(self.by_id.key_at(s))
        else:
            self.rel[j] = r

    def disjoint(self, dst: bytes, path: bytes) -> bool:
        """True when ``dst`` has paths and none of them names a relay of ``path``."""
        s = self.by_id.get(dst, -1)
        if s < 0:
            return False
        for j in range(s * self.k, s * self.k + self.k):
            pj = self.paths[j]
            if pj is None:
                continue
            for i in range(0, len(path), 4):
                if has_short(pj, path[i:i + 4]):
                    return False
        return True

    def remove_via(self, short: bytes, node_id: bytes) -> "list[bytes]":
        """Drop every path through relay ``short`` (and the routes to
        ``node_id`` itself). Returns destinations left without any path."""
        out = []
        for dst in list(self.by_id):
            if dst == node_id:
                self.forget(dst)
                out.append(dst)
                continue
            s = self.by_id[dst]
            left = 0
            for j in range(s * self.k, s * self.k + self.k):
                pj = self.paths[j]
                if pj is None:
                    continue
                if has_short(pj, short):
                    self.paths[j] = None
                else:
                    left += 1
            if not left:
                self.forget(dst)
                out.append(dst)
        return out


def fits_routed(body_len: int, path: bytes) -> bool:
    """A source-routed frame with a body of ``body_len`` bytes along ``path``
    fits one 250-byte frame: header 17, dst 8, tag 8, the source route and
    the record it grows."""
    return 33 + body_len + 4 + 2 * len(path) <= 250


def reverse_path(rec: bytes) -> bytes:
    """The relays of a route record in the opposite order."""
    out = bytearray(len(rec))
    n = len(rec)
    for i in range(0, n, 4):
        out[n - i - 4:n - i] = rec[i:i + 4]
    return bytes(out)
