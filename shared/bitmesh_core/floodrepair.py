"""Flood repair: the floods a node holds, listed in its heartbeats, so a
neighbour that missed one gets it again.

The one loss relay suppression (broadcast.py) cannot see is a neighbour that
missed every copy and so never relays or acks. Heartbeats list the floods
each node holds (TLV_SEEN); a neighbour's list that lacks one of ours draws
our copy once more, and a list that names one we lack draws our heartbeat
early, so the neighbour learns we lack it (liveness.answer_soon).
"""

from .clock import diff
from .compat import TYPE_CHECKING, const

if TYPE_CHECKING:
    from typing import Any

_SEEN_MARGIN_MS = const(2000)  # a flood younger than this may still be on its way to a neighbour
_SEEN_TRUNCATED = const(0x80)  # TLV_SEEN first byte: more floods were seen than listed
_REPAIRS_PER_FLOOD = const(2)  # resends of one flood, whoever asks: bounds what a rogue can draw


class RecentFloods:
    """The last ``cap`` flood frames this node received or sent, kept for
    repair: the one loss relay suppression cannot see is a neighbour that
    missed every copy and so never relays or acks.

    Each heartbeat lists the 4-byte tags of these floods (TLV_SEEN: a byte
    with the window in seconds and ``_SEEN_TRUNCATED``, then tags newest
    first). A neighbour whose list lacks a flood we hold, one old enough to
    have reached it and young enough to be inside its window, missed it:
    ``heard`` names it and the router sends our copy once more, at most
    ``_REPAIRS_PER_FLOOD`` times. Floods this node would not relay (rate
    limited, out of hops, or we are a leaf) are listed but kept without a
    frame. Bounded: ``cap`` entries with a frame of at most 250 bytes, each
    forgotten after ``window`` ms. An entry is ``[pid, frame or None, time
    heard, repair due (0: none queued), repairs sent, TTL to send it with]``,
    oldest first."""

    __slots__ = ("cap", "window", "ents")

    def __init__(self, cap: int, window_ms: int) -> None:
        self.cap = cap
        self.window = window_ms
        self.ents = []  # type: list[list[Any]]

    def add(self, pid: bytes, now: int) -> None:
        """A new flood: listed from now on, repairable once ``keep`` is called."""
        if len(self.ents) >= self.cap:
            self.ents.pop(0)
        self.ents.append([pid, None, now, 0, 0, 0])

    def keep(self, pid: bytes, frame: "bytes | bytearray", ttl: int) -> None:
        """Keep ``frame``, to resend with ``ttl``, for the flood added last."""
        if self.ents and self.ents[-1][0] == pid:
            e = self.ents[-1]
            e[1] = frame if isinstance(frame, bytes) else bytes(frame)
            e[5] = ttl

    def seen_value(self, now: int) -> bytes:
        """The TLV_SEEN value for our next heartbeat (drops expired entries)."""
        es = self.ents
        while es and diff(now, es[0][2]) > self.window:
            es.pop(0)
        n = len(es)
        out = bytearray(1 + 4 * n)
        w = self.window // 1000
        out[0] = (w if w < 0x7F else 0x7F) | (_SEEN_TRUNCATED if n >= self.cap else 0)
        for i in range(n):
            out[1 + 4 * i:5 + 4 * i] = es[n - 1 - i][0][:4]
        return bytes(out)

    def heard(self, v: bytes, now: int) -> "tuple[list[list[Any]], bool]":
        """A neighbour's TLV_SEEN value ``v`` against our floods, its tags
        sliced once: (the entries to resend to it, True when it names a
        flood we never had).

        It missed one of ours when its list lacks a flood we hold, one old
        enough to have reached it and young enough to be inside its window.
        We missed one of its when we list fewer floods than we keep, or hold
        one it lists as older (we drop the oldest first, so we would hold
        this one too)."""
        out = []  # type: list[list[Any]]
        if len(v) < 1:
            return out, False
        win = (v[0] & 0x7F) * 1000
        tags = [v[j:j + 4] for j in range(1, len(v) - 3, 4)]
        listed_older = False  # it lists a flood older than the one we look at
        for e in self.ents:
            if e[0][:4] in tags:
                listed_older = True
                continue
            if e[1] is None or e[4] >= _REPAIRS_PER_FLOOD:
                continue
            age = diff(now, e[2])
            if age < _SEEN_MARGIN_MS or age > win - _SEEN_MARGIN_MS:
                continue
            if v[0] & _SEEN_TRUNCATED and not listed_older:
                continue  # it may have dropped this one for newer ones
            out.append(e)
        full = len(self.ents) >= self.cap
        missed = False
        for t in tags:  # newest first
            held = False
            for e in self.ents:
                if e[0].startswith(t):
                    held = True
                    break
            if not held:
                if not full:
                    return out, True
                missed = True
            elif missed:
                return out, True
        return out, False

    def repairing(self, pid: bytes, now: int) -> bool:
        """True (once) when a repair of ``pid`` is still queued."""
        for e in self.ents:
            if e[0] == pid and e[3] and diff(e[3], now) > 0:
                e[3] = 0
                e[4] -= 1
                return True
        return False

