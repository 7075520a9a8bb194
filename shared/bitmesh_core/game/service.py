"""GameService: the node-facing side of game tables (T_GAME, T_CONSENSUS).

    svc = GameService(node, now)                 # registers both frame types
    svc.open_table(table_id, seats, rounds, bankroll, now)   # host
    svc.join(table_id, now)                      # player
    svc.on_timer(now)                            # the shell calls it at next_timer()
    svc.lobby                                    # table id -> (host, seats) heard
    svc.place_bet(table_id, kind, amount, now)   # answers a "bet_wanted" event

Bets come from ``svc.bet_fn(session)`` (a bot strategy); when it returns None
the session emits ``bet_wanted`` and waits up to ``svc.bet_ms`` for
``place_bet`` (a person choosing at a laptop), then commits with no bet.

Game frames are broadcast (every player of a table hears every move, and a
flood survives lossy links); P_GAME priority. Events go to the shell as
``ServiceEvent("game", name, {...,"table": hex})``. The core-wide reputation
map is ``node.reputation`` (created here when absent); admission refuses a
joiner below ``game_rep_min`` and routers may read it too.
"""

from ..clock import diff
from ..events import ServiceEvent
from ..packet import T_CONSENSUS, T_GAME, Packet
from ..txqueue import P_GAME
from . import wire
from .anticheat import PENALTY, Reputation
from .auth import Signer, player_seed
from .craps import BET_NONE
from .session import Session


def reputation_of(node: object) -> Reputation:
    """The node's core-wide reputation map, created on first use."""
    rep = getattr(node, "reputation", None)
    if not isinstance(rep, Reputation):
        rep = Reputation(node.config.reputation_max)  # type: ignore[attr-defined]
        node.reputation = rep  # type: ignore[attr-defined]
    return rep


class GameService:
    def __init__(self, node: object, now: int, signer: "Signer | None" = None) -> None:
        self.node = node
        c = node.config  # type: ignore[attr-defined]
        self.signer = signer or Signer(player_seed(node.identity.secret))  # type: ignore[attr-defined]
        self.tables = {}  # type: dict[bytes, Session]
        self.lobby = {}  # type: dict[bytes, tuple[bytes, int]]
        self.max_tables = c.game_tables
        self.max_seats = c.game_seats
        self.lobby_max = c.game_lobby_max
        self.retry_ms = c.game_retry_ms
        self.lobby_ms = c.game_lobby_ms
        self.commit_ms = c.game_commit_ms
        self.reveal_ms = c.game_reveal_ms
        self.vote_ms = c.game_vote_ms
        self.rep_min = c.game_rep_min
        self.flood_rate = c.game_flood_per_s
        self.flood_burst = c.game_flood_burst
        self.reputation = reputation_of(node)
        self.bet_fn = None  # type: object
        self.bet_ms = c.game_commit_ms // 3  # well inside the others' commit timeout
        self.sent = 0
        node.register_service(T_GAME, self)  # type: ignore[attr-defined]
        node.register_service(T_CONSENSUS, self)  # type: ignore[attr-defined]

    # ----------------------------------------------------------------- API
    def open_table(self, table: bytes, seats: int, rounds: int, bankroll: int,
                   now: int) -> Session:
        """Host a table (4-byte id); it starts when ``seats`` players joined, or
        ``game_lobby_ms`` after opening with at least two."""
        s = self._new(table, self.node.node_id, seats, rounds, bankroll, now)  # type: ignore[attr-defined]
        s.open(now)
        return s

    def join(self, table: bytes, now: int, host: "bytes | None" = None) -> Session:
        """Ask for a seat; the host's START admits us (resent until it does)."""
        info = self.lobby.get(table)
        h = host if host is not None else (info[0] if info else b"")
        s = self._new(table, h, info[1] if info else self.max_seats, 0, 0, now)
        s.join(now)
        return s

    def place_bet(self, table: bytes, kind: int, amount: int, now: int) -> bool:
        """This player's bet for the round awaiting it at ``table``; False when
        none is awaited."""
        s = self.tables.get(table)
        return s is not None and s.place_bet(kind, amount, now)

    def leave(self, table: bytes, now: int) -> None:
        s = self.tables.pop(table, None)
        if s is not None:
            s.leave(now)

    def _new(self, table: bytes, host: bytes, seats: int, rounds: int, bankroll: int,
             now: int) -> Session:
        if len(table) != 4:
            raise ValueError("table id is 4 bytes")
        if table in self.tables:
            return self.tables[table]
        if len(self.tables) >= self.max_tables:
            self._evict()
            if len(self.tables) >= self.max_tables:
                raise ValueError("too many tables (game_tables)")
        s = Session(self, table, host, min(seats, self.max_seats), rounds, bankroll, now)
        self.tables[table] = s
        return s

    def _evict(self) -> None:
        for t in list(self.tables):
            if self.tables[t].state in ("done", "closed"):
                del self.tables[t]
                return

    # ------------------------------------------------------ session hooks
    def ptype_for(self, kind: int) -> int:
        return T_CONSENSUS if kind == wire.K_VOTE else T_GAME

    def send(self, ptype: int, body: bytes, now: int) -> None:
        self.sent += 1
        self.node.send_frame(ptype, None, body, now, prio=P_GAME)  # type: ignore[attr-defined]

    def choose_bet(self, s: Session) -> "tuple[int, int] | None":
        if self.bet_fn is not None:
            b = self.bet_fn(s)  # type: ignore[operator]
            return None if b is None else (b[0], b[1])
        return s.bet if s.bet[0] != BET_NONE else (BET_NONE, 0)

    def admit(self, s: Session, player: bytes, now: int) -> None:
        """Host: seat a joiner when there is room and its reputation allows."""
        if player in s.joined or len(s.joined) >= s.seats:
            return
        if not self.reputation.admits(player, self.rep_min):
            self.event("refused", s, {"player": player.hex(),
                                      "reputation": self.reputation.get(player)})
            return
        s.joined.append(player)
        if len(s.joined) >= s.seats:
            s.start(now)

    def penalize(self, player: bytes, kind: str) -> None:
        d = -PENALTY.get(kind, 10)
        self.reputation.adjust(player, d)
        slot = self.node.peers.slot(player)  # type: ignore[attr-defined]
        if slot >= 0:
            self.node.peers.adjust_rep(slot, d)  # type: ignore[attr-defined]

    def event(self, name: str, s: Session, data: "dict[str, object]") -> None:
        data["table"] = s.table.hex()
        self.node.push_event(ServiceEvent("game", name, data))  # type: ignore[attr-defined]

    # ------------------------------------------------------------ frames
    def on_frame(self, node: object, p: Packet, now: int) -> None:
        m = wire.parse(p.tlv(wire.TLV_MOVE), p.tlv(wire.TLV_SIG))
        if m is None:
            node.drop("game_malformed")  # type: ignore[attr-defined]
            return
        s = self.tables.get(m.table)
        if s is not None and m.kind == wire.K_OPEN and s.state in ("done", "closed"):
            s = None  # a new game at a table we finished: an announcement again
        if s is None:
            if m.kind == wire.K_OPEN and len(m.data) >= 1:
                if m.table not in self.lobby and len(self.lobby) >= self.lobby_max:
                    self.lobby.pop(next(iter(self.lobby)))
                new = m.table not in self.lobby
                self.lobby[m.table] = (m.player, m.data[0])
                if new:
                    node.push_event(ServiceEvent("game", "table_open", {  # type: ignore[attr-defined]
                        "table": m.table.hex(), "host": m.player.hex(), "seats": m.data[0]}))
            return  # a broadcast for another table: not ours, not a drop
        if m.kind == wire.K_OPEN and s.host == b"":
            s.host = m.player
        if m.kind == wire.K_OPEN and s.rounds == 0 and len(m.data) >= 7 and m.player == s.host:
            s.seats = min(m.data[0], self.max_seats)
            s.rounds = (m.data[1] << 8) | m.data[2]
            s.bankroll = int.from_bytes(m.data[3:7], "big")
        if m.kind == wire.K_START and s.host == b"":
            s.host = m.player
        s.handle(m, p.src, now)

    # ------------------------------------------------------------ timers
    def on_timer(self, now: int) -> None:
        """Resends and deadlines; never raises (counted as game_internal)."""
        try:
            for t in list(self.tables):
                self.tables[t].on_timer(now)
        except Exception:  # noqa: BLE001 - the core contract
            self.node.drop("game_internal")  # type: ignore[attr-defined]

    def next_timer(self) -> "int | None":
        best = None  # type: int | None
        for t in self.tables:
            s = self.tables[t]
            if s.state in ("idle", "closed", "done"):
                continue
            if best is None or diff(s.resend_t, best) < 0:
                best = s.resend_t
            if s.bet_due is not None and diff(s.bet_due, best) < 0:
                best = s.bet_due
        return best
