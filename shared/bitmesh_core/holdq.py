"""Store-and-forward and end-to-end message dedup.

:class:`HoldQueue` keeps a bounded number of unicast messages this node
originated, each with a deadline:

- ``WAIT``: the destination is known unreachable (partition); the message is
  sent again when the destination comes back, or dropped (SendFailed) at its
  deadline;
- ``SENT``: a source-routed message in flight; a route error naming it makes
  the router send it again by flooding; at its deadline without an error it
  counts as delivered (route reliability up).

A message sent again is *re-originated* (fresh seq, so replay protection
holds) and carries its first seq in TLV_MSGID; :class:`MsgDedup` at the
destination drops a second copy of one (origin, message id) pair.
"""

from array import array

from .clock import diff

WAIT = 0
SENT = 1


class Held:
    __slots__ = ("dst", "ptype", "body", "flags", "prio", "msg_id", "pid", "path", "until",
                 "state", "tries")

    def __init__(self, dst: bytes, ptype: int, body: bytes, flags: int, prio: int,
                 msg_id: int, until: int, state: int, tries: int = 0) -> None:
        self.dst = dst
        self.ptype = ptype
        self.body = body
        self.flags = flags
        self.prio = prio
        self.msg_id = msg_id
        self.pid = b""
        self.path = None  # type: bytes | None
        self.until = until
        self.state = state
        self.tries = tries


class HoldQueue:
    __slots__ = ("cap", "items")

    def __init__(self, capacity: int) -> None:
        self.cap = capacity
        self.items = []  # type: list[Held]

    def __len__(self) -> int:
        return len(self.items)

    def add(self, h: Held) -> "Held | None":
        """Queue ``h``; returns the entry evicted to make room (oldest SENT
        first, then oldest WAIT)."""
        out = None
        if len(self.items) >= self.cap:
            for i in range(len(self.items)):
                if self.items[i].state == SENT:
                    out = self.items.pop(i)
                    break
            if out is None:
                out = self.items.pop(0)
        self.items.append(h)
        return out

    def by_pid(self, pid: bytes) -> "Held | None":
        for h in self.items:
            if h.pid == pid:
                return h
        return None

    def of_message(self, dst: bytes, msg_id: int) -> "Held | None":
        for h in self.items:
            if h.msg_id == msg_id and h.dst == dst:
                return h
        return None

    def remove(self, h: Held) -> None:
        try:
            self.items.remove(h)
        except ValueError:
            pass

    def waiting_for(self, dst: bytes) -> "list[Held]":
        out = []
        for h in self.items:
            if h.state == WAIT and h.dst == dst:
                out.append(h)
        for h in out:
            self.items.remove(h)
        return out

    def due(self, now: int) -> "list[Held]":
        """Entries past their deadline (removed)."""
        out = []
        keep = []
        for h in self.items:
            if diff(now, h.until) >= 0:
                out.append(h)
            else:
                keep.append(h)
        self.items = keep
        return out

    def next_deadline(self) -> "int | None":
        if not self.items:
            return None
        t = self.items[0].until
        for h in self.items:
            if diff(h.until, t) < 0:
                t = h.until
        return t


class MsgDedup:
    """A ring of (origin short id, message id) pairs already delivered."""

    __slots__ = ("cap", "keys", "head", "n")

    def __init__(self, capacity: int) -> None:
        self.cap = capacity
        self.keys = array("I", bytes(8 * capacity))  # short id, msg id per entry
        self.head = 0
        self.n = 0

    def seen(self, short: bytes, msg_id: int) -> bool:
        """Record the pair; True when it was delivered before."""
        s = (short[0] << 24) | (short[1] << 16) | (short[2] << 8) | short[3]
        k = self.keys
        for i in range(self.n):
            if k[2 * i] == s and k[2 * i + 1] == msg_id:
                return True
        j = self.head
        k[2 * j] = s
        k[2 * j + 1] = msg_id & 0xFFFFFFFF
        self.head = (j + 1) % self.cap
        if self.n < self.cap:
            self.n += 1
        return False
