"""Simulated cheaters: the misbehaviour the simulator and tests give a seat.

``Session.cheat`` names the cheat and ``Session.cheat_round`` the first round
it is made in; before that round the seat plays honestly. Used only by the
simulator and tests, never by honest shells: they leave ``cheat`` empty, and
session.py then never imports this module (a board does not load it). Every
cheat here is one that moves.py must detect and anticheat.py accuse and
forfeit.
"""

from ..compat import TYPE_CHECKING
from . import wire
from .dice import commitment

if TYPE_CHECKING:
    from .session import Session


def cheat_commit(s: "Session", data: bytes, now: int) -> None:
    """After ``s`` sent its honest commitment ``data`` for this round:

    double_commit  also signs a second commitment (to a zero nonce) with the
                   same bet, for the same round;
    replay         from round 3 on, re-signs an old commitment (round
                   ``cheat_round - 2``'s, or round 1's) as one for round n-2,
                   with a newer move counter;
    forge          also sends the commitment in the first other player's name,
                   signed with our key.
    """
    if not s.cheat or s.rnd < s.cheat_round:
        if s.rnd == s.cheat_round - 2 or not s.old_commit:
            s.old_commit = data
        return
    if s.cheat == "double_commit":
        other = commitment(s.table, s.rnd, s.me, bytes(16))
        s._sign_send(wire.K_COMMIT, other + data[32:], now)
    elif s.cheat == "replay" and s.rnd >= 3:
        s._sign_send(wire.K_COMMIT, s.old_commit, now, rnd=s.rnd - 2)
    elif s.cheat == "forge":
        for p in s.roster:
            if p != s.me:
                s._sign_send(wire.K_COMMIT, data, now, player=p)
                break


def reveal_nonce(s: "Session") -> "bytes | None":
    """The nonce ``s`` reveals this round; from ``cheat_round`` on:

    bad_reveal       our nonce with one bit flipped (it does not open our
                     commitment);
    withhold_reveal  None: never reveal, so the round cannot roll.
    """
    if not s.cheat or s.rnd < s.cheat_round:
        return s.nonce
    if s.cheat == "withhold_reveal":
        return None
    if s.cheat == "bad_reveal":
        return bytes((s.nonce[0] ^ 1,)) + s.nonce[1:]
    return s.nonce
