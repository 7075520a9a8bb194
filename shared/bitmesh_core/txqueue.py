"""The transmit queue: bounded, four priority classes, optional delays.

Classes, most urgent first: GAME (game and consensus), CONTROL (heartbeats,
acks, route control), DATA, BULK. A frame may carry a not-before deadline
(for delay-and-cancel relaying) and a cancel key (its packet identity), so a
relay scheduled on hearing a frame can be withdrawn when a neighbour relays it
first. When the queue is full the newest frame of the least urgent class
present is dropped (counted by the node).
"""

from .clock import add, diff

P_GAME = 0
P_CONTROL = 1
P_DATA = 2
P_BULK = 3
PRIORITIES = 4


class TxEntry:
    __slots__ = ("prio", "iface", "addr", "frame", "due", "key")

    def __init__(self, prio: int, iface: int, addr: "bytes | None",
                 frame: "bytes | bytearray", due: "int | None", key: "bytes | None") -> None:
        self.prio = prio
        self.iface = iface
        self.addr = addr
        self.frame = frame
        self.due = due
        self.key = key


class TxQueue:
    __slots__ = ("cap", "entries", "delayed")

    def __init__(self, capacity: int) -> None:
        self.cap = capacity
        self.entries = []  # type: list[TxEntry]
        self.delayed = 0  # entries with a due time: zero means all are ready

    def __len__(self) -> int:
        return len(self.entries)

    def push(self, e: TxEntry) -> "TxEntry | None":
        """Queue ``e``; returns the entry dropped to make room, if any."""
        es = self.entries
        if len(es) >= self.cap:
            worst = -1
            for i in range(len(es)):
                if worst < 0 or es[i].prio >= es[worst].prio:
                    worst = i
            if es[worst].prio < e.prio:
                return e
            dropped = es.pop(worst)
            if dropped.due is not None:
                self.delayed -= 1
        if e.due is not None:
            self.delayed += 1
        es.append(e)
        return None

    def cancel(self, key: bytes) -> int:
        """Withdraw delayed entries with this key; returns how many."""
        n = 0
        i = 0
        es = self.entries
        while i < len(es):
            if es[i].key == key and es[i].due is not None:
                es.pop(i)
                self.delayed -= 1
                n += 1
            else:
                i += 1
        return n

    def delay(self, key: bytes, ms: int) -> None:
        """Move delayed entries with this key ``ms`` later."""
        for e in self.entries:
            if e.key == key and e.due is not None:
                e.due = add(e.due, ms)

    def held(self, limit: int) -> bool:
        """True when some entry waits only because its class exceeds ``limit``."""
        for e in self.entries:
            if e.prio > limit:
                return True
        return False

    def pop_ready(self, now: int, limit: int = PRIORITIES - 1) -> "list[TxEntry]":
        """Entries due by ``now``, most urgent class first, FIFO within a class.
        Classes less urgent than ``limit`` (the airtime budget) stay queued."""
        es = self.entries
        if not self.delayed and len(es) == 1 and es[0].prio <= limit:
            # The usual case on a loop turn (the node skips an empty queue):
            # one ready entry, handed out without building two lists.
            self.entries = []
            return es
        ready = []  # type: list[TxEntry]
        keep = []
        urgent = False
        for e in self.entries:
            if e.prio <= limit and (e.due is None or diff(now, e.due) >= 0):
                ready.append(e)
                urgent = urgent or e.prio < ready[0].prio
            else:
                keep.append(e)
        self.entries = keep
        if urgent:
            # Bucket by class: MicroPython's sort is not stable, FIFO must hold.
            out = []  # type: list[TxEntry]
            for p in range(PRIORITIES):
                for e in ready:
                    if e.prio == p:
                        out.append(e)
            return out
        return ready

    def next_due(self, now: int, limit: int = PRIORITIES - 1) -> "int | None":
        """Earliest deadline among classes up to ``limit`` (None: nothing)."""
        best = None  # type: int | None
        for e in self.entries:
            if e.prio > limit:
                continue
            if e.due is None:
                return now
            if best is None or diff(e.due, best) < 0:
                best = e.due
        return best
