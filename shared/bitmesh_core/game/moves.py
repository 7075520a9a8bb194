"""Receiving one signed move into a Session: authentication, anti-cheat, dispatch.

Order matters and is the contract:

1. a byte-identical copy of a move already handled is a retransmission: it only
   triggers help for a late player (resend our previous round, or START); a
   move further ahead than we can buffer is left unseen, so that its resend is
   used once we catch up;
2. the author's key: known, or self-certified by OPEN/JOIN/START (trust on
   first use, pinned by the host's START roster fingerprints), or carried in a
   COMMIT whose fingerprint matches the roster;
3. a move whose author is not the frame's origin is a forgery if the origin
   signed it (accused) and unattributable otherwise (dropped, counted);
4. flooding and replay checks on the authenticated author;
5. dispatch by kind and round (one round ahead is buffered, one behind helps).

The session's other input, the timer, is here too (:func:`on_timer`): resends
with backoff, the host's lobby start, a bet nobody placed, absent seats, a
round already due as a forfeit, withheld reveals, and a vote with no quorum.
"""

from ..clock import add, diff
from ..compat import TYPE_CHECKING
from . import wire
from .anticheat import SeatGuard
from .auth import key_fp
from .craps import BET_NONE
from .dice import commitment

if TYPE_CHECKING:
    from .session import Session


def _key_for(s: "Session", m: wire.Move) -> "bytes | None":
    key = s.keys.get(m.player)
    if key is not None:
        return key
    k = m.kind
    d = m.data
    if k == wire.K_JOIN and len(d) >= 32:
        return d[:32]
    if k == wire.K_OPEN and len(d) >= 40 and m.player == s.host:
        return d[8:40]
    if k == wire.K_START and m.player == s.host and len(d) >= 33:
        return d[-32:]
    if k == wire.K_COMMIT and len(d) >= 67:
        seat = s.seat(m.player)
        if seat >= 0 and s.fps[seat] == key_fp(d[35:67]):
            return d[35:67]
    return None


def _help(s: "Session", m: wire.Move, now: int) -> None:
    """A late player is still sending old moves: resend what it needs."""
    svc = s.svc
    if 0 <= diff(now, s.help_t) < svc.retry_ms // 2:  # type: ignore[attr-defined]
        return
    s.help_t = now
    if m.kind == wire.K_JOIN and s.host == s.me and s.start_msg:
        svc.send(s.svc.ptype_for(wire.K_START), s.start_msg, now)  # type: ignore[attr-defined]
    elif m.rnd + 1 == s.rnd:
        for ptype, body in s.prev_msgs:
            svc.send(ptype, body, now)  # type: ignore[attr-defined]


def handle_move(s: "Session", m: wire.Move, src: bytes, now: int) -> None:
    svc = s.svc
    dg = m.digest()
    if dg in s.seen:
        _help(s, m, now)
        return
    if m.kind >= wire.K_COMMIT and s.rnd and (m.rnd > s.rnd + 1 or (
            m.rnd == s.rnd + 1 and len(s.ahead) >= 3 * s.seats)):
        # Too far ahead to hold (a player that saw a cheat first can be two
        # rounds on): not marked seen, so a resend is used once we catch up.
        return
    if m.player != src:
        skey = s.keys.get(src)
        if skey is not None and s.check_sig(m, skey):
            s.accuse(src, "forge", [m.raw + m.sig], now, m.rnd)
        else:
            svc.node.drop("game_unattributable")  # type: ignore[attr-defined]
        return
    key = _key_for(s, m)
    if not s.check_sig(m, key):
        svc.node.drop("game_bad_sig")  # type: ignore[attr-defined]
        return
    if key is not None and m.player not in s.keys and len(s.keys) < 2 * s.seats:
        s.keys[m.player] = key
    g = s.guards.get(m.player)
    if g is None:
        if len(s.guards) >= 2 * s.seats:
            return
        g = SeatGuard(svc.flood_burst, now)  # type: ignore[attr-defined]
        s.guards[m.player] = g
    if m.kind != wire.K_OPEN and m.kind != wire.K_JOIN and \
            g.flood(now, svc.flood_rate, svc.flood_burst):  # type: ignore[attr-defined]
        s.accuse(m.player, "flooding", [m.raw + m.sig], now, m.rnd)
        return
    old = g.replay(m)
    if old is not None:
        s.accuse(m.player, "replay", [old.raw + old.sig, m.raw + m.sig], now,
                 old.rnd if old.rnd > m.rnd else m.rnd)
        return
    dispatch_move(s, m, now)
    # Marked seen only once handled: a move whose handling failed (a full
    # heap on a board) is handled again when it is resent.
    s.seen.append(dg)
    if len(s.seen) > 8 * s.seats:
        s.seen.pop(0)


def dispatch_move(s: "Session", m: wire.Move, now: int) -> None:
    k = m.kind
    if k == wire.K_OPEN:
        return
    if k == wire.K_JOIN:
        if s.state == "lobby" and s.host == s.me:
            s.svc.admit(s, m.player, now)  # type: ignore[attr-defined]
        elif s.host == s.me and s.seat(m.player) >= 0:
            _help(s, m, now)
        return
    if k == wire.K_START:
        if s.state == "lobby" and m.player == s.host:
            _start(s, m, now)
        return
    seat = s.seat(m.player)
    if seat < 0 and not (s.state == "lobby" and m.rnd == 1):
        return
    if m.rnd == s.rnd + 1:
        if len(s.ahead) < 3 * s.seats:
            s.ahead.append((m, m.player))
        return
    if m.rnd + 1 == s.rnd:
        _help(s, m, now)
        return
    if m.rnd != s.rnd or s.state not in ("commit", "reveal", "vote") or not s.snap.active[seat]:
        return
    if k == wire.K_LEAVE:
        s.absent[seat] = 1
    elif k == wire.K_COMMIT:
        if len(m.data) < 35:
            return
        c = s.commits[seat]
        if c is None:
            s.commits[seat] = m
            _check_reveal(s, seat, now)
        elif c.data[:32] != m.data[:32]:
            s.accuse(m.player, "double_commit", [c.raw + c.sig, m.raw + m.sig], now)
            return
        elif c.mseq != m.mseq:
            s.accuse(m.player, "replay", [c.raw + c.sig, m.raw + m.sig], now)
            return
    elif k == wire.K_REVEAL:
        if len(m.data) < 16 or s.reveals[seat] is not None:
            return
        s.reveals[seat] = m
        if not _check_reveal(s, seat, now):
            return
    elif k == wire.K_VOTE:
        if len(m.data) >= 16:
            s.votes.add(seat, m.data[:16], m.mseq)
    s._progress(now)


def _check_reveal(s: "Session", seat: int, now: int) -> bool:
    """When both the commitment and the reveal of a seat are in, check them."""
    c = s.commits[seat]
    r = s.reveals[seat]
    if c is None or r is None:
        return True
    if commitment(s.table, s.rnd, s.roster[seat], r.data[:16]) == c.data[:32]:
        return True
    s.accuse(s.roster[seat], "bad_reveal", [c.raw + c.sig, r.raw + r.sig], now)
    return False


def _start(s: "Session", m: wire.Move, now: int) -> None:
    d = m.data
    n = d[0] if d else 0
    if n < 2 or len(d) != 1 + 12 * n + 6 + 32:
        return
    e = 1 + 12 * n
    s.rounds = (d[e] << 8) | d[e + 1]
    s.bankroll = int.from_bytes(d[e + 2:e + 6], "big")
    s.seats = n
    roster = []
    fps = []
    for i in range(n):
        roster.append(bytes(d[1 + 12 * i: 9 + 12 * i]))
        fps.append(bytes(d[9 + 12 * i: 13 + 12 * i]))
    # Keys learnt before START must match the host's roster fingerprints.
    for i in range(n):
        k = s.keys.get(roster[i])
        if k is not None and key_fp(k) != fps[i]:
            del s.keys[roster[i]]
    s.start_msg = wire.signed_body(m.raw, m.sig)
    s._begin(roster, fps, now)


def on_timer(s: "Session", now: int) -> None:
    """Run every deadline of ``s`` that is due at ``now``."""
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
    elif s.state == "reveal" and el >= s.svc.reveal_ms and s._forfeit_due():  # type: ignore[attr-defined]
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
