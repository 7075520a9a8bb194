"""A bot player for boards and the simulator (config ``"bot": {...}``).

Firmware wiring (main.py), after the node exists::

    from bitmesh_core.game.bot import Bot
    bot = Bot(node, cfg.get("bot"), now)      # None when the config has no bot
    ...each loop: bot.on_timer(now)           # also fold bot.next_timer() in

Config: ``{"game": "craps", "table": "name or 8 hex digits", "host": false,
"seats": 4, "rounds": 20, "bankroll": 1000}``. The host opens the table; the
others join it once its OPEN is heard (or right away with "host_id"). A host
bot plays one table; a joining bot, once its table is over, joins the next
game its host opens at that table.
"""

import hashlib

from .craps import BET_DONT, BET_FIELD, BET_NONE, BET_PASS
from .service import GameService


def table_id(name: str) -> bytes:
    """4-byte table id: 8 hex digits as given, else a hash of the name."""
    if len(name) == 8:
        try:
            return bytes.fromhex(name)
        except ValueError:
            pass
    return hashlib.sha256(b"bitmesh-table" + name.encode()).digest()[:4]


def bot_bet(s: object) -> "tuple[int, int]":
    """A simple, deterministic strategy: a line bet on each come-out (don't
    pass every third round), a small field bet otherwise, never more than a
    tenth of the bankroll."""
    g = s.game  # type: ignore[attr-defined]
    me = s.seat(s.me)  # type: ignore[attr-defined]
    if me < 0:
        return (BET_NONE, 0)
    bank = g.bank[me] if me < len(g.bank) else 0
    amt = min(10, bank // 10)
    if amt <= 0:
        return (BET_NONE, 0)
    if g.point == 0:
        return (BET_DONT if s.rnd % 3 == 0 else BET_PASS, amt)  # type: ignore[attr-defined]
    return (BET_FIELD, max(1, amt // 2))


class Bot:
    """Plays one table with :func:`bot_bet` on a node."""

    def __init__(self, node: object, cfg: "dict[str, object]", now: int) -> None:
        if cfg.get("game", "craps") != "craps":
            raise ValueError("bot.game: only craps")
        self.svc = GameService(node, now)
        self.svc.bet_fn = bot_bet
        self.table = table_id(str(cfg.get("table", "bitmesh")))
        self.host = bool(cfg.get("host", False))
        self.cfg = cfg
        self.joined = False
        self.finished = False
        if self.host:
            self.svc.open_table(self.table, int(cfg.get("seats", 4)),  # type: ignore[call-overload]
                                int(cfg.get("rounds", 20)),  # type: ignore[call-overload]
                                int(cfg.get("bankroll", 1000)), now)  # type: ignore[call-overload]
            self.joined = True

    def on_timer(self, now: int) -> None:
        if self.joined and not self.host:
            s = self.svc.tables.get(self.table)
            if s is not None and s.state in ("done", "closed"):
                if not self.finished:
                    # Forget the old announcement (the finished session keeps
                    # resending our last vote for late players meanwhile).
                    self.finished = True
                    self.svc.lobby.pop(self.table, None)
                elif self.table in self.svc.lobby:  # the host opened it again
                    del self.svc.tables[self.table]
                    self.joined = False
                    self.finished = False
        if not self.joined:
            hid = self.cfg.get("host_id")
            if self.table in self.svc.lobby or hid:
                host = bytes.fromhex(str(hid)) if hid else None
                self.svc.join(self.table, now, host=host)
                self.joined = True
        self.svc.on_timer(now)

    def next_timer(self) -> "int | None":
        return self.svc.next_timer()
