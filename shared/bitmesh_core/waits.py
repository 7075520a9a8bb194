"""Small bounded state of the bitmesh router: frames waiting for passive
acks, and the per-origin token buckets that stop a flooder (even one holding
the network key) from taking the channel through everyone's relays."""

from array import array

from .clock import add, diff


class FloodWait:
    """A flood frame we sent, waiting to hear the neighbours that must relay it."""

    __slots__ = ("pid", "frame", "prio", "expect", "due", "tries", "anyone")

    def __init__(self, pid: bytes, frame: "bytes | bytearray", prio: int, expect: int,
                 due: int, anyone: bool = False) -> None:
        self.pid = pid
        self.frame = frame
        self.prio = prio
        self.expect = expect  # neighbours still to be heard with the frame
        self.due = due
        self.tries = 0
        self.anyone = anyone  # one of ``expect`` heard is enough


def flood_heard(fwaits: "list[FloodWait]", pid: bytes, link: int) -> None:
    """Neighbour ``link`` has flood frame ``pid``: stop waiting for it."""
    for fw in fwaits:
        if fw.pid == pid:
            fw.expect &= ~(1 << link)
            if not fw.expect or fw.anyone:
                fwaits.remove(fw)
            return


def flood_later(fwaits: "list[FloodWait]", pid: bytes, ms: int) -> None:
    """Our copy of ``pid`` goes ``ms`` later: so does the wait for its echoes."""
    for fw in fwaits:
        if fw.pid == pid:
            fw.due = add(fw.due, ms)


def flood_done(fwaits: "list[FloodWait]", pid: bytes) -> None:
    """No copy of ``pid`` will be sent (the relay was cancelled)."""
    for fw in fwaits:
        if fw.pid == pid:
            fwaits.remove(fw)
            return


class HopWait:
    """A frame this node sent on a source route, waiting for its passive ack."""

    __slots__ = ("pid", "frame", "prio", "nxt", "dst", "src", "path", "due", "tries", "ptype")

    def __init__(self, pid: bytes, frame: "bytes | bytearray", prio: int, nxt: bytes,
                 dst: bytes, src: bytes, path: "bytes | None", due: int, ptype: int) -> None:
        self.pid = pid
        self.frame = frame
        self.prio = prio
        self.nxt = nxt
        self.dst = dst
        self.src = src
        self.path = path
        self.due = due
        self.tries = 0
        self.ptype = ptype


class OriginLimiter:
    """Token bucket per origin for relayed traffic, ``slots`` origins at most
    (the one idle longest is forgotten). Tokens are kept in 1/16ths."""

    __slots__ = ("ids", "tok", "t", "slots", "rate", "burst")

    def __init__(self, slots: int, rate_per_s: int, burst: int) -> None:
        self.ids = {}  # type: dict[bytes, int]
        self.tok = array("i", bytes(4 * slots))
        self.t = array("i", bytes(4 * slots))
        self.slots = slots
        self.rate = rate_per_s
        self.burst = burst

    def allow(self, src: bytes, now: int) -> bool:
        ids = self.ids
        i = ids.get(src, -1)
        top = self.burst * 16
        if i < 0:
            if len(ids) >= self.slots:
                old = b""
                age = -1
                for k in ids:
                    a = diff(now, self.t[ids[k]])
                    if a > age:
                        old = k
                        age = a
                i = ids.pop(old)
            else:
                i = len(ids)
            ids[src] = i
            self.tok[i] = top
            self.t[i] = now
        el = diff(now, self.t[i])
        t = self.tok[i]
        if el > 0:
            t = min(top, t + el * self.rate * 16 // 1000)
            self.t[i] = now
        if t < 16:
            self.tok[i] = t
            return False
        self.tok[i] = t - 16
        return True
