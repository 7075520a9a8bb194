"""The consensus message handler: authenticated votes on a round's state hash.

After each round every active player signs a VOTE carrying the hash of the game
state it computed (craps.Craps.state_hash). A round is *final* for a player once
the votes for its own hash, its own included, reach two thirds of the active
seats (``2 * agree >= ... `` computed as ``3 * agree >= 2 * n``). A vote for a
different hash is a *disagreement*: it is reported once per (round, seat) so
the shell and the simulator can see it, and the voter is never accused for it
alone (a lossy link can make an honest player late, not wrong; a wrong vote
cannot move the quorum as long as fewer than a third of the seats lie).
A later vote of a seat replaces its earlier one (a player that learns of a
cheat before the round is final re-votes the forfeit outcome).
"""


class VoteBox:
    """Votes of one round: seat -> (state hash, mseq)."""

    __slots__ = ("votes", "flagged")

    def __init__(self) -> None:
        self.votes = {}  # type: dict[int, tuple[bytes, int]]
        self.flagged = []  # type: list[int]

    def add(self, seat: int, state: bytes, mseq: int) -> bool:
        """Record a vote; False when it is older than the one held."""
        old = self.votes.get(seat)
        if old is not None and old[1] >= mseq:
            return False
        self.votes[seat] = (state, mseq)
        return True

    def agree(self, state: bytes, active: "bytes | bytearray") -> int:
        n = 0
        for seat in self.votes:
            if active[seat] and self.votes[seat][0] == state:
                n += 1
        return n

    def final(self, state: bytes, active: "bytes | bytearray") -> bool:
        n = 0
        for a in active:
            if a:
                n += 1
        return n > 0 and 3 * self.agree(state, active) >= 2 * n

    def disagreeing(self, state: bytes, active: "bytes | bytearray") -> "list[int]":
        """Active seats whose vote differs from ``state`` and were not yet
        reported; marks them reported."""
        out = []
        for seat in self.votes:
            if active[seat] and self.votes[seat][0] != state and seat not in self.flagged:
                self.flagged.append(seat)
                out.append(seat)
        return out
