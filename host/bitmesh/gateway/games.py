"""Game tables for the laptop player: a GameService on the gateway's node.

The laptop plays as the gateway's host node: its seat is the host node's id
and its moves are signed with the key derived from the host node's secret,
exactly as a board bot's are. The board under the gateway only carries the
frames (T_GAME, T_CONSENSUS), so the laptop needs no firmware support.

    games = GameHost(host_node)
    await games.start()                         # the service's timer task
    games.open("friday", seats=3, rounds=5, bankroll=1000, bets="ask")
    games.join("friday", bets="auto")           # once its OPEN was heard
    games.bet("friday", BET_PASS, 10)           # answers a "bet_wanted" event
    games.lobby(); games.leave("friday")
    await games.stop()

``bets="ask"``: every round starts with a ``bet_wanted`` game event and the
commitment waits up to ``bet_ms`` for :meth:`GameHost.bet` (a person at the
laptop), then goes out with no bet. ``bets="auto"``: the board bots' strategy
(``bitmesh_core.game.bot.bot_bet``) plays the seat.

Table names are those of board bots (``bitmesh_core.game.bot.table_id``):
8 hex digits are a table id as given, anything else is hashed to one.
Errors are :class:`GameError` with a one-line message for the API client.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from bitmesh_core.clock import diff, wrap
from bitmesh_core.game.bot import bot_bet, table_id
from bitmesh_core.game.craps import BET_NAMES
from bitmesh_core.game.service import GameService
from bitmesh_core.game.session import Session

from .node import HostNode, cancel_tasks, clock_ms

BET_MODES = ("ask", "auto")
TICK_S = 0.5  # longest sleep of the timer task (new tables wake it sooner)


class GameError(ValueError):
    """A game request the gateway refuses; the message is for the client."""


class GameHost:
    """One :class:`GameService` on ``host.core``, driven by an asyncio task."""

    def __init__(self, host: HostNode, bet_ms: int | None = None) -> None:
        self.host = host
        self.svc = GameService(host.core, clock_ms())
        self.svc.bet_fn = self._bet_for
        if bet_ms is not None:
            self.svc.bet_ms = bet_ms
        self.modes: dict[bytes, str] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="games")

    async def stop(self) -> None:
        await cancel_tasks(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            nt = self.svc.next_timer()
            wait = TICK_S
            if nt is not None:
                wait = max(0.0, min(TICK_S, diff(nt, wrap(clock_ms())) / 1000.0))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self.svc.on_timer(clock_ms())
            self.host.pump()

    def _kick(self) -> None:
        self.host.pump()
        self._wake.set()

    # -------------------------------------------------------------- policy
    def _bet_for(self, s: Session) -> tuple[int, int] | None:
        if self.modes.get(s.table, "ask") == "auto":
            return bot_bet(s)
        return None

    # ----------------------------------------------------------------- API
    @staticmethod
    def table_of(name: object) -> bytes:
        if not isinstance(name, str) or not 0 < len(name) <= 31:
            raise GameError("table must be a name of 1..31 characters (or 8 hex digits)")
        return table_id(name)

    def _fresh(self, t: bytes, name: str) -> None:
        """Forget a finished game at ``t`` so the table can be played again."""
        s = self.svc.tables.get(t)
        if s is None:
            return
        if s.state not in ("done", "closed"):
            raise GameError(f"already at table {name} ({t.hex()}, {s.state}); leave it first")
        del self.svc.tables[t]

    def open(self, name: str, seats: int = 4, rounds: int = 5, bankroll: int = 1000,
             bets: str = "ask") -> dict[str, Any]:
        """Host table ``name``; it starts when ``seats`` players sit, or
        ``game_lobby_ms`` after opening with at least two."""
        t = self.table_of(name)
        self._check_bets(bets)
        self._fresh(t, name)
        try:
            self.svc.open_table(t, seats, rounds, bankroll, clock_ms())
        except ValueError as exc:  # too many tables
            raise GameError(str(exc)) from None
        self.modes[t] = bets
        self._kick()
        return {"table": t.hex(), "host": self.host.node_id.hex(), "seats": seats,
                "rounds": rounds, "bankroll": bankroll, "bets": bets}

    def join(self, name: str, bets: str = "ask", host: str | None = None) -> dict[str, Any]:
        """Ask for a seat at ``name``, whose OPEN must have been heard (see
        :meth:`lobby`) unless the host's node id is given."""
        t = self.table_of(name)
        self._check_bets(bets)
        hid = None
        if host is not None:
            try:
                hid = bytes.fromhex(host)
            except ValueError:
                hid = b""
            if len(hid) != 8:
                raise GameError("host must be a node id of 16 hex digits")
        elif t not in self.svc.lobby:
            raise GameError(f"table {name} ({t.hex()}) is not open on the mesh: no host "
                            "announced it (yet)")
        self._fresh(t, name)
        self.modes[t] = bets
        try:
            self.svc.join(t, clock_ms(), host=hid)
        except ValueError as exc:
            raise GameError(str(exc)) from None
        self._kick()
        info = self.svc.lobby.get(t)
        return {"table": t.hex(), "host": info[0].hex() if info else host,
                "seats": info[1] if info else None, "bets": bets}

    def bet(self, name: str, kind: int, amount: int) -> dict[str, Any]:
        t = self.table_of(name)
        s = self.svc.tables.get(t)
        if s is None:
            raise GameError(f"not at table {name}")
        rnd = s.rnd
        if not self.svc.place_bet(t, kind, amount, clock_ms()):
            raise GameError(f"no bet is awaited at table {name} (round {rnd} already "
                            "committed, or the table is not playing)")
        self._kick()
        return {"table": t.hex(), "round": rnd, "bet": BET_NAMES[kind], "amount": amount}

    def leave(self, name: str) -> dict[str, Any]:
        t = self.table_of(name)
        return {"table": t.hex(), "left": self.leave_id(t)}

    def leave_id(self, t: bytes) -> bool:
        """Leave table ``t`` (a LEAVE goes out while it plays); False if not there."""
        s = self.svc.tables.get(t)
        if s is None:
            return False
        if s.state in ("done", "closed", "idle"):
            del self.svc.tables[t]
        else:
            self.svc.leave(t, clock_ms())
        self.modes.pop(t, None)
        self._kick()
        return True

    def playing(self, t: bytes) -> bool:
        s = self.svc.tables.get(t)
        return s is not None and s.state not in ("done", "closed", "idle")

    def lobby(self) -> dict[str, Any]:
        """Tables heard on the mesh, and this node's own tables."""
        heard = [{"table": t.hex(), "host": h.hex(), "seats": n}
                 for t, (h, n) in self.svc.lobby.items()]
        mine = []
        for t, s in self.svc.tables.items():
            me = s.seat(s.me)
            mine.append({"table": t.hex(), "state": s.state, "host": s.host.hex(),
                         "round": s.rnd, "rounds": s.rounds, "seats": s.seats,
                         "players": [p.hex() for p in s.roster], "seat": me,
                         "bankrolls": list(s.game.bank) if s.roster else [],
                         "point": s.game.point, "bets": self.modes.get(t, "ask"),
                         "bet_wanted": s.bet_due is not None})
        return {"open": heard, "tables": mine}

    @staticmethod
    def _check_bets(bets: str) -> None:
        if bets not in BET_MODES:
            raise GameError(f"bets must be one of {', '.join(BET_MODES)}")
