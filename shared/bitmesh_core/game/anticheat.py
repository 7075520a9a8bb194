"""Anti-cheat: detect misbehaving players, keep evidence, lower reputation.

Each detection yields an :class:`Accusation` holding *evidence*: the signed
messages that prove it where a proof exists (bad reveal: the signed commit and
the signed reveal; double commit: two signed commits; replay: a newer-signed
message for an older round; forge: a message in another player's name signed by
the sender), or the local observation where none can exist (withheld reveal:
the round, the deadline and the commitment it never opened; flooding: the count).
The accused seat forfeits (:func:`accuse`) and its reputation drops, in the
core-wide :class:`Reputation` map (game admission and routers read it as
``node.reputation``) and, when it is a direct neighbour, in the peer table.

What cannot be attributed is never accused: a frame whose move signature does
not verify under the key of its claimed author or of its frame source was sent
by someone who holds no key of either, so it is dropped and counted only.
"""

from ..clock import diff
from ..compat import TYPE_CHECKING, const

if TYPE_CHECKING:
    from .session import Session
    from .wire import Move

REP_START = const(50)
# Reputation penalty per kind of cheat (the peer table takes the same delta).
PENALTY = {"bad_reveal": 30, "withhold_reveal": 20, "replay": 25, "forge": 40,
           "double_commit": 30, "flooding": 20}


class Reputation:
    """Core-wide reputation by node id, 0..100, bounded by ``cap`` entries.

    Unknown ids score REP_START. When full, the entry closest to REP_START is
    forgotten first, so bad (and good) records survive longest.
    """

    __slots__ = ("cap", "score")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.score = {}  # type: dict[bytes, int]

    def get(self, node_id: bytes) -> int:
        return self.score.get(node_id, REP_START)

    def adjust(self, node_id: bytes, delta: int) -> int:
        r = self.get(node_id) + delta
        r = 0 if r < 0 else (100 if r > 100 else r)
        if node_id not in self.score and len(self.score) >= self.cap:
            victim = b""
            best = 1000
            for k in self.score:
                d = abs(self.score[k] - REP_START)
                if d < best:
                    best = d
                    victim = k
            del self.score[victim]
        self.score[node_id] = r
        return r

    def admits(self, node_id: bytes, threshold: int) -> bool:
        return self.get(node_id) >= threshold


class Accusation:
    __slots__ = ("player", "kind", "rnd", "evidence")

    def __init__(self, player: bytes, kind: str, rnd: int, evidence: "list[bytes]") -> None:
        self.player = player
        self.kind = kind
        self.rnd = rnd
        self.evidence = evidence

    def to_dict(self) -> "dict[str, object]":
        return {"player": self.player.hex(), "cheat": self.kind, "round": self.rnd,
                "evidence": [e.hex() for e in self.evidence]}


class SeatGuard:
    """Per-seat bookkeeping for replay and flooding checks."""

    __slots__ = ("top", "top_last", "below", "tokens", "tok_t")

    def __init__(self, burst: int, now: int) -> None:
        self.top = None  # type: Move | None  # first-signed move of the latest round
        self.top_last = None  # type: Move | None  # last-signed move of that round
        self.below = None  # type: Move | None  # last-signed move of any earlier round
        self.tokens = burst
        self.tok_t = now

    def replay(self, m: "Move") -> "Move | None":
        """A known move that proves ``m`` a replay, or None. An honest player
        signs its moves in round order and resends old ones byte for byte
        (same mseq), so no move of its is signed after a move of a later
        round: whichever of the two arrives first, the second is caught."""
        t = self.top
        tl = self.top_last  # set together with top
        b = self.below
        if t is None or tl is None:
            self.top = self.top_last = m
            return None
        if m.rnd < t.rnd and m.mseq > t.mseq:
            return t
        if m.rnd > t.rnd and (b is None or tl.mseq > b.mseq):
            b = tl  # the latest round becomes an earlier one
        if b is not None and b.rnd < m.rnd and b.mseq > m.mseq:
            return b
        if m.rnd > t.rnd:
            self.below = b
            self.top = self.top_last = m
        elif m.rnd == t.rnd:
            if m.mseq < t.mseq:
                self.top = m
            if m.mseq > tl.mseq:
                self.top_last = m
        elif b is None or m.mseq > b.mseq:
            self.below = m
        return None

    def flood(self, now: int, rate_per_s: int, burst: int) -> bool:
        """Token bucket over the seat's signed messages: True when over."""
        el = diff(now, self.tok_t)
        if el > 0:
            add = el * rate_per_s // 1000
            if add:
                self.tokens = min(burst, self.tokens + add)
                self.tok_t = now
        if self.tokens <= 0:
            return True
        self.tokens -= 1
        return False


def accuse(s: "Session", player: bytes, kind: str, evidence: "list[bytes]", now: int,
           rnd: int = -1) -> None:
    """Record evidence, penalise, and forfeit the seat in round ``rnd`` (the
    round the cheat was made in; default this one). A cheat seen ahead of
    our round forfeits in the next round we settle, as it does for the
    players who are already there."""
    if player in s.accused or player == s.me:
        return
    a = Accusation(player, kind, s.rnd, evidence)
    s.accused[player] = a
    s.svc.penalize(player, kind)  # type: ignore[attr-defined]
    s.svc.event("cheat", s, a.to_dict())  # type: ignore[attr-defined]
    seat = s.seat(player)
    if seat < 0:
        return
    if rnd > s.rnd:
        if seat not in s.pending:
            s.pending.append(seat)
            s.pend_at[seat] = rnd
        return
    if s.state in ("commit", "reveal", "vote") and s.snap.active[seat]:
        if seat not in s.cheats:
            s.cheats.append(seat)
        if s.state == "vote" and s.my_state and s.alt is None:
            # We voted before we saw the cheat: keep that outcome, in case
            # the others settled it (Session._progress).
            s.alt = (s.game, s.dice, s.my_state, [seat])
        elif s.alt is not None:
            s.alt[3].append(seat)
        s.fire("cheat")
        s._settle(now)
        s._progress(now)
    elif s.state == "done":
        s.game.forfeit(seat)  # seen once the last outcome was final: it still pays
    elif s.state != "closed" and seat not in s.pending:
        s.pending.append(seat)
