"""Partition detection: which destinations this node lost, and when they return.

A destination counts as *reachable* while it is a neighbour or the routing
table holds a path to it. When a neighbour times out (PeerLost) or a route
error removes the last path, the destinations that just lost every path are
recorded here and reported in one PartitionSuspected event; when one of them
is heard from again (neighbour back, a path learned, a frame delivered from
it) a PartitionHealed event names it. The list is bounded (``cap``, oldest
forgotten first) and entries are forgotten after ``forget_ms``.
"""

from array import array

from .clock import diff


class PartitionTracker:
    __slots__ = ("cap", "forget_ms", "lost", "since")

    def __init__(self, capacity: int, forget_ms: int) -> None:
        self.cap = capacity
        self.forget_ms = forget_ms
        self.lost = []  # type: list[bytes]
        self.since = array("i", bytes(4 * capacity))

    def __len__(self) -> int:
        return len(self.lost)

    def is_lost(self, dst: bytes) -> bool:
        return dst in self.lost

    def mark_lost(self, dsts: "list[bytes]", now: int) -> "list[bytes]":
        """Record destinations that became unreachable; returns the new ones."""
        new = []
        for d in dsts:
            if d in self.lost:
                continue
            if len(self.lost) >= self.cap:
                self.lost.pop(0)
                self.since[0:self.cap - 1] = self.since[1:self.cap]
            self.since[len(self.lost)] = now
            self.lost.append(d)
            new.append(d)
        return new

    def back(self, dst: bytes) -> bool:
        """``dst`` is reachable again; True if it had been reported lost."""
        try:
            i = self.lost.index(dst)
        except ValueError:
            return False
        self.lost.pop(i)
        n = len(self.lost)
        self.since[i:n] = self.since[i + 1:n + 1]
        return True

    def expire(self, now: int) -> None:
        while self.lost and diff(now, self.since[0]) > self.forget_ms:
            self.back(self.lost[0])
