"""A Session's deadlines: bets asked from outside, resends with back-off, the
lobby start, and the commit, reveal and vote timeouts.

The contract the timeouts keep (docs/GAMES.md, "Cheats seen at different
moments"): a missing commitment drops a seat without blame; a missing reveal
is an accusation only when this player still needs it, the seat has not voted
(a seat that voted saw a cheat we have not seen yet) and the round did not
already settle as a forfeit we knew of; a missing quorum is flagged once.
"""

from ..clock import add, diff
from ..compat import TYPE_CHECKING
from .craps import BET_NONE

if TYPE_CHECKING:
    from .session import Session


def on_deadlines(s: "Session", now: int) -> None:
    if s.state in ("idle", "closed"):
        return
    if s.bet_due is not None and diff(now, s.bet_due) >= 0:
        s.place_bet(BET_NONE, 0, now)  # nobody chose in time: no bet
    rt = s.svc.retry_ms  # type: ignore[attr-defined]
    if diff(now, s.resend_t) >= 0:
        # Back off while nothing changes (floods are costly), up to 4x.
        s.gap = min(4 * rt, max(rt, s.gap * 2))
        s.resend_t = add(now, s.gap)
        for ptype, body in s.my_msgs:
            s.svc.send(ptype, body, now)  # type: ignore[attr-defined]
        if s.state == "lobby" and s.host == s.me and len(s.joined) >= 2 \
                and diff(now, s.phase_t) >= s.svc.lobby_ms:  # type: ignore[attr-defined]
            s.start(now)
    el = diff(now, s.phase_t)
    if s.state == "commit" and el >= s.svc.commit_ms:  # type: ignore[attr-defined]
        for i in range(len(s.roster)):
            if s.game.active[i] and s.commits[i] is None and not s.absent[i]:
                s.absent[i] = 1
                s.svc.event("absent", s, {"round": s.rnd,  # type: ignore[attr-defined]
                                          "player": s.roster[i].hex()})
        s._progress(now)
    elif s.state == "reveal" and el >= s.svc.reveal_ms and s.forfeit_due():  # type: ignore[attr-defined]
        # We knew of a cheat before this round, so it settles as a forfeit
        # and needs no reveals; the others may have settled it before they
        # had every commitment and so never revealed.
        s.fire("cheat")
        s._settle(now)
        s._progress(now)
    elif s.state == "reveal" and el >= s.svc.reveal_ms:  # type: ignore[attr-defined]
        rnd = s.rnd
        for i in range(len(s.roster)):
            if s.rnd != rnd:
                # An accusation settled the round and the next one began:
                # its empty reveals are not withheld.
                break
            c = s.commits[i]
            # A seat that already voted saw a cheat we have not seen yet:
            # it is ahead of us, not withholding.
            if s.game.active[i] and s.reveals[i] is None and c is not None \
                    and i not in s.votes.votes:
                s.accuse(s.roster[i], "withhold_reveal", [c.raw + c.sig], now)
    elif s.state == "vote" and el >= s.svc.vote_ms and not s.no_quorum_flagged:  # type: ignore[attr-defined]
        s.no_quorum_flagged = True
        s.svc.event("no_quorum", s, {"round": s.rnd})  # type: ignore[attr-defined]
