"""Relay suppression for floods: two-hop coverage with delay-and-cancel.

Every heartbeat carries the short ids of the neighbours its sender hears
(TLV_NEIGHBORS), so each node knows, per neighbour, which of *its own*
neighbours that neighbour reaches (a bitmask over peer-table slots). When a
flood frame arrives first from neighbour ``u``:

- ``has`` = {u}: nodes known to hold the frame (every node heard sending it);
- ``once``/``twice`` = neighbours covered by one / two heard transmissions;
- the *targets* are my neighbours that hear me (they list me, or have not
  told us yet).

If every target already holds the frame or is covered ``bcast_cover`` times,
the node does not relay (self-pruning). Otherwise it schedules the relay
after a delay that is shorter the more targets it alone would cover (so the
relays picked approximate the greedy connected dominating set), and each
further copy it hears updates the coverage and may cancel the relay before it
leaves the queue. For a broadcast, a copy that leaves fewer targets to us
also moves our relay later, to the delay the smaller count gives from when
the frame first came: the order stays greedy as coverage grows. Asking for
two-fold coverage keeps delivery above 99% at 10% loss per link; the count
is configurable. A broadcast heard from three peers is not relayed unless a
target still short of copies is a bridge (no other target lists it): on
lossy links the relays that reached the rest are the ones we did not hear.

Memory: one bitmask per peer slot, kept as ``peer_slots / 8`` bytes in one
fixed ``bytearray`` (a 128-bit int would cost three times that in objects,
and the table is full on a crowded node), two status bytes per slot, and at
most ``pending_relays`` scheduled relays.
"""

from .clock import add, diff
from .compat import const

_SYM_UNKNOWN = const(2)  # the neighbour has not listed its neighbours yet
SYM_NO = 0  # it listed them, and this node is not among them: it cannot hear us
_SYM_YES = const(1)
_WELL_CONNECTED = const(5)  # neighbours of its own: one copy is enough on a link under _LOSSY
_FAIRLY_CONNECTED = const(3)  # ... and on a link under _FAIR_LOSS
_LOSSLESS = const(1)  # heartbeat loss (percent, peers.loss) below which one copy suffices
_FAIR_LOSS = const(28)
_LOSSY = const(40)  # a link losing more heartbeats than this always wants two copies
# Copies heard from peers that cancel a relay when every slot is in use, and a
# broadcast's relay when no target still short of copies is a bridge.
_CROWDED_COPIES = const(3)


def popcount(x: int) -> int:
    n = 0
    while x:
        x &= x - 1
        n += 1
    return n


def relay_delay(window_ms: int, fresh: int, jit: int) -> int:
    """The delay of a relay with ``fresh`` targets only this node would reach:
    the more, the sooner (the greedy order)."""
    return window_ms * 3 // (1 + fresh) + jit


class Pending:
    """A relay scheduled for ``due``. ``t0``: when the frame first came;
    ``jit``: its jitter, or -1 when its due time never moves (a unicast's
    discovery flood, which copies heard never cancel by their count)."""

    __slots__ = ("pid", "due", "t0", "jit", "once", "twice", "has")

    def __init__(self, pid: bytes, now: int, jit: int, once: int, twice: int, has: int) -> None:
        self.pid = pid
        self.due = now
        self.t0 = now
        self.jit = jit
        self.once = once
        self.twice = twice
        self.has = has


class Coverage:
    __slots__ = ("nb", "w", "sym", "deg", "well", "crowded", "oneway", "pending", "cap", "cover",
                 "suppressed", "relayed", "rb_for", "rb")

    def __init__(self, peer_slots: int, pending_max: int, cover: int) -> None:
        self.w = (peer_slots + 7) >> 3  # bytes per mask
        self.nb = bytearray(self.w * peer_slots)  # slot s: bytes s*w.., little-endian
        self.sym = bytearray(b"\x02" * peer_slots)
        self.deg = bytearray(peer_slots)  # neighbour count each peer reports
        self.well = 0  # mask of peers with _WELL_CONNECTED neighbours or more
        self.crowded = False  # every peer slot in use: more neighbours than we track
        self.oneway = False  # a neighbour we hear cannot hear us: links here are one-way
        self.pending = []  # type: list[Pending]
        self.cap = pending_max
        self.cover = cover
        self.suppressed = 0
        self.relayed = 0
        self.rb_for = -1  # the targets ``rb`` was computed for (-1: none, or lists changed)
        self.rb = 0

    def mask(self, s: int) -> int:
        """The peer slots neighbour ``s`` reported hearing."""
        w = self.w
        return int.from_bytes(self.nb[s * w:s * w + w], "little")

    def _listed(self, s: int) -> int:
        """How many of our peer slots neighbour ``s`` reported: counted in its
        row's bytes, so the per-relay check allocates no int for it."""
        nb = self.nb
        n = 0
        for i in range(s * self.w, s * self.w + self.w):
            x = nb[i]
            while x:
                x &= x - 1
                n += 1
        return n

    def _set_mask(self, s: int, mask: int) -> None:
        self.rb_for = -1
        w = self.w
        self.nb[s * w:s * w + w] = mask.to_bytes(w, "little")

    def reset_slot(self, s: int) -> None:
        """Slot ``s`` holds a new neighbour: it reported nothing yet, and no
        other neighbour's report counts it (the mask bit named the old one)."""
        self.rb_for = -1
        w = self.w
        nb = self.nb
        o = s * w
        for i in range(o, o + w):
            nb[i] = 0
        self.sym[s] = _SYM_UNKNOWN
        self.deg[s] = 0
        o = s >> 3
        bit = 0xFF ^ (1 << (s & 7))
        for i in range(o, len(nb), w):
            nb[i] &= bit

    def neighbours(self, s: int, mask: int, lists_me: bool, partial: bool, count: int) -> None:
        """Neighbour ``s`` reported the ``count`` peers it hears (``mask``: those
        that are also ours, as slots)."""
        self.deg[s] = count if count < 255 else 255
        if partial:
            self._set_mask(s, self.mask(s) | mask)
            if lists_me:
                self.sym[s] = _SYM_YES
        else:
            self._set_mask(s, mask)
            self.sym[s] = _SYM_YES if lists_me else SYM_NO

    def targets(self, used: bytearray, loss: bytearray) -> int:
        """Mask of peer slots (``used[s]`` set) that can hear this node. Also
        computes ``well``: the neighbours for which one covering copy is enough
        (many neighbours of their own, or a link to us that loses almost no
        heartbeats), ``crowded``: every peer slot is in use, and ``oneway``:
        some neighbour we hear cannot hear us. Allocates nothing but the
        masks: it runs per relay."""
        m = 0
        w = 0
        sym = self.sym
        deg = self.deg
        free = False
        one = False
        slots = len(used)
        for s in range(slots):
            if not used[s]:
                free = True
            elif not sym[s]:
                # A neighbour with every slot in use (as many as ours) may
                # just have no room for us; any other hears us not at all.
                one = one or deg[s] < slots
            else:
                m |= 1 << s
                ls = loss[s]
                if ls < _LOSSLESS or (ls < _LOSSY and deg[s] >= _WELL_CONNECTED) or (
                        ls < _FAIR_LOSS and deg[s] >= _FAIRLY_CONNECTED):
                    w |= 1 << s
        self.well = w
        self.crowded = not free
        self.oneway = one
        return m

    def expected(self, targets: int, has: int) -> int:
        """Neighbours that should answer our copy: those that report neighbours
        we do not have (they relay it), and dead ends that hear only us (they
        send a link ack instead). We have not heard them with the frame, so
        silence from one of them means our copy was lost."""
        m = 0
        deg = self.deg
        x = targets & ~has
        s = 0
        while x:
            if x & 1 and (deg[s] == 1 or deg[s] > self._listed(s) + 1):
                m |= 1 << s
            x >>= 1
            s += 1
        return m

    def needs_retries(self, mask: int, loss: bytearray) -> bool:
        """True when a neighbour in ``mask`` is a link in a chain (two
        neighbours or fewer: nothing but its neighbours' copies reaches it)
        or sits behind a lossy link: a copy of ours it missed may be its only one."""
        deg = self.deg
        s = 0
        while mask:
            if mask & 1 and (deg[s] <= 2 or loss[s] >= _LOSSY):
                return True
            mask >>= 1
            s += 1
        return False

    def reached_by_others(self, targets: int) -> int:
        """Targets that some other target lists as its neighbour: a copy of
        ours lost to them can still come from that neighbour. Kept until the
        targets or a neighbour's list change: the relay that queues a flood
        asks, and so does every copy of a broadcast heard after the third."""
        if targets == self.rb_for:
            return self.rb
        m = 0
        x = targets
        s = 0
        while x:
            if x & 1:
                m |= self.mask(s) & ~(1 << s)
            x >>= 1
            s += 1
        self.rb_for = targets
        self.rb = m & targets
        return self.rb

    def _done(self, e: Pending, targets: int) -> bool:
        # Two-fold coverage, except that one copy suffices for a neighbour
        # with many neighbours of its own: it will hear more copies from them.
        got = e.has | (e.twice | (e.once & self.well) if self.cover >= 2 else e.once)
        short = targets & ~got
        if short == 0 and not self.oneway:
            return True
        if popcount(e.has) < _CROWDED_COPIES:
            return False
        # Where links are one-way, nodes may hear us that we never hear, so
        # covering our targets is not enough; where every slot is in use, the
        # neighbours we cannot track make our targets look uncovered. Both
        # fall back to counting copies (counter-based flooding).
        if self.crowded or self.oneway:
            return True
        # A broadcast heard from three peers: the targets that look short of
        # copies were mostly reached by relays we did not hear (copies lost,
        # or relays out of our range). Only a bridge, a target no other
        # target lists, depends on us; heartbeat repair covers the rest.
        return e.jit >= 0 and short & ~self.reached_by_others(targets) == 0

    def first(self, pid: bytes, link: int, targets: int, window_ms: int, jitter: int,
              now: int, movable: bool) -> int:
        """A new flood frame from slot ``link``: returns the relay delay in ms,
        or -1 when every target is already covered. ``movable``: later copies
        may move the relay later (``heard_copy``)."""
        has = 0
        once = 0
        if link >= 0:
            has = 1 << link
            once = self.mask(link)
        jit = jitter % (window_ms // 8 + 1) if window_ms else 0
        e = Pending(pid, now, jit if movable and window_ms else -1, once, 0, has)
        if self._done(e, targets):
            self.suppressed += 1
            return -1
        delay = 0
        if window_ms:
            delay = relay_delay(window_ms, popcount(targets & ~(once | has)), jit)
        e.due = add(now, delay)
        if len(self.pending) >= self.cap:
            self.pending.pop(0)
        self.pending.append(e)
        self.relayed += 1
        return delay

    def heard_copy(self, pid: bytes, link: int, targets: int, window_ms: int,
                   now: int) -> int:
        """Another copy heard from slot ``link``. Returns -1 when the scheduled
        relay of ``pid`` is no longer needed (the caller cancels it), else the
        ms by which it moved later (the caller moves the queued frame)."""
        for i in range(len(self.pending)):
            e = self.pending[i]
            if e.pid != pid:
                continue
            if diff(now, e.due) > 0:
                self.pending.pop(i)  # already sent
                return 0
            if link >= 0:
                nb = self.mask(link)
                e.has |= 1 << link
                e.twice |= e.once & nb
                e.once |= nb
            if self._done(e, targets):
                self.pending.pop(i)
                self.suppressed += 1
                self.relayed -= 1
                return -1
            if e.jit < 0:
                return 0
            # Without the move, nodes that had the same count at first go
            # together although the first of them covered most of the rest.
            # (On a 10 x 10 grid at 10% loss it took relays per broadcast from
            # 52 to 48; unicast floods keep their time, see docs/ROUTING.md.)
            due = add(e.t0, relay_delay(window_ms, popcount(targets & ~(e.once | e.has)), e.jit))
            later = diff(due, e.due)
            if later <= 0:
                return 0
            e.due = due
            return later
        return 0

    def expire(self, now: int) -> None:
        # Moved relays leave the list out of due order: a later one at the
        # front only keeps the rest a little longer (``heard_copy`` drops them).
        p = self.pending
        while p and diff(now, p[0].due) > 0:
            p.pop(0)
