"""One craps table as seen by one player: lobby, rounds, forfeits, consensus.

The session's life is a table in h11's style: ``TRANSITIONS[(state, event)]``
gives the next state and any other pair is a protocol error (the offending
input is dropped and counted, never raised out of the core).

A round is one roll::

    commit  every active seat signs COMMIT(sha256(dom|table|round|id|nonce), bet)
    reveal  once every commitment is in, each seat signs REVEAL(nonce)
    vote    once every reveal is in: dice from all nonces, craps applied, and a
            signed VOTE on the resulting state hash; final at >= 2/3 agreement

A player whose bet comes from outside (a person at a laptop) gets a
``bet_wanted`` event when a round starts; the commitment waits for
:meth:`Session.place_bet` at most ``svc.bet_ms``, then goes out with no bet.

Loss is handled by resending every message of the current round each
``game_retry_ms`` (byte-identical: same signature, same move counter) and by
resending the previous round's messages when a late player is heard. A seat is
dropped without blame when its commitment never arrives (``game_commit_ms``)
and accused of withholding only when its reveal is missing
``game_reveal_ms`` after this player entered the reveal phase, long enough for
many retries across a lossy mesh. A round with a cheater settles as a forfeit
(no roll; the cheater loses bankroll and seat).

Receiving a move and the deadlines are in moves.py, accusing in anticheat.py,
and the simulator's cheaters in cheater.py.
"""

from ..clock import add
from ..compat import TYPE_CHECKING
from . import wire
from .anticheat import accuse
from .auth import key_fp, verify
from .consensus import VoteBox
from .craps import BET_NONE, Craps
from .dice import commitment, new_nonce, roll
from .moves import dispatch_move, handle_move, on_timer

if TYPE_CHECKING:
    from .anticheat import Accusation, SeatGuard  # noqa: F401  (type comments)

TRANSITIONS = {
    ("idle", "open"): "lobby",
    ("idle", "join"): "lobby",
    ("lobby", "start"): "commit",
    ("commit", "commits_in"): "reveal",
    ("commit", "cheat"): "vote",
    ("reveal", "reveals_in"): "vote",
    ("reveal", "cheat"): "vote",
    ("vote", "cheat"): "vote",
    ("vote", "quorum"): "commit",
    ("vote", "last_round"): "done",
    ("lobby", "leave"): "closed",
    ("commit", "leave"): "closed",
    ("reveal", "leave"): "closed",
    ("vote", "leave"): "closed",
    ("done", "leave"): "closed",
}  # type: dict[tuple[str, str], str]


class ProtocolError(Exception):
    pass


class Session:
    """State of one table. ``svc`` is the GameService (sending, timers, policy)."""

    __slots__ = (
        "svc", "table", "host", "me", "seats", "rounds", "bankroll", "state", "roster", "fps",
        "keys", "joined", "rnd", "mseq", "game", "snap", "commits", "reveals", "absent",
        "cheats", "pending", "pend_at", "votes", "my_state", "dice", "nonce", "my_msgs", "prev_msgs",
        "ahead", "seen", "guards", "accused", "history", "phase_t", "resend_t", "help_t",
        "no_quorum_flagged", "gap", "bet", "cheat", "cheat_round", "old_commit", "start_msg",
        "alt", "bet_due",
    )

    def __init__(self, svc: "object", table: bytes, host: bytes, seats: int, rounds: int,
                 bankroll: int, now: int) -> None:
        self.svc = svc
        self.table = table
        self.host = host
        self.me = svc.node.node_id  # type: ignore[attr-defined]
        self.seats = seats
        self.rounds = rounds
        self.bankroll = bankroll
        self.state = "idle"
        self.roster = []  # type: list[bytes]
        self.fps = []  # type: list[bytes]
        self.keys = {}  # type: dict[bytes, bytes]
        self.joined = []  # type: list[bytes]
        self.rnd = 0
        self.mseq = 0
        self.game = Craps(0, 0)
        self.snap = self.game
        self.commits = []  # type: list[wire.Move | None]
        self.reveals = []  # type: list[wire.Move | None]
        self.absent = bytearray()
        self.cheats = []  # type: list[int]
        self.pending = []  # type: list[int]
        self.pend_at = {}  # type: dict[int, int]
        self.votes = VoteBox()
        self.my_state = b""
        self.dice = (0, 0)
        self.nonce = b""
        self.my_msgs = []  # type: list[tuple[int, bytes]]
        self.prev_msgs = []  # type: list[tuple[int, bytes]]
        self.ahead = []  # type: list[tuple[wire.Move, bytes]]
        self.seen = []  # type: list[int]
        self.guards = {}  # type: dict[bytes, SeatGuard]
        self.accused = {}  # type: dict[bytes, Accusation]
        self.history = []  # type: list[tuple[int, int, int, bytes]]
        self.phase_t = now
        self.resend_t = now
        self.help_t = now
        self.no_quorum_flagged = False
        self.gap = 0
        self.bet = (BET_NONE, 0)  # the bet this player places next come-out
        self.cheat = ""  # simulator/test cheater behaviour (cheater.py)
        self.cheat_round = 2
        self.old_commit = b""
        self.start_msg = b""
        self.alt = None  # type: tuple[Craps, tuple[int, int], bytes, list[int]] | None
        self.bet_due = None  # type: int | None  # deadline of a bet asked from outside

    # ------------------------------------------------------------ machine
    def fire(self, event: str) -> None:
        nxt = TRANSITIONS.get((self.state, event))
        if nxt is None:
            raise ProtocolError(self.state + "/" + event)
        self.state = nxt

    def seat(self, player: bytes) -> int:
        for i in range(len(self.roster)):
            if self.roster[i] == player:
                return i
        return -1

    def active(self) -> bytearray:
        return self.game.active

    # ------------------------------------------------------------ sending
    def _sign_send(self, kind: int, data: bytes, now: int, rnd: int = -1,
                   player: "bytes | None" = None, keep: bool = True) -> bytes:
        self.mseq += 1
        raw = wire.encode_move(kind, self.table, self.rnd if rnd < 0 else rnd, self.mseq,
                               player or self.me, data)
        sig = self.svc.signer.sign(wire.sign_input(raw))  # type: ignore[attr-defined]
        body = wire.signed_body(raw, sig)
        ptype = self.svc.ptype_for(kind)  # type: ignore[attr-defined]
        self.svc.send(ptype, body, now)  # type: ignore[attr-defined]
        if keep:
            self.my_msgs.append((ptype, body))
        me = self.seat(self.me)
        if player is None and rnd < 0 and me >= 0:
            if kind == wire.K_COMMIT and self.commits[me] is None:
                self.commits[me] = wire.Move(raw, sig)
            elif kind == wire.K_REVEAL and self.reveals[me] is None:
                self.reveals[me] = wire.Move(raw, sig)
        return raw

    def open(self, now: int) -> None:
        """Host: announce the table and take the first seat."""
        self.fire("open")
        pub = self.svc.signer.public  # type: ignore[attr-defined]
        self.keys[self.me] = pub
        self.joined.append(self.me)
        self._sign_send(wire.K_OPEN, bytes((self.seats, self.rounds >> 8, self.rounds & 0xFF))
                        + self.bankroll.to_bytes(4, "big") + b"\x01" + pub, now)

    def join(self, now: int) -> None:
        self.fire("join")
        self.keys[self.me] = self.svc.signer.public  # type: ignore[attr-defined]
        self._sign_send(wire.K_JOIN, self.svc.signer.public, now)  # type: ignore[attr-defined]

    def start(self, now: int) -> None:
        """Host: fix the roster in join order and start round 1."""
        data = bytearray((len(self.joined),))
        for pid in self.joined:
            data += pid + key_fp(self.keys[pid])
        data += bytes((self.rounds >> 8, self.rounds & 0xFF)) + self.bankroll.to_bytes(4, "big")
        self._sign_send(wire.K_START, bytes(data) + self.keys[self.me], now)
        self.start_msg = self.my_msgs[-1][1]
        self._begin(list(self.joined), [key_fp(self.keys[p]) for p in self.joined], now)

    def _begin(self, roster: "list[bytes]", fps: "list[bytes]", now: int) -> None:
        self.roster = roster
        self.fps = fps
        self.game = Craps(len(roster), self.bankroll)
        self.absent = bytearray(len(roster))
        self.fire("start")
        self.svc.event("table_started", self, {"players": [p.hex() for p in roster]})  # type: ignore[attr-defined]
        if self.seat(self.me) < 0:
            self.svc.event("not_seated", self, {})  # type: ignore[attr-defined]
            self.state = "closed"
            return
        self.rnd = 1
        self._enter_round(now)

    def leave(self, now: int) -> None:
        if self.state in ("commit", "reveal", "vote", "lobby"):
            self._sign_send(wire.K_LEAVE, b"", now, keep=False)
        self.fire("leave")

    # ------------------------------------------------------------- rounds
    def _enter_round(self, now: int) -> None:
        n = len(self.roster)
        self.commits = [None] * n
        self.reveals = [None] * n
        self.cheats = []
        self.votes = VoteBox()
        self.my_state = b""
        self.alt = None
        self.prev_msgs = self.my_msgs
        self.my_msgs = []
        self.phase_t = now
        self.gap = self.svc.retry_ms  # type: ignore[attr-defined]
        self.resend_t = add(now, self.gap)
        self.no_quorum_flagged = False
        self.snap = self.game.copy()
        self.bet_due = None
        me = self.seat(self.me)
        if me >= 0 and self.game.active[me]:
            self.nonce = new_nonce(self.svc.node.rng)  # type: ignore[attr-defined]
            bet = self.svc.choose_bet(self)  # type: ignore[attr-defined]
            if bet is None:
                wait = self.svc.bet_ms  # type: ignore[attr-defined]
                self.bet_due = add(now, wait)
                self.svc.event("bet_wanted", self, {  # type: ignore[attr-defined]
                    "round": self.rnd, "point": self.game.point,
                    "bankroll": self.game.bank[me], "wait_ms": wait})
            else:
                self._commit(bet[0], bet[1], now)
        ahead = self.ahead
        self.ahead = []
        for m, _src in ahead:
            dispatch_move(self, m, now)  # authenticated and checked when buffered
        self._progress(now)

    def _commit(self, kind: int, amt: int, now: int) -> None:
        c = commitment(self.table, self.rnd, self.me, self.nonce)
        data = c + bytes((kind, amt >> 8, amt & 0xFF)) + self.keys[self.me]
        self._sign_send(wire.K_COMMIT, data, now)
        if self.cheat:  # honest boards never load the simulator's cheats
            from .cheater import cheat_commit
            cheat_commit(self, data, now)

    def place_bet(self, kind: int, amt: int, now: int) -> bool:
        """Commit this round with the bet a ``bet_wanted`` event asked for;
        False when no bet is awaited (too late, or not this player's turn)."""
        if not 0 <= amt <= 0xFFFF or not 0 <= kind <= 0xFF:
            return False  # not a bet: keep waiting for one
        due = self.bet_due
        self.bet_due = None
        if due is None or self.state != "commit":
            return False
        self._commit(kind, amt, now)
        self._progress(now)
        return True

    def _waiting(self, moves: "list[wire.Move | None]", act: "bytearray | None" = None) -> bool:
        act = act or self.game.active
        for i in range(len(self.roster)):
            if act[i] and not self.absent[i] and moves[i] is None:
                return True
        return False

    def _progress(self, now: int) -> None:
        if self.state == "commit" and not self._waiting(self.commits):
            self.fire("commits_in")
            self.phase_t = now
            self._reveal(now)
        elif self.state == "vote" and not self._waiting(self.commits):
            # Settled as a forfeit before the reveals: reveal all the same, so
            # a player who has not seen the cheat yet is not left waiting on us.
            self._reveal(now)
        if self.state == "reveal" and not self._waiting(self.reveals):
            self.fire("reveals_in")
            self._settle(now)
        if self.state == "vote" and self.my_state:
            if self.alt is None and self.cheats and not self._forfeit_due() \
                    and not self._waiting(self.reveals, self.snap.active):
                # We saw the cheat before voting; players the evidence missed (a
                # double commit's twin lost) vote the roll: a quorum for it
                # settles the round, and the forfeit moves to the next one.
                g, dice = self._outcome([])
                self.alt = (g, dice, g.state_hash(self.rnd, dice), list(self.cheats))
            act = self.game.active
            for s in self.votes.disagreeing(self.my_state, act):
                self.svc.event("disagreement", self, {"round": self.rnd,  # type: ignore[attr-defined]
                                                      "player": self.roster[s].hex()})
            if self.votes.final(self.my_state, act):
                self._final(now)
            elif self.alt is not None and self.votes.final(self.alt[2], self.alt[0].active):
                # The others settled the outcome we voted before we saw the
                # cheat: the round is final as they say, and the forfeit moves
                # to the next round (as it does for a cheat seen late).
                self.game, self.dice, self.my_state, late = self.alt
                for x in late:
                    if x not in self.pending:
                        self.pending.append(x)
                        self.pend_at[x] = self.rnd + 1
                self.cheats = []
                self._final(now)

    def _forfeit_due(self) -> bool:
        for x in self.pending:
            if self.pend_at.get(x, 0) <= self.rnd and self.snap.active[x]:
                return True
        return False

    def _reveal(self, now: int) -> None:
        """Sign and send our nonce, once per round (every commitment is in)."""
        me = self.seat(self.me)
        if me < 0 or not self.game.active[me] or self.commits[me] is None \
                or self.reveals[me] is not None:
            return
        nonce = self.nonce  # type: bytes | None
        if self.cheat:
            from .cheater import reveal_nonce
            nonce = reveal_nonce(self)  # None: this cheater withholds it
        if nonce is not None:
            self._sign_send(wire.K_REVEAL, nonce, now)

    def _settle(self, now: int) -> None:
        """Compute this round's outcome from the snapshot and vote on it."""
        g, dice = self._outcome(self.cheats + [x for x in self.pending if self.pend_at.get(x, 0) <= self.rnd])
        self.game = g
        self.dice = dice
        self.my_state = g.state_hash(self.rnd, dice)
        me = self.seat(self.me)
        if me >= 0 and g.active[me]:
            self.votes.add(me, self.my_state, self.mseq + 1)
            self._sign_send(wire.K_VOTE, self.my_state + bytes(dice), now)

    def _outcome(self, forfeits: "list[int]") -> "tuple[Craps, tuple[int, int]]":
        """The round's game state and dice from the snapshot: the ``forfeits``
        lose their seats and nobody rolls, or else the revealed nonces roll."""
        g = self.snap.copy()
        for i in range(len(self.roster)):
            if self.absent[i]:
                g.active[i] = 0
        if forfeits:
            for s in forfeits:
                g.forfeit(s)
            dice = (0, 0)
        else:
            field = [0] * len(self.roster)
            nonces = []
            for i in range(len(self.roster)):
                c = self.commits[i]
                r = self.reveals[i]
                if not g.active[i] or c is None or r is None:
                    continue
                field[i] = g.place(i, c.data[32], (c.data[33] << 8) | c.data[34])
                nonces.append(r.data[:16])
            d = roll(self.table, self.rnd, nonces)
            dice = (d[0], d[1])
            g.apply(d[0], d[1], field)
        return g, dice

    def _final(self, now: int) -> None:
        # Forfeits seen ahead of this round stay pending for the next one.
        self.pending = [x for x in self.pending if self.game.active[x]]
        self.history.append((self.rnd, self.dice[0], self.dice[1], self.my_state))
        if len(self.history) > 4:
            self.history.pop(0)
        self.svc.event("round_final", self, {  # type: ignore[attr-defined]
            "round": self.rnd, "dice": [self.dice[0], self.dice[1]],
            "state": self.my_state.hex(), "point": self.game.point,
            "bankrolls": list(self.game.bank)})
        if self.rnd >= self.rounds or sum(self.game.active) < 2:
            for x in self.pending:
                self.game.forfeit(x)  # a cheat seen once the last outcome was final
            self.fire("last_round")
            self.svc.event("table_done", self, {"bankrolls": list(self.game.bank)})  # type: ignore[attr-defined]
            return
        self.fire("quorum")
        self.rnd += 1
        self._enter_round(now)

    # ------------------------------------------------------------ timers
    def on_timer(self, now: int) -> None:
        on_timer(self, now)

    # ------------------------------------------------------------ cheats
    def accuse(self, player: bytes, kind: str, evidence: "list[bytes]", now: int,
               rnd: int = -1) -> None:
        """Record evidence, penalise, and forfeit the seat (anticheat.accuse)."""
        accuse(self, player, kind, evidence, now, rnd)

    # ----------------------------------------------------------- receive
    def handle(self, m: wire.Move, src: bytes, now: int) -> None:
        handle_move(self, m, src, now)

    def check_sig(self, m: wire.Move, key: "bytes | None") -> bool:
        return key is not None and verify(key, wire.sign_input(m.raw), m.sig)
